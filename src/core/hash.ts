// SHA-256 sealing: a record's seal is the hash of its canonical JSON.
import * as nodeCrypto from 'node:crypto';
import { canonicalJson } from './canonical-json.js';

// `crypto.hash` (Node ≥ 20.12) hashes in one call without a Hash object: several times
// cheaper than createHash → update → digest for the short inputs seals and ledger
// entries hash. Same function, same bytes in (strings as UTF-8), same hex out.
const oneShot = (nodeCrypto as { hash?: (algorithm: string, data: string | Uint8Array, encoding: 'hex') => string }).hash;

/** Hex SHA-256 of a string (UTF-8) or bytes. */
export const sha256Hex: (data: string | Uint8Array) => string =
  typeof oneShot === 'function'
    ? (data) => oneShot('sha256', data, 'hex')
    : (data) => nodeCrypto.createHash('sha256').update(data).digest('hex');

/**
 * The seal of a JSON value: `sha256:` + hex SHA-256 of its RFC 8785 form.
 *
 * @example
 * sealOf({ a: 1 }) === sealOf({ a: 1.0 }) // true
 */
export function sealOf(value: unknown): string {
  return `sha256:${sha256Hex(canonicalJson(value))}`;
}
