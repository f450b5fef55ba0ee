// Ed25519 signing backends: libsodium (sodium-native) and node:crypto make the same bytes,
// and the keyring signs with libsodium where it loads.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { createRequire } from 'node:module';
import { ed25519Signer, signingBackend, type SodiumBinding } from '../../src/core/ed25519-signer.js';
import { openKeyring } from '../../src/core/index.js';

describe('ed25519Signer', () => {
  // CI runs on Linux x64, which sodium-native ships a prebuilt addon for: there the fast path
  // must be the one in use. Elsewhere the product signs with node:crypto (the next tests).
  test('on Linux x64 libsodium loads, so keyrings sign with it', { skip: process.platform !== 'linux' || process.arch !== 'x64' }, () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    assert.equal(signingBackend(), 'sodium');
    assert.equal(ed25519Signer(privateKey).backend, 'sodium');
    assert.equal(ed25519Signer(privateKey, { backend: 'node' }).backend, 'node');
  });

  test('falls back to node:crypto, with the same signatures, when libsodium does not load or cannot take the key', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const real = createRequire(import.meta.url)('sodium-native') as SodiumBinding;
    const broken: Record<string, SodiumBinding | null> = {
      'no addon': null,
      'out of guarded memory': { ...real, sodium_malloc: () => { throw new Error('ENOMEM'); } },
      'another public key': {
        ...real,
        crypto_sign_seed_keypair: (pk, sk, seed) => {
          real.crypto_sign_seed_keypair(pk, sk, seed);
          pk[0] = (pk[0] as number) ^ 1;
        },
      },
    };
    const message = Buffer.from('payload.kid');
    for (const [why, sodium] of Object.entries(broken)) {
      const signer = ed25519Signer(privateKey, { sodium });
      assert.equal(signer.backend, 'node', why);
      assert.deepEqual(signer.sign(message), sign(null, message, privateKey), why);
      assert.ok(verify(null, message, publicKey, signer.sign(message)), why);
    }
  });

  test('both backends sign any message with the same 64 bytes, and node:crypto verifies them', () => {
    const keys = Array.from({ length: 4 }, () => generateKeyPairSync('ed25519'));
    const real = createRequire(import.meta.url)('sodium-native') as SodiumBinding;
    const signers = keys.map(({ privateKey }) => ({ sodium: ed25519Signer(privateKey, { sodium: real }), node: ed25519Signer(privateKey, { backend: 'node' }) }));
    for (const s of signers) assert.equal(s.sodium.backend, 'sodium');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: keys.length - 1 }), fc.uint8Array({ maxLength: 2048 }), (k, message) => {
        const { sodium, node } = signers[k] as (typeof signers)[number];
        const a = sodium.sign(message);
        const b = node.sign(message);
        assert.equal(a.length, 64);
        assert.deepEqual(a, b);
        assert.deepEqual(a, sign(null, message, (keys[k] as (typeof keys)[number]).privateKey));
        assert.ok(verify(null, message, (keys[k] as (typeof keys)[number]).publicKey, a));
      }),
      { numRuns: 300 },
    );
  });

  test('a signature is a buffer of its own: the next one does not overwrite it', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const signer = ed25519Signer(privateKey);
    const first = signer.sign(Buffer.from('first'));
    const copy = Buffer.from(first);
    signer.sign(Buffer.from('second'));
    assert.deepEqual(first, copy);
    assert.ok(verify(null, Buffer.from('first'), publicKey, first));
  });

  test('refuses a key that is not an Ed25519 private key', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    assert.throws(() => ed25519Signer(publicKey), /Ed25519 private key/);
    const { privateKey: x25519 } = generateKeyPairSync('x25519');
    assert.throws(() => ed25519Signer(x25519), /Ed25519 private key/);
  });

  test('a keyring signature verifies against its published key, before and after rotation', () => {
    const dir = mkdtempSync(join(tmpdir(), 'writ-signer-'));
    try {
      const keyring = openKeyring({ dir: join(dir, 'warrant'), purpose: 'warrant' });
      const before = keyring.sign('payload.kid');
      assert.ok(keyring.verify(before.kid, 'payload.kid', before.signature));
      keyring.rotate();
      const after = keyring.sign('payload.kid');
      assert.notEqual(after.kid, before.kid);
      assert.notEqual(after.signature, before.signature);
      assert.ok(keyring.verify(after.kid, 'payload.kid', after.signature));
      assert.ok(!keyring.verify(after.kid, 'payload.kid', before.signature));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
