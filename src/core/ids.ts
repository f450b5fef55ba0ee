// Sortable ids: a short kind prefix plus a monotonic ULID, so ids sort by creation time
// and say what they name (`prp_01JD…` is a proposal).
import { monotonicFactory } from 'ulid';

const next = monotonicFactory();

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
