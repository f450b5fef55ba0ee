// Offline warrant verification and the warrant keys: a warrant dated after its key's
// retirement is refused, and a token has exactly one accepted spelling.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isWritError, openKeyring, type Clock, type Keyring } from '../../src/core/index.js';
import { BrokerErrors, verifyWarrantOffline, type WarrantPayload } from '../../src/broker/index.js';
import { signWarrant } from '../../src/broker/warrant.js';

const root = mkdtempSync(join(tmpdir(), 'writ-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshKeyring = (): Keyring => openKeyring({ dir: join(root, `w-${n++}`), purpose: 'warrant' });

function payloadAt(iatMs: number): WarrantPayload {
  return {
    v: 1,
    wid: `wrt_${n}`,
    proposalId: 'prp_x',
    proposalHash: `sha256:${'a'.repeat(64)}`,
    decisionId: 'dec_x',
    action: 'refund.request',
    targetType: 'Refund',
    targetId: 'rf-1',
    expectedState: null,
    expectedVersion: 0,
    effect: 'internal',
    tenant: 'acme',
    iat: new Date(iatMs).toISOString(),
    exp: new Date(iatMs + 300_000).toISOString(),
    nonce: 'AAAAAAAAAAAAAAAAAAAAAA',
  };
}

const clockAt = (ms: number): Clock => ({ now: () => new Date(ms) });

describe('warrant keys and token spelling', () => {
  test('a warrant dated after its key was retired fails offline; one issued before still verifies', () => {
    const keys = freshKeyring();
    const oldKid = keys.activeKid;
    const stolen = createPrivateKey(readFileSync(join(keys.dir, `${oldKid}.pem`), 'utf8'));
    const signWithOld = (p: WarrantPayload) => signWarrant(p, (bytes) => ({ kid: oldKid, signature: sign(null, Buffer.from(bytes), stolen).toString('base64url') }), oldKid);
    const before = keys.list()[0]?.createdAt ?? '';
    const early = signWithOld(payloadAt(Date.parse(before)));
    keys.rotate();
    const retiredAt = Date.parse(keys.list().find((k) => k.kid === oldKid)?.retiredAt ?? '');
    const jwks = keys.publicJwks();

    assert.equal(verifyWarrantOffline(early, jwks, { clock: clockAt(retiredAt) }).iat, before);
    // Another process may issue with the old key for a moment after the rotation.
    assert.doesNotThrow(() => verifyWarrantOffline(signWithOld(payloadAt(retiredAt + 500)), jwks, { clock: clockAt(retiredAt + 600) }));
    const late = signWithOld(payloadAt(retiredAt + 5_000));
    assert.throws(
      () => verifyWarrantOffline(late, jwks, { clock: clockAt(retiredAt + 6_000) }),
      (err) => isWritError(err, BrokerErrors.BROKER_WARRANT_SIGNATURE_INVALID) && /after its key .* was retired/.test(err.message),
    );
  });

  test('only the canonical spelling of a warrant signature verifies offline', () => {
    const keys = freshKeyring();
    const now = Date.now();
    const token = signWarrant(payloadAt(now), (bytes) => keys.sign(bytes), keys.activeKid);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const base = alphabet.indexOf(token.at(-1) ?? '') & ~0b1111;
    const accepted = Array.from({ length: 16 }, (_, i) => token.slice(0, -1) + alphabet[base + i]).filter((variant) => {
      try {
        verifyWarrantOffline(variant, keys.publicJwks(), { clock: clockAt(now) });
        return true;
      } catch (err) {
        assert.ok(isWritError(err, BrokerErrors.BROKER_WARRANT_SIGNATURE_INVALID), String(err));
        return false;
      }
    });
    assert.deepEqual(accepted, [token]);
  });
});
