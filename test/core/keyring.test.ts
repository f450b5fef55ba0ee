// Ed25519 keyring: generation on first use, file modes, sign/verify, rotation, JWKS.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isWritError, KeyringErrors, kidOf, loadPublicKeys, openKeyring, verifyWithJwks } from '../../src/core/index.js';

const root = mkdtempSync(join(tmpdir(), 'writ-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => join(root, `keys-${n++}`, 'warrant');

describe('keyring', () => {
  test('creates one key on first use with a 0600 private key file in a 0700 folder', () => {
    const dir = freshDir();
    const keys = openKeyring({ dir, purpose: 'warrant' });
    assert.match(keys.activeKid, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const pem = join(dir, `${keys.activeKid}.pem`);
    assert.equal(statSync(pem).mode & 0o777, 0o600);
    assert.match(readFileSync(pem, 'utf8'), /BEGIN PRIVATE KEY/);
    assert.deepEqual(readdirSync(dir).sort(), [`${keys.activeKid}.pem`, 'keyring.json'].sort());
  });

  test('derives the kid from the SHA-256 of the raw public key', () => {
    const keys = openKeyring({ dir: freshDir(), purpose: 'ledger' });
    const [jwk] = keys.publicJwks().keys;
    assert.ok(jwk);
    assert.equal(jwk.kid, kidOf(Buffer.from(jwk.x, 'base64url')));
    assert.equal(jwk.kid, keys.activeKid);
  });

  test('verifies its own signature and rejects tampered bytes, signature or kid', () => {
    const keys = openKeyring({ dir: freshDir(), purpose: 'warrant' });
    const { kid, signature } = keys.sign('transfer 10 to acct 1');
    assert.equal(kid, keys.activeKid);
    assert.equal(keys.verify(kid, 'transfer 10 to acct 1', signature), true);
    assert.equal(keys.verify(kid, Buffer.from('transfer 10 to acct 1'), signature), true);
    assert.equal(keys.verify(kid, 'transfer 99 to acct 1', signature), false);
    const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1);
    assert.equal(keys.verify(kid, 'transfer 10 to acct 1', flipped), false);
    assert.equal(keys.verify('AAAAAAAAAAAAAAAAAAAAAA', 'transfer 10 to acct 1', signature), false);
  });

  test('never throws on malformed verify input', () => {
    const keys = openKeyring({ dir: freshDir(), purpose: 'warrant' });
    const { kid } = keys.sign('x');
    for (const sig of ['', 'not base64!', 'A'.repeat(86), 'A'.repeat(200)]) assert.equal(keys.verify(kid, 'x', sig), false);
    assert.equal(keys.verify(kid, 42 as unknown as string, keys.sign('x').signature), false);
    assert.equal(keys.verify(undefined as unknown as string, 'x', keys.sign('x').signature), false);
    assert.equal(keys.verify(kid, 'x', null as unknown as string), false);
  });

  test('rotation makes a new active key and keeps the old kid verifiable as retired', () => {
    const dir = freshDir();
    const keys = openKeyring({ dir, purpose: 'warrant' });
    const old = keys.sign('old payload');
    const newKid = keys.rotate();
    assert.notEqual(newKid, old.kid);
    assert.equal(keys.activeKid, newKid);
    assert.equal(keys.sign('new').kid, newKid);
    assert.equal(keys.verify(old.kid, 'old payload', old.signature), true);
    const statuses = Object.fromEntries(keys.publicJwks().keys.map((k) => [k.kid, k.status]));
    assert.deepEqual(statuses, { [old.kid]: 'retired', [newKid]: 'active' });
    const retired = keys.list().find((k) => k.kid === old.kid);
    assert.ok(retired?.retiredAt);
    assert.equal(statSync(join(dir, `${newKid}.pem`)).mode & 0o777, 0o600);
  });

  test('a rotation taken back: the old key is active again, the undone one retired but still verifying', () => {
    const dir = freshDir();
    const keys = openKeyring({ dir, purpose: 'warrant' });
    const oldKid = keys.activeKid;
    const rotation = keys.rotateKey();
    assert.deepEqual([rotation.previousKid, rotation.retiredKids], [oldKid, [oldKid]]);
    const signedAt = new Date().toISOString();
    const signedMeanwhile = keys.sign('in the window');
    assert.equal(signedMeanwhile.kid, rotation.kid);
    assert.equal(keys.undoRotation(rotation), true);
    assert.equal(keys.activeKid, oldKid);
    assert.equal(keys.sign('after').kid, oldKid);
    const byKid = Object.fromEntries(keys.list().map((k) => [k.kid, k]));
    assert.equal(byKid[oldKid]?.retiredAt, null);
    assert.ok(byKid[rotation.kid]?.retiredAt, 'the undone key is retired');
    // What the undone key signed in its window still counts; the old key counts from now on.
    assert.equal(keys.verify(rotation.kid, 'in the window', signedMeanwhile.signature), true);
    assert.equal(keys.wasActiveAt(rotation.kid, signedAt), true);
    assert.equal(keys.wasActiveAt(rotation.kid, new Date(Date.now() + 60_000).toISOString()), false);
    assert.equal(keys.wasActiveAt(oldKid, new Date(Date.now() + 60_000).toISOString()), true);
    // Another process sees the same keyring; a second undo changes nothing.
    const other = openKeyring({ dir, purpose: 'warrant' });
    assert.equal(other.activeKid, oldKid);
    assert.equal(other.verify(rotation.kid, 'in the window', signedMeanwhile.signature), true);
    assert.equal(keys.undoRotation(rotation), false);
  });

  test('a rotation is not taken back once a later one made another key active', () => {
    const dir = freshDir();
    const keys = openKeyring({ dir, purpose: 'ledger' });
    const first = keys.rotateKey();
    const second = keys.rotateKey();
    const before = readFileSync(join(dir, 'keyring.json'), 'utf8');
    assert.equal(keys.undoRotation(first), false);
    assert.equal(keys.activeKid, second.kid);
    assert.equal(readFileSync(join(dir, 'keyring.json'), 'utf8'), before, 'nothing changed');
  });

  test('an undo restores exactly the keys its rotation retired, even with every date the same', () => {
    // A stopped clock: every rotation and undo happens "at once", so dates cannot tell them apart.
    const clock = { now: () => new Date('2026-11-27T12:00:00.000Z') };
    const dir = freshDir();
    const keys = openKeyring({ dir, purpose: 'warrant', clock });
    const a = keys.activeKid;
    const ab = keys.rotateKey();
    const bc = keys.rotateKey();
    assert.equal(keys.undoRotation(bc), true);
    assert.equal(keys.activeKid, ab.kid);
    const retired = Object.fromEntries(keys.list().map((k) => [k.kid, k.retiredAt]));
    assert.equal(retired[a], '2026-11-27T12:00:00.000Z', 'the key retired by the earlier rotation stays retired');
    assert.equal(retired[ab.kid], null);
    assert.equal(retired[bc.kid], '2026-11-27T12:00:00.000Z');
  });

  test('two failed rotations: taken back newest first they end on the key active before both; oldest first, the old undo refuses', () => {
    const dir = freshDir();
    const p1 = openKeyring({ dir, purpose: 'warrant' });
    const p2 = openKeyring({ dir, purpose: 'warrant' });
    const a = p1.activeKid;
    const ab = p1.rotateKey(); // first process: A → B, its record fails
    const bc = p2.rotateKey(); // second process: B → C, its record fails too
    assert.equal(p2.undoRotation(bc), true); // back to B
    assert.equal(p1.undoRotation(ab), true); // back to A, not to C
    assert.equal(p1.activeKid, a);
    assert.equal(openKeyring({ dir, purpose: 'warrant' }).activeKid, a);
    const unretired = p1.list().filter((k) => k.retiredAt === null).map((k) => k.kid);
    assert.deepEqual(unretired, [a]);

    // The other order: the older undo finds another key active and changes nothing (its
    // caller reports KEYS_ROTATION_UNRECORDED); the newer one still takes its own back.
    const ad = p1.rotateKey();
    const de = p2.rotateKey();
    assert.equal(p1.undoRotation(ad), false);
    assert.equal(p2.activeKid, de.kid);
    assert.equal(p2.undoRotation(de), true);
    assert.equal(p2.activeKid, ad.kid);
  });

  test('reopening the folder loads the same keys', () => {
    const dir = freshDir();
    const first = openKeyring({ dir, purpose: 'ledger' });
    const sig = first.sign('payload');
    first.rotate();
    const again = openKeyring({ dir, purpose: 'ledger' });
    assert.equal(again.activeKid, first.activeKid);
    assert.deepEqual(again.publicJwks(), first.publicJwks());
    assert.equal(again.verify(sig.kid, 'payload', sig.signature), true);
  });

  test('a second open of the same folder sees a rotation made by the first', () => {
    const dir = freshDir();
    const a = openKeyring({ dir, purpose: 'warrant' });
    const b = openKeyring({ dir, purpose: 'warrant' });
    const kid = a.rotate();
    const sig = a.sign('from a');
    assert.equal(b.verify(kid, 'from a', sig.signature), true);
    assert.equal(b.activeKid, kid);
    assert.equal(b.sign('from b').kid, kid);
  });

  test('an external verifier checks signatures offline from the published JWKS alone', () => {
    const keys = openKeyring({ dir: freshDir(), purpose: 'warrant' });
    const old = keys.sign('old');
    keys.rotate();
    const now = keys.sign('now');
    const jwks = JSON.parse(JSON.stringify(keys.publicJwks())) as unknown;
    assert.equal(verifyWithJwks(jwks, now.kid, 'now', now.signature), true);
    assert.equal(verifyWithJwks(jwks, old.kid, 'old', old.signature), true);
    assert.equal(verifyWithJwks(jwks, now.kid, 'n0w', now.signature), false);
    assert.equal(verifyWithJwks(jwks, old.kid, 'now', now.signature), false);
    assert.equal(verifyWithJwks({ keys: [] }, now.kid, 'now', now.signature), false);
    assert.equal(verifyWithJwks('garbage', now.kid, 'now', now.signature), false);
    assert.deepEqual([...loadPublicKeys(jwks).kids].sort(), keys.publicJwks().keys.map((k) => k.kid).sort());
  });

  test('ignores a JWKS entry whose kid does not match its public key', () => {
    const a = openKeyring({ dir: freshDir(), purpose: 'warrant' });
    const b = openKeyring({ dir: freshDir(), purpose: 'warrant' });
    const sig = b.sign('payload');
    const [bJwk] = b.publicJwks().keys;
    assert.ok(bJwk);
    // An attacker publishes its own key under the victim's kid.
    const forged = { keys: [{ ...bJwk, kid: a.activeKid }] };
    assert.equal(verifyWithJwks(forged, a.activeKid, 'payload', sig.signature), false);
  });

  test('refuses a private key file that group or others can read', () => {
    const dir = freshDir();
    const keys = openKeyring({ dir, purpose: 'warrant' });
    chmodSync(join(dir, `${keys.activeKid}.pem`), 0o644);
    assert.throws(
      () => openKeyring({ dir, purpose: 'warrant' }),
      (err) => isWritError(err, KeyringErrors.KEYS_FILE_PERMISSIONS) && err.message.includes('644'),
    );
  });

  test('refuses a keyring folder that group or others can write', () => {
    const dir = freshDir();
    openKeyring({ dir, purpose: 'warrant' });
    chmodSync(dir, 0o777);
    assert.throws(() => openKeyring({ dir, purpose: 'warrant' }), (err) => isWritError(err, KeyringErrors.KEYS_FILE_PERMISSIONS));
    chmodSync(dir, 0o755);
    assert.doesNotThrow(() => openKeyring({ dir, purpose: 'warrant' }));
  });

  test('refuses a private key file that does not hold the key its manifest names', () => {
    const dir = freshDir();
    const keys = openKeyring({ dir, purpose: 'warrant' });
    const other = openKeyring({ dir: freshDir(), purpose: 'warrant' });
    writeFileSync(join(dir, `${keys.activeKid}.pem`), readFileSync(join(other.dir, `${other.activeKid}.pem`)), { mode: 0o600 });
    assert.throws(() => openKeyring({ dir, purpose: 'warrant' }), (err) => isWritError(err, KeyringErrors.KEYS_FILE_INVALID));
  });

  test('refuses a malformed manifest and a keyring of another purpose', () => {
    const dir = freshDir();
    openKeyring({ dir, purpose: 'warrant' });
    assert.throws(() => openKeyring({ dir, purpose: 'ledger' }), (err) => isWritError(err, KeyringErrors.KEYS_FILE_INVALID));
    writeFileSync(join(dir, 'keyring.json'), '{"format":"nope"}');
    assert.throws(() => openKeyring({ dir, purpose: 'warrant' }), (err) => isWritError(err, KeyringErrors.KEYS_FILE_INVALID));
  });

  test('refuses a manifest that group or others can write, in a new open and an open keyring alike', async () => {
    const dir = freshDir();
    const open = openKeyring({ dir, purpose: 'warrant' });
    const manifest = join(dir, 'keyring.json');
    chmodSync(manifest, 0o644); // readable is fine: it holds public keys only
    assert.doesNotThrow(() => openKeyring({ dir, purpose: 'warrant' }));
    for (const mode of [0o666, 0o620, 0o602]) {
      chmodSync(manifest, mode);
      assert.throws(
        () => openKeyring({ dir, purpose: 'warrant' }),
        (err) => isWritError(err, KeyringErrors.KEYS_FILE_PERMISSIONS) && err.message.includes(mode.toString(8)) && err.details.path === manifest,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.throws(() => open.sign('x'), (err) => isWritError(err, KeyringErrors.KEYS_FILE_PERMISSIONS));
  });

  test('a key removed from the manifest stops verifying in a keyring already open', async () => {
    const dir = freshDir();
    const server = openKeyring({ dir, purpose: 'warrant' });
    const removed = server.activeKid;
    const sig = server.sign('payload');
    const operator = openKeyring({ dir, purpose: 'warrant' });
    operator.rotate();
    assert.equal(server.verify(removed, 'payload', sig.signature), true);
    const manifest = join(dir, 'keyring.json');
    const m = JSON.parse(readFileSync(manifest, 'utf8')) as { keys: Array<{ kid: string }> };
    m.keys = m.keys.filter((k) => k.kid !== removed);
    writeFileSync(`${manifest}.new`, JSON.stringify(m), { mode: 0o600 });
    renameSync(`${manifest}.new`, manifest);
    rmSync(join(dir, `${removed}.pem`));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(server.kids.includes(removed), false);
    assert.equal(server.verify(removed, 'payload', sig.signature), false);
    assert.equal(server.wasActiveAt(removed, new Date(0).toISOString()), false);
  });

  test('accepts only the canonical spelling of a signature', () => {
    const keys = openKeyring({ dir: freshDir(), purpose: 'warrant' });
    const jwks = keys.publicJwks();
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sig = keys.sign('payload');
    // 64 bytes take 86 characters; the last one's low 4 bits are unused, so 16 spellings decode alike.
    const base = alphabet.indexOf(sig.signature.at(-1) ?? '') & ~0b1111;
    const variants = Array.from({ length: 16 }, (_, i) => sig.signature.slice(0, -1) + alphabet[base + i]);
    assert.deepEqual(variants.filter((v) => keys.verify(sig.kid, 'payload', v)), [sig.signature]);
    assert.deepEqual(variants.filter((v) => verifyWithJwks(jwks, sig.kid, 'payload', v)), [sig.signature]);
  });

  test('tells whether a key could have signed at a date: a retired key only up to a second past its retirement', () => {
    const keys = openKeyring({ dir: freshDir(), purpose: 'ledger' });
    const old = keys.activeKid;
    keys.rotate();
    const retiredAt = Date.parse(keys.list().find((k) => k.kid === old)?.retiredAt ?? '');
    const at = (ms: number) => new Date(ms).toISOString();
    const offline = loadPublicKeys(JSON.parse(JSON.stringify(keys.publicJwks())));
    for (const verifier of [keys, offline]) {
      assert.equal(verifier.wasActiveAt(old, at(retiredAt - 60_000)), true);
      assert.equal(verifier.wasActiveAt(old, at(retiredAt + 1_000)), true);
      assert.equal(verifier.wasActiveAt(old, at(retiredAt + 1_001)), false);
      assert.equal(verifier.wasActiveAt(old, 'not a date'), false);
      assert.equal(verifier.wasActiveAt(keys.activeKid, at(retiredAt + 3600_000)), true);
      assert.equal(verifier.wasActiveAt('AAAAAAAAAAAAAAAAAAAAAA', at(retiredAt)), false);
    }
  });

  test('checks its options when opened', () => {
    assert.throws(
      () => openKeyring({ dir: freshDir(), purpose: 'root' as 'warrant' }),
      (err) => isWritError(err, KeyringErrors.KEYS_OPTIONS_INVALID),
    );
  });
});
