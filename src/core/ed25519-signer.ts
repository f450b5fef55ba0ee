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
import { createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';

/** The part of libsodium's binding (`sodium-native`) used here. */
export interface SodiumBinding {
  sodium_malloc(size: number): Buffer;
  crypto_sign_seed_keypair(publicKey: Buffer, secretKey: Buffer, seed: Buffer): void;
  crypto_sign_detached(signature: Buffer, message: Uint8Array, secretKey: Buffer): void;
}

/** Which library makes the signatures: libsodium, or node:crypto where it does not load. */
export type SignerBackend = 'sodium' | 'node';

/** Signs with one Ed25519 private key. */
export interface Ed25519Signer {
  readonly backend: SignerBackend;
  /** The 64-byte signature of `message`. */
  sign(message: Uint8Array): Buffer;
}

let binding: SodiumBinding | null | undefined;

/** `sodium-native`, or null where it does not load (no prebuilt addon for this platform). */
function loadSodium(): SodiumBinding | null {
  if (binding === undefined) {
    try {
      binding = createRequire(import.meta.url)('sodium-native') as SodiumBinding;
    } catch {
      binding = null;
    }
  }
  return binding;
}

/** The library keyrings sign with in this process: `sodium` when libsodium loads. */
export function signingBackend(): SignerBackend {
  return loadSodium() === null ? 'node' : 'sodium';
}

// PKCS #8 and SPKI DER of an Ed25519 key end with the raw 32-byte seed and public key (RFC 8410).
const RAW_KEY_BYTES = 32;

/** libsodium's 64-byte secret key (seed, then public key) for `privateKey`, in libsodium's guarded memory. */
function sodiumSecretKey(lib: SodiumBinding, privateKey: KeyObject): Buffer {
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  try {
    const publicKey = Buffer.alloc(RAW_KEY_BYTES);
    const secretKey = lib.sodium_malloc(2 * RAW_KEY_BYTES);
    lib.crypto_sign_seed_keypair(publicKey, secretKey, der.subarray(der.length - RAW_KEY_BYTES));
    const expected = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    // INVARIANT: libsodium signs with the very key node:crypto holds and publishes; a key
    // it derives differently (it never should) is not used.
    if (!publicKey.equals(expected.subarray(expected.length - RAW_KEY_BYTES))) throw new Error('libsodium derived another public key from this private key');
    return secretKey;
  } finally {
    der.fill(0);
  }
}

function nodeSigner(privateKey: KeyObject): Ed25519Signer {
  return { backend: 'node', sign: (message) => cryptoSign(null, message, privateKey) };
}

/**
 * A signer for `privateKey` (an Ed25519 `KeyObject`): libsodium's when it loads and takes
 * the key, node:crypto's otherwise (`signingBackend()` says which this process has), or
 * node:crypto's always with `backend: 'node'`. `sodium` replaces the binding (tests; null:
 * none loads). The seed is read from a DER export that is zeroed after use, and libsodium's
 * copy of the key lives in its guarded memory (`sodium_malloc`); the `KeyObject` keeps its
 * own.
 *
 * @example
 * const { privateKey } = generateKeyPairSync('ed25519');
 * ed25519Signer(privateKey).sign(Buffer.from('hello')).length // 64
 */
export function ed25519Signer(privateKey: KeyObject, options: { backend?: 'auto' | 'node'; sodium?: SodiumBinding | null } = {}): Ed25519Signer {
  // Keyrings hold only Ed25519 keys; anything else here is a bug in the caller.
  if (privateKey.asymmetricKeyType !== 'ed25519' || privateKey.type !== 'private') throw new TypeError('ed25519Signer needs an Ed25519 private key');
  if (options.backend === 'node') return nodeSigner(privateKey);
  const lib = options.sodium === undefined ? loadSodium() : options.sodium;
  if (lib === null) return nodeSigner(privateKey);
  let secretKey: Buffer;
  try {
    secretKey = sodiumSecretKey(lib, privateKey);
  } catch {
    // Signing with node:crypto beats not signing (libsodium out of guarded memory, say).
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
