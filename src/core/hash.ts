// SHA-256 sealing: a record's seal is the hash of its canonical JSON.
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';

/** Hex SHA-256 of a string (UTF-8) or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * The seal of a JSON value: `sha256:` + hex SHA-256 of its RFC 8785 form.
 *
 * @example
 * sealOf({ a: 1 }) === sealOf({ a: 1.0 }) // true
 */
export function sealOf(value: unknown): string {
  return `sha256:${sha256Hex(canonicalJson(value))}`;
}
