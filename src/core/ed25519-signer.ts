// Ed25519 signing for the keyrings. Ed25519 signatures are deterministic (RFC 8032), so
// libsodium's and node:crypto's are the same bytes for the same key and message; libsodium
// (through `sodium-native`) signs when it loads, node:crypto otherwise.
//
// Why not node:crypto alone: its one-shot `sign` makes a native job object per call, and
// what those leave behind is cleaned up inside V8's young-generation pause — 0.25–0.45 ms
// added to every scavenge on the broker's hot path, where each warrant is one signature
// (BENCHMARKS.md, "Broker round trip: where the tail comes from"). libsodium signs into a
// buffer it is given and leaves nothing for the collector, in half the time. Key
// generation, storage, publication and verification stay with node:crypto.
import { createRequire } from 'node:module';
import { sign as cryptoSign, type KeyObject } from 'node:crypto';

/** The part of `sodium-native` used here. */
interface Sodium {
  sodium_malloc(size: number): Buffer;
  crypto_sign_seed_keypair(publicKey: Buffer, secretKey: Buffer, seed: Buffer): void;
  crypto_sign_detached(signature: Buffer, message: Uint8Array, secretKey: Buffer): void;
}

export type SignerBackend = 'sodium' | 'node';

/** Signs with one Ed25519 private key. */
export interface Ed25519Signer {
  readonly backend: SignerBackend;
  /** The 64-byte signature of `message`. */
  sign(message: Uint8Array): Buffer;
}

let sodium: Sodium | null | undefined;

/** `sodium-native`, or null where it does not load (no prebuilt addon for this platform). */
function loadSodium(): Sodium | null {
  if (sodium === undefined) {
    try {
      sodium = createRequire(import.meta.url)('sodium-native') as Sodium;
    } catch {
      sodium = null;
    }
  }
  return sodium;
}

/** libsodium's 64-byte secret key (seed and public key) for `privateKey`, in guarded memory. */
function sodiumSecretKey(lib: Sodium, privateKey: KeyObject): Buffer {
  const jwk = privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d as string, 'base64url');
  const publicKey = Buffer.alloc(32);
  const secretKey = lib.sodium_malloc(64);
  lib.crypto_sign_seed_keypair(publicKey, secretKey, seed);
  seed.fill(0);
  // INVARIANT: libsodium signs with the very key node:crypto holds; a key it derives
  // differently (it never should) is not used.
  if (!publicKey.equals(Buffer.from(jwk.x as string, 'base64url'))) throw new Error('libsodium derived another public key from this private key');
  return secretKey;
}

function nodeSigner(privateKey: KeyObject): Ed25519Signer {
  return { backend: 'node', sign: (message) => cryptoSign(null, message, privateKey) };
}

/**
 * A signer for `privateKey` (an Ed25519 `KeyObject`). `backend` `'auto'` (the default)
 * takes libsodium when it loads and node:crypto otherwise; `'node'` always node:crypto;
 * `'sodium'` fails when libsodium does not load. The libsodium secret key lives in
 * libsodium's guarded memory (`sodium_malloc`), not in a pooled buffer.
 *
 * @example
 * const { privateKey } = generateKeyPairSync('ed25519');
 * ed25519Signer(privateKey).sign(Buffer.from('hello')).length // 64
 */
export function ed25519Signer(privateKey: KeyObject, options: { backend?: SignerBackend | 'auto' } = {}): Ed25519Signer {
  const backend = options.backend ?? 'auto';
  if (privateKey.asymmetricKeyType !== 'ed25519' || privateKey.type !== 'private') throw new TypeError('ed25519Signer needs an Ed25519 private key');
  if (backend === 'node') return nodeSigner(privateKey);
  const lib = loadSodium();
  if (lib === null) {
    if (backend === 'sodium') throw new Error('sodium-native does not load on this platform');
    return nodeSigner(privateKey);
  }
  let secretKey: Buffer;
  try {
    secretKey = sodiumSecretKey(lib, privateKey);
  } catch (err) {
    // 'auto' signs with node:crypto rather than not at all (libsodium out of guarded memory, say).
    if (backend === 'sodium') throw err;
    return nodeSigner(privateKey);
  }
  return {
    backend: 'sodium',
    sign(message) {
      const signature = Buffer.allocUnsafe(64);
      lib.crypto_sign_detached(signature, message, secretKey);
      return signature;
    },
  };
}
