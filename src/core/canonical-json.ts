// Canonical JSON per RFC 8785 (JCS): the byte form that every seal and ledger hash covers.
// The `canonicalize` package (by the RFC's author) does the serialization; this module
// adds the strictness RFC 8785 demands and the package does not check: no NaN or
// Infinity, no lone surrogates, no undefined, no cycles, plain objects only.
import canonicalizeImpl from 'canonicalize';
import { CoreErrors, WritError } from './errors.js';

const canonicalize = canonicalizeImpl as unknown as (value: unknown) => string | undefined;

/** A JSON value as RFC 8785 sees it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

function fail(path: string, what: string): never {
  throw new WritError(CoreErrors.CORE_NOT_CANONICAL, `value at \`${path}\` is not canonical JSON: ${what}`, {
    details: { path },
  });
}

function check(value: unknown, path: string, seen: Set<object>): void {
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) fail(path, 'string holds a lone surrogate');
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(path, `number \`${value}\` is not finite`);
      return;
    case 'boolean':
      return;
    case 'object': {
      if (value === null) return;
      if (seen.has(value)) fail(path, 'cycle');
      seen.add(value);
      if (Array.isArray(value)) {
        value.forEach((item, i) => check(item, `${path}[${i}]`, seen));
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) fail(path, 'not a plain object');
        for (const [key, item] of Object.entries(value)) {
          if (!key.isWellFormed()) fail(path, 'key holds a lone surrogate');
          check(item, `${path}.${key}`, seen);
        }
      }
      seen.delete(value);
      return;
    }
    default:
      fail(path, `${typeof value} is not a JSON value`);
  }
}

/**
 * Serializes `value` as RFC 8785 canonical JSON: keys sorted by UTF-16 code units,
 * ECMAScript number form, no whitespace. Throws CORE_NOT_CANONICAL for non-JSON values.
 *
 * @example
 * canonicalJson({ b: 1, a: [true, null] }) // '{"a":[true,null],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  check(value, '$', new Set());
  const out = canonicalize(value);
  if (out === undefined) fail('$', 'nothing to serialize');
  return out;
}
