// Ed25519 signing keys on disk, one keyring per purpose (`warrant`, `ledger`): the active
// key signs, retired keys stay for verification, and the public half is published as a
// JWKS so external executors and auditors can verify offline.
//
// Layout of `dir`:
//   keyring.json   manifest: { format, purpose, active, keys: [{ kid, x, createdAt, retiredAt, file }] }
//   <kid>.pem      PKCS#8 PEM private key, mode 0600 (the folder is 0700)
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { ed25519Signer, type Ed25519Signer } from './ed25519-signer.js';
import { chmodSync, closeSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { defineErrors, WritError } from './errors.js';
import { type Clock, nowIso, systemClock } from './time.js';

export const KeyringErrors = defineErrors('keys', {
  KEYS_FILE_INVALID: {
    status: 500,
    meaning: 'a keyring file (manifest or private key) is unreadable, malformed, or does not match its key id',
    fix: 'restore the keyring folder from a backup, or move it aside to start a new keyring (signatures by the old keys then no longer verify)',
  },
  KEYS_FILE_PERMISSIONS: {
    status: 500,
    meaning: 'a private key file can be read or written by group or others, or its folder or its manifest (`keyring.json`) can be written by them; Writ refuses to use it',
    fix: 'run `chmod 600` on the named key file or manifest, or `chmod 700` on the named folder, and check nobody else copied or replaced the keys',
  },
  KEYS_DIR_UNUSABLE: {
    status: 500,
    meaning: 'the keyring folder cannot be created, written or locked',
    fix: 'check that the Writ home folder is writable by the user running Writ',
  },
  KEYS_OPTIONS_INVALID: {
    status: 500,
    meaning: 'openKeyring was called with an invalid `dir` or `purpose`',
    fix: 'pass a folder path and a purpose of `warrant` or `ledger`',
  },
  KEYS_ROTATION_UNRECORDED: {
    status: 500,
    meaning: 'a signing key was rotated, its ledger record could not be written, and the rotation could not be taken back: the keyring now has an active key the ledger does not name',
    fix: 'fix what the cause says (often a full disk or a locked database), then run `writ keys rotate` again so that the key in force is on the ledger',
  },
});

/** What a keyring's keys sign; each purpose has its own keys. */
export type KeyPurpose = 'warrant' | 'ledger';
export const KEY_PURPOSES: readonly KeyPurpose[] = ['warrant', 'ledger'];

/** One public key as published in a JWKS (RFC 7517 / RFC 8037). */
export interface PublicJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  /** base64url of the 32-byte raw public key. */
  readonly x: string;
  readonly kid: string;
  readonly use: 'sig';
  readonly alg: 'EdDSA';
  readonly status: 'active' | 'retired';
  readonly createdAt?: string;
  readonly retiredAt?: string | null;
}

/** A JSON Web Key Set of Ed25519 public keys. */
export interface PublicJwks {
  readonly keys: readonly PublicJwk[];
}

/** A detached signature and the key that made it. */
export interface Signature {
  readonly kid: string;
  /** base64url of the 64-byte Ed25519 signature. */
  readonly signature: string;
}

/** Metadata of one key; never holds private material. */
export interface KeyInfo {
  readonly kid: string;
  readonly x: string;
  readonly createdAt: string;
  readonly retiredAt: string | null;
}

/** What one rotation changed: recorded by the rotation itself, not guessed from dates. */
export interface KeyRotation {
  /** The key it made active. */
  readonly kid: string;
  /** The key that was active before it (null if the manifest named none active). */
  readonly previousKid: string | null;
  /** Every key it retired (the previous active key, and any other left unretired). */
  readonly retiredKids: readonly string[];
  /** The retirement time it gave them. */
  readonly retiredAt: string;
}

/** Something that verifies signatures by key id; never throws on bad input. */
export interface SignatureVerifier {
  /** Key ids this verifier knows. */
  readonly kids: readonly string[];
  verify(kid: string, bytes: Uint8Array | string, signature: string): boolean;
  /**
   * True when key `kid` could have made a signature dated `at` (UTC ISO): it is known and
   * either not retired or retired no earlier than `at` minus `RETIREMENT_SKEW_MS`. A
   * signature verifies whenever it was made, so whoever checks one that carries its own
   * date asks this too: a copy of a retired key signs nothing new.
   */
  wasActiveAt(kid: string, at: string): boolean;
}

/** An open keyring. */
export interface Keyring extends SignatureVerifier {
  readonly purpose: KeyPurpose;
  readonly dir: string;
  /** The key id that `sign` uses now. */
  readonly activeKid: string;
  /** Signs `bytes` (a string is signed as UTF-8) with the active key. */
  sign(bytes: Uint8Array | string): Signature;
  /** Makes a new active key; the old one is marked retired and stays verifiable. Returns the new kid. */
  rotate(): string;
  /** `rotate`, telling exactly what the rotation changed (for `undoRotation`). */
  rotateKey(): KeyRotation;
  /**
   * Takes back `rotation`, when what had to go with it failed (its ledger record): the keys
   * it retired are active again, and the key it made is retired now — kept, so whatever
   * another process signed with it meanwhile still verifies. Returns false, changing nothing,
   * when the keyring moved on since (another key active, or those keys changed).
   */
  undoRotation(rotation: KeyRotation): boolean;
  /** Every key, oldest first. */
  list(): readonly KeyInfo[];
  /** The public keys as a JWKS, for external verifiers. */
  publicJwks(): PublicJwks;
}

export interface KeyringOptions {
  /** Folder of this keyring, e.g. `<home>/keys/warrant`. Created 0700 if missing. */
  readonly dir: string;
  readonly purpose: KeyPurpose;
  readonly clock?: Clock;
}

const MANIFEST = 'keyring.json';
const LOCK = 'keyring.lock';
const FORMAT = 'writ-keyring/1';
const SIGNATURE_B64URL = /^[A-Za-z0-9_-]{86}$/;
const X_B64URL = /^[A-Za-z0-9_-]{43}$/;

/**
 * How long after its retirement a key's signatures still count. Another process picks up a
 * rotation within a quarter of a second (`REFRESH_MS`) and may sign with the old key until
 * then; the rest covers clocks of processes on one host that disagree a little.
 */
const RETIREMENT_SKEW_MS = 1000;

/**
 * True when `text` is the one base64url spelling (no padding) of the bytes it decodes to.
 * The last character of an encoding whose bit count is not a multiple of 6 carries unused
 * bits, so without this check one signature would have several accepted spellings.
 */
function isCanonicalBase64url(text: string): boolean {
  return Buffer.from(text, 'base64url').toString('base64url') === text;
}

/** True when a signature dated `at` falls before `retiredAt` (null: not retired) plus the skew. */
function isBeforeRetirement(retiredAt: string | null | undefined, at: string): boolean {
  if (retiredAt === null || retiredAt === undefined) return true;
  const signedMs = Date.parse(at);
  // INVARIANT: a retired key vouches only for what it signed before its retirement; a date
  // that does not parse cannot show that.
  return Number.isFinite(signedMs) && signedMs <= Date.parse(retiredAt) + RETIREMENT_SKEW_MS;
}

const ManifestSchema = z
  .object({
    format: z.literal(FORMAT),
    purpose: z.enum(['warrant', 'ledger']),
    active: z.string().min(1),
    keys: z
      .array(
        z.object({
          kid: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
          x: z.string().regex(X_B64URL),
          createdAt: z.string(),
          retiredAt: z.string().nullable(),
          file: z.string().regex(/^[A-Za-z0-9_-]{22}\.pem$/),
        }),
      )
      .min(1),
  })
  .refine((m) => m.keys.some((k) => k.kid === m.active && k.retiredAt === null), { message: 'active key must be listed and not retired' });
type Manifest = z.infer<typeof ManifestSchema>;

/**
 * The key id of an Ed25519 public key: base64url of the first 16 bytes of the SHA-256 of
 * the 32-byte raw public key (22 characters).
 */
export function kidOf(rawPublicKey: Uint8Array): string {
  return createHash('sha256').update(rawPublicKey).digest().subarray(0, 16).toString('base64url');
}

function toBytes(data: Uint8Array | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function publicKeyFromX(x: string): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
}

function verifyWithKey(key: KeyObject, bytes: Uint8Array | string, signature: string): boolean {
  try {
    // INVARIANT: one signature has one byte form; another spelling of it is refused.
    if (typeof signature !== 'string' || !SIGNATURE_B64URL.test(signature) || !isCanonicalBase64url(signature)) return false;
    if (typeof bytes !== 'string' && !(bytes instanceof Uint8Array)) return false;
    return cryptoVerify(null, toBytes(bytes), key, Buffer.from(signature, 'base64url'));
  } catch {
    return false;
  }
}

/**
 * A verifier over a published JWKS. Entries that are not Ed25519 signing keys, or whose
 * `kid` does not match their public key, are ignored.
 *
 * @example
 * const verifier = loadPublicKeys(await (await fetch(url)).json());
 * verifier.verify(token.kid, payload, token.signature) // true or false
 */
export function loadPublicKeys(jwks: unknown): SignatureVerifier {
  const keys = new Map<string, KeyObject>();
  const retired = new Map<string, string>();
  const list = typeof jwks === 'object' && jwks !== null && Array.isArray((jwks as { keys?: unknown }).keys) ? (jwks as { keys: unknown[] }).keys : [];
  for (const jwk of list) {
    if (typeof jwk !== 'object' || jwk === null) continue;
    const { kty, crv, x, kid, use, alg, retiredAt } = jwk as Record<string, unknown>;
    if (kty !== 'OKP' || crv !== 'Ed25519' || typeof x !== 'string' || !X_B64URL.test(x) || !isCanonicalBase64url(x) || typeof kid !== 'string') continue;
    if (use !== undefined && use !== 'sig') continue;
    if (alg !== undefined && alg !== 'EdDSA') continue;
    // INVARIANT: a kid names exactly one public key; a JWKS entry claiming another key's kid is ignored.
    if (kidOf(Buffer.from(x, 'base64url')) !== kid) continue;
    // A retirement date that does not parse makes the entry malformed: ignored like the others.
    if (retiredAt !== undefined && retiredAt !== null && (typeof retiredAt !== 'string' || !Number.isFinite(Date.parse(retiredAt)))) continue;
    try {
      keys.set(kid, publicKeyFromX(x));
    } catch {
      continue;
    }
    if (typeof retiredAt === 'string') retired.set(kid, retiredAt);
  }
  return {
    kids: [...keys.keys()],
    verify(kid, bytes, signature) {
      const key = typeof kid === 'string' ? keys.get(kid) : undefined;
      return key !== undefined && verifyWithKey(key, bytes, signature);
    },
    wasActiveAt(kid, at) {
      return typeof kid === 'string' && typeof at === 'string' && keys.has(kid) && isBeforeRetirement(retired.get(kid), at);
    },
  };
}

/**
 * Verifies one signature against a JWKS, offline. False for an unknown kid or any bad
 * input; never throws.
 *
 * @example
 * verifyWithJwks(jwks, warrant.kid, warrant.payload, warrant.signature) // true or false
 */
export function verifyWithJwks(jwks: unknown, kid: string, bytes: Uint8Array | string, signature: string): boolean {
  return loadPublicKeys(jwks).verify(kid, bytes, signature);
}

/** How long a keyring trusts its last look at the manifest before looking again. */
const REFRESH_MS = 250;

function isTooOpen(mode: number): boolean {
  return process.platform !== 'win32' && (mode & 0o077) !== 0;
}

function keyFileError(path: string, what: string, cause?: unknown): WritError {
  return new WritError(KeyringErrors.KEYS_FILE_INVALID, `keyring file \`${path}\` ${what}`, { cause, details: { path } });
}

/**
 * Opens the keyring in `options.dir`, creating its first key on first use. Refuses a
 * private key file that group or others may read or write (KEYS_FILE_PERMISSIONS).
 *
 * @example
 * const keys = openKeyring({ dir: join(config.home, 'keys', 'warrant'), purpose: 'warrant' });
 * const { kid, signature } = keys.sign(payload);
 * keys.verify(kid, payload, signature) // true
 */
export function openKeyring(options: KeyringOptions): Keyring {
  if (typeof options?.dir !== 'string' || options.dir.length === 0 || !KEY_PURPOSES.includes(options.purpose)) {
    throw new WritError(KeyringErrors.KEYS_OPTIONS_INVALID, `invalid keyring options: need a \`dir\` and a purpose of \`warrant\` or \`ledger\``, {
      details: { purpose: String(options?.purpose) },
    });
  }
  const { dir, purpose } = options;
  const clock = options.clock ?? systemClock;
  const manifestPath = join(dir, MANIFEST);

  let dirMode: number;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    dirMode = statSync(dir).mode;
  } catch (cause) {
    throw new WritError(KeyringErrors.KEYS_DIR_UNUSABLE, `cannot create keyring folder \`${dir}\``, { cause, details: { dir } });
  }
  // Others who can write the folder can swap the key files; refuse as for a readable key.
  if (process.platform !== 'win32' && (dirMode & 0o022) !== 0) {
    throw new WritError(KeyringErrors.KEYS_FILE_PERMISSIONS, `keyring folder \`${dir}\` is writable by group or others (mode \`${(dirMode & 0o777).toString(8)}\`)`, {
      details: { path: dir, mode: (dirMode & 0o777).toString(8) },
    });
  }

  let manifest: Manifest;
  let manifestStamp = '';
  // The signer is made at the first signature: a process that only verifies never needs one.
  let activeKey: { kid: string; privateKey: KeyObject; signer?: Ed25519Signer };
  let publicKeys = new Map<string, KeyObject>();
  let retiredAt = new Map<string, string>();

  // The manifest is replaced by rename, so inode + mtime (+ mode) tell whether it changed.
  function stampOf(): string {
    const stat = statSync(manifestPath);
    return `${stat.ino}:${stat.mtimeMs}:${stat.size}:${stat.mode}`;
  }

  // Whoever can write the manifest can name their own key as active, or drop a retirement:
  // it is refused as a key file others can read is.
  function assertManifestPrivate(): void {
    const mode = statSync(manifestPath).mode;
    if (process.platform !== 'win32' && (mode & 0o022) !== 0) {
      throw new WritError(KeyringErrors.KEYS_FILE_PERMISSIONS, `keyring manifest \`${manifestPath}\` is writable by group or others (mode \`${(mode & 0o777).toString(8)}\`)`, {
        details: { path: manifestPath, mode: (mode & 0o777).toString(8) },
      });
    }
  }

  function readManifest(): { manifest: Manifest; stamp: string } | undefined {
    let text: string;
    let stamp: string;
    try {
      stamp = stampOf();
      assertManifestPrivate();
      text = readFileSync(manifestPath, 'utf8');
    } catch (cause) {
      if (cause instanceof WritError) throw cause;
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw keyFileError(manifestPath, 'cannot be read', cause);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (cause) {
      throw keyFileError(manifestPath, 'is not JSON', cause);
    }
    const result = ManifestSchema.safeParse(parsed);
    if (!result.success) throw keyFileError(manifestPath, `is not a keyring manifest: ${result.error.issues.map((i) => i.message).join('; ')}`);
    if (result.data.purpose !== purpose) throw keyFileError(manifestPath, `holds \`${result.data.purpose}\` keys, not \`${purpose}\` keys`);
    return { manifest: result.data, stamp };
  }

  function readPrivateKey(entry: Manifest['keys'][number]): KeyObject {
    const path = join(dir, entry.file);
    let text: string;
    try {
      const stat = lstatSync(path);
      if (!stat.isFile()) throw keyFileError(path, 'is not a regular file');
      if (isTooOpen(stat.mode)) {
        throw new WritError(KeyringErrors.KEYS_FILE_PERMISSIONS, `private key file \`${path}\` is accessible by group or others (mode \`${(stat.mode & 0o777).toString(8)}\`)`, {
          details: { path, mode: (stat.mode & 0o777).toString(8) },
        });
      }
      text = readFileSync(path, 'utf8');
    } catch (cause) {
      if (cause instanceof WritError) throw cause;
      throw keyFileError(path, 'cannot be read', cause);
    }
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: text, format: 'pem' });
    } catch (cause) {
      throw keyFileError(path, 'is not a PEM private key', cause);
    }
    if (key.asymmetricKeyType !== 'ed25519') throw keyFileError(path, 'is not an Ed25519 key');
    const x = (createPublicKey(key).export({ format: 'jwk' }) as { x: string }).x;
    // INVARIANT: the key on disk must be the key the manifest (and every published JWKS) names.
    if (x !== entry.x || kidOf(Buffer.from(x, 'base64url')) !== entry.kid) throw keyFileError(path, `does not hold key \`${entry.kid}\``);
    return key;
  }

  function adopt(next: Manifest, stamp: string): void {
    const keys = new Map<string, KeyObject>();
    const retired = new Map<string, string>();
    for (const entry of next.keys) {
      if (kidOf(Buffer.from(entry.x, 'base64url')) !== entry.kid) throw keyFileError(manifestPath, `lists key \`${entry.kid}\` with a public key of another id`);
      if (entry.retiredAt !== null && !Number.isFinite(Date.parse(entry.retiredAt))) throw keyFileError(manifestPath, `lists key \`${entry.kid}\` with a retirement that is not a date`);
      keys.set(entry.kid, publicKeyFromX(entry.x));
      if (entry.retiredAt !== null) retired.set(entry.kid, entry.retiredAt);
    }
    const activeEntry = next.keys.find((k) => k.kid === next.active);
    if (activeEntry === undefined) throw keyFileError(manifestPath, 'names no active key');
    // Every private key file is checked, retired ones too: they are secrets all the same.
    let activePrivate: KeyObject | undefined;
    for (const entry of next.keys) {
      const key = readPrivateKey(entry);
      if (entry.kid === next.active) activePrivate = key;
    }
    manifest = next;
    manifestStamp = stamp;
    publicKeys = keys;
    retiredAt = retired;
    activeKey = { kid: activeEntry.kid, privateKey: activePrivate as KeyObject };
  }

  function newKeyFile(): Manifest['keys'][number] {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const x = (publicKey.export({ format: 'jwk' }) as { x: string }).x;
    const kid = kidOf(Buffer.from(x, 'base64url'));
    const file = `${kid}.pem`;
    const path = join(dir, file);
    try {
      writeSynced(path, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 'wx');
      chmodSync(path, 0o600); // the umask may have narrowed, never widened, but be explicit
    } catch (cause) {
      throw new WritError(KeyringErrors.KEYS_DIR_UNUSABLE, `cannot write private key file \`${path}\``, { cause, details: { path } });
    }
    return { kid, x, createdAt: nowIso(clock), retiredAt: null, file };
  }

  function writeTemp(next: Manifest): string {
    const tmp = join(dir, `.${MANIFEST}.${process.pid}.${Date.now()}.tmp`);
    try {
      writeSynced(tmp, `${JSON.stringify(next, null, 2)}\n`, 'w');
    } catch (cause) {
      throw new WritError(KeyringErrors.KEYS_DIR_UNUSABLE, `cannot write keyring manifest in \`${dir}\``, { cause, details: { dir } });
    }
    return tmp;
  }

  /**
   * Puts `next` in place of the manifest (atomically, synced) and adopts it. Call under the
   * lock. A failure after the rename (the folder's sync, adopting) leaves `next` in force: its
   * error says so (`details.installed`, and the `rotation` that made it), so a caller can
   * still take the rotation back.
   */
  function install(next: Manifest, rotation?: KeyRotation): void {
    const tmp = writeTemp(next);
    try {
      renameSync(tmp, manifestPath);
    } catch (cause) {
      rmSync(tmp, { force: true });
      throw new WritError(KeyringErrors.KEYS_DIR_UNUSABLE, `cannot replace keyring manifest \`${manifestPath}\``, { cause, details: { dir, installed: false } });
    }
    try {
      syncFolder(dir);
      adopt(next, stampOf());
    } catch (cause) {
      const details = { dir, installed: true, ...(rotation === undefined ? {} : { rotation }) };
      if (cause instanceof WritError) throw new WritError(cause.code, cause.message, { cause, details: { ...cause.details, ...details } });
      throw new WritError(KeyringErrors.KEYS_DIR_UNUSABLE, `replaced keyring manifest \`${manifestPath}\`, then failed: ${(cause as Error).message}`, { cause, details });
    }
  }

  function withLock<T>(fn: () => T): T {
    const lock = join(dir, LOCK);
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        mkdirSync(lock);
        break;
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new WritError(KeyringErrors.KEYS_DIR_UNUSABLE, `cannot lock keyring \`${dir}\``, { cause, details: { dir } });
        }
        try {
          // A lock older than 30 s was left by a crashed process.
          if (Date.now() - statSync(lock).mtimeMs > 30_000) rmSync(lock, { recursive: true, force: true });
        } catch {
          // raced with its owner removing it
        }
        if (Date.now() > deadline) throw new WritError(KeyringErrors.KEYS_DIR_UNUSABLE, `keyring \`${dir}\` stayed locked by another process`, { details: { dir } });
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    }
    try {
      return fn();
    } finally {
      try {
        rmdirSync(lock);
      } catch {
        // already gone
      }
    }
  }

  // Another process's rotation, or a key removed from the manifest, is picked up within
  // REFRESH_MS (at once when a signature by a key this keyring does not know is verified):
  // a stat per signature cost more than the rest of issuing a warrant but the signature itself.
  let checkedAt = 0;
  function refreshIfChanged(force = false): void {
    const now = Date.now();
    if (!force && now - checkedAt < REFRESH_MS) return;
    checkedAt = now;
    let stamp: string;
    try {
      stamp = stampOf();
    } catch {
      return;
    }
    if (stamp === manifestStamp) return;
    const read = readManifest();
    if (read !== undefined) adopt(read.manifest, read.stamp);
  }

  // First use: create the first key. Two processes racing here agree on one manifest:
  // `link` fails for the loser, which drops its key and adopts the winner's.
  const existing = readManifest();
  if (existing !== undefined) {
    adopt(existing.manifest, existing.stamp);
  } else {
    const entry = newKeyFile();
    const first: Manifest = { format: FORMAT, purpose, active: entry.kid, keys: [entry] };
    const tmp = writeTemp(first);
    try {
      linkSync(tmp, manifestPath);
      syncFolder(dir);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new WritError(KeyringErrors.KEYS_DIR_UNUSABLE, `cannot create keyring manifest \`${manifestPath}\``, { cause, details: { dir } });
      }
      rmSync(join(dir, entry.file), { force: true });
    } finally {
      unlinkSync(tmp);
    }
    const read = readManifest();
    if (read === undefined) throw keyFileError(manifestPath, 'vanished while the keyring was created');
    adopt(read.manifest, read.stamp);
  }

  const keyring: Keyring = {
    purpose,
    dir,
    get activeKid() {
      refreshIfChanged();
      return activeKey.kid;
    },
    get kids() {
      refreshIfChanged();
      return [...publicKeys.keys()];
    },
    sign(bytes) {
      refreshIfChanged();
      activeKey.signer ??= ed25519Signer(activeKey.privateKey);
      const signature = activeKey.signer.sign(toBytes(bytes)).toString('base64url');
      return { kid: activeKey.kid, signature };
    },
    verify(kid, bytes, signature) {
      try {
        if (typeof kid !== 'string') return false;
        // INVARIANT: a key removed from the manifest stops verifying within REFRESH_MS, in
        // every process that has the keyring open; an unknown one may be another's rotation.
        refreshIfChanged(!publicKeys.has(kid));
        const key = publicKeys.get(kid);
        return key !== undefined && verifyWithKey(key, bytes, signature);
      } catch {
        return false;
      }
    },
    wasActiveAt(kid, at) {
      try {
        if (typeof kid !== 'string' || typeof at !== 'string') return false;
        refreshIfChanged(!publicKeys.has(kid));
        return publicKeys.has(kid) && isBeforeRetirement(retiredAt.get(kid), at);
      } catch {
        return false;
      }
    },
    rotate() {
      return keyring.rotateKey().kid;
    },
    rotateKey() {
      return withLock(() => {
        const read = readManifest();
        const current = read?.manifest ?? manifest;
        const entry = newKeyFile();
        const at = nowIso(clock);
        const retiredKids = current.keys.filter((k) => k.retiredAt === null).map((k) => k.kid);
        const rotation: KeyRotation = { kid: entry.kid, previousKid: current.keys.some((k) => k.kid === current.active) ? current.active : null, retiredKids, retiredAt: at };
        const next: Manifest = {
          ...current,
          active: entry.kid,
          keys: [...current.keys.map((k) => (k.retiredAt === null ? { ...k, retiredAt: at } : k)), entry],
        };
        install(next, rotation);
        return rotation;
      });
    },
    undoRotation(rotation) {
      return withLock(() => {
        const current = readManifest()?.manifest ?? manifest;
        const made = current.keys.find((k) => k.kid === rotation.kid);
        // INVARIANT: only the rotation's own changes are taken back, and only while they stand.
        if (current.active !== rotation.kid || made === undefined || made.retiredAt !== null) return false;
        const restored = new Set(rotation.retiredKids);
        if (current.keys.some((k) => restored.has(k.kid) && k.retiredAt !== rotation.retiredAt)) return false;
        if (rotation.previousKid === null || !restored.has(rotation.previousKid)) return false;
        // Never before its creation, even if the clock went back since.
        const now = nowIso(clock);
        const retiredAt = now > made.createdAt ? now : made.createdAt;
        const next: Manifest = {
          ...current,
          active: rotation.previousKid,
          keys: current.keys.map((k) => (k.kid === rotation.kid ? { ...k, retiredAt } : restored.has(k.kid) ? { ...k, retiredAt: null } : k)),
        };
        install(next);
        return true;
      });
    },
    list() {
      return manifest.keys.map(({ kid, x, createdAt, retiredAt }) => ({ kid, x, createdAt, retiredAt }));
    },
    publicJwks() {
      refreshIfChanged();
      return {
        keys: manifest.keys.map((k) => ({
          kty: 'OKP' as const,
          crv: 'Ed25519' as const,
          x: k.x,
          kid: k.kid,
          use: 'sig' as const,
          alg: 'EdDSA' as const,
          status: k.kid === manifest.active ? ('active' as const) : ('retired' as const),
          createdAt: k.createdAt,
          retiredAt: k.retiredAt,
        })),
      };
    },
  };
  return keyring;
}

// Keys and manifests reach the disk before anything signs with them: after a power loss a
// keyring is either as it was or as it was written, never a manifest naming a key file
// that came back empty (which would refuse to open, and take the public key with it).
function writeSynced(path: string, data: string, flag: 'w' | 'wx'): void {
  const fd = openSync(path, flag, 0o600);
  try {
    writeFileSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncFolder(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
