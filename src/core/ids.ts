// Sortable ids: a short kind prefix plus a monotonic ULID, so ids sort by creation time
// and say what they name (`prp_01JD…` is a proposal).
import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';

// The ULID's random part, drawn from the OS CSPRNG through a buffered pool: one
// `randomFillSync` per 4096 bytes instead of one `getRandomValues` per character (ulid's
// default PRNG asks crypto for a single byte sixteen times per id). Same source, same
// distribution (a byte / 256, as ulid's own PRNG returns).
const POOL_SIZE = 4096;
const pool = new Uint8Array(POOL_SIZE);
let poolAt = POOL_SIZE;
function pooledRandom(): number {
  if (poolAt === POOL_SIZE) {
    randomFillSync(pool);
    poolAt = 0;
  }
  return (pool[poolAt++] as number) / 256;
}

const next = monotonicFactory(pooledRandom);

/**
 * `bytes` fresh random bytes from the same CSPRNG pool (each pool byte is used once), as
 * base64url: for nonces on hot paths, where one `randomBytes` call (a syscall) per token
 * cost more than the rest of the token's work.
 *
 * @example
 * randomBase64url(16) // 'q3Yb0uV9tq3lQ5sJ1k2x8w' (22 characters)
 */
export function randomBase64url(bytes: number): string {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > POOL_SIZE) throw new RangeError(`bytes must be an integer from 1 to ${POOL_SIZE}`);
  if (POOL_SIZE - poolAt < bytes) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const out = Buffer.from(pool.subarray(poolAt, poolAt + bytes)).toString('base64url');
  poolAt += bytes;
  return out;
}

/** Id prefixes in use; one per record kind. */
export const ID_PREFIXES = [
  'doc', 'chk', 'bnd', 'ses', 'prp', 'dec', 'apr', 'wrt', 'trn', 'prn', 'key', 'req', 'led', 'ckp',
] as const;
export type IdPrefix = (typeof ID_PREFIXES)[number];

/**
 * A new sortable id.
 *
 * @example
 * newId('prp') // 'prp_01JDZ3Q4W8N7K0V4X2B9C5R6TA'
 */
export function newId(prefix: IdPrefix, timeMs?: number): string {
  return `${prefix}_${next(timeMs)}`;
}

/** True when `id` looks like an id of the given kind. */
export function isIdOf(prefix: IdPrefix, id: string): boolean {
  return id.startsWith(`${prefix}_`) && /^[0-9A-HJKMNP-TV-Z]{26}$/.test(id.slice(prefix.length + 1));
}
