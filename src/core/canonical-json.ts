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

/** Thrown inside the fast path when it meets anything it does not handle itself. */
const SLOW = Symbol('canonical-json: slow path');
/** Deeper than this, the fast path hands over to the checked path (which finds cycles). */
const FAST_MAX_DEPTH = 200;
const objectProto = Object.prototype;

/** Above this many keys an object's keys are sorted by `Array.prototype.sort`. */
const INSERTION_SORT_MAX = 24;

/**
 * An object's own keys in UTF-16 code unit order, as `Object.keys(value).sort()` gives them.
 * Small key sets are insertion-sorted in place: `sort()` copies into a work array on every
 * call, and on the broker's hot path that garbage was a sixth of all allocation (hence of
 * young-generation GC pauses). `<` on strings compares UTF-16 code units, as `sort()` does.
 */
function sortedKeys(value: object): string[] {
  const keys = Object.keys(value);
  const n = keys.length;
  if (n > INSERTION_SORT_MAX) return keys.sort();
  for (let i = 1; i < n; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    if (!(key < (keys[j] as string))) continue;
    while (j >= 0 && key < (keys[j] as string)) {
      keys[j + 1] = keys[j] as string;
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
}

/**
 * `JSON.stringify(key) + ':'` for a well-formed key, memoized: a few hundred distinct keys
 * are written over and over (entity, fact and record field names). Bounded, so keys made
 * of data (ids as map keys) cannot grow it without limit.
 */
const quotedKeys = new Map<string, string>();
const QUOTED_KEYS_MAX = 4096;
function quotedKey(key: string): string {
  const cached = quotedKeys.get(key);
  if (cached !== undefined) return cached;
  if (!key.isWellFormed()) throw SLOW;
  const quoted = `${JSON.stringify(key)}:`;
  if (quotedKeys.size >= QUOTED_KEYS_MAX) quotedKeys.clear();
  quotedKeys.set(key, quoted);
  return quoted;
}

/**
 * Single-pass RFC 8785 writer for the common case: plain objects, arrays, finite numbers,
 * well-formed strings, booleans and null, at most FAST_MAX_DEPTH deep. Anything else
 * (a bad value, a sparse array, a cycle, a very deep value) throws SLOW, and the caller
 * runs the checked two-pass path, which gives the same output and the same errors as
 * before. Output is identical to `canonicalize`: keys sorted by UTF-16 code units
 * (`Array.prototype.sort`), strings and numbers as JSON.stringify writes them.
 */
function write(value: unknown, depth: number): string {
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) throw SLOW;
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw SLOW;
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (depth > FAST_MAX_DEPTH) throw SLOW;
      if (Array.isArray(value)) {
        const n = value.length;
        if (n === 0) return '[]';
        let out = '[';
        for (let i = 0; i < n; i++) {
          if (!(i in value)) throw SLOW;
          if (i > 0) out += ',';
          out += write(value[i], depth + 1);
        }
        return `${out}]`;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== objectProto && proto !== null) throw SLOW;
      const keys = sortedKeys(value);
      const n = keys.length;
      if (n === 0) return '{}';
      let out = '{';
      for (let i = 0; i < n; i++) {
        const key = keys[i] as string;
        const quoted = quotedKey(key);
        if (i > 0) out += ',';
        out += quoted;
        out += write((value as Record<string, unknown>)[key], depth + 1);
      }
      return `${out}}`;
    }
    default:
      throw SLOW;
  }
}

/** The checked path: validate everything, then serialize with `canonicalize`. */
function checkedCanonicalJson(value: unknown): string {
  check(value, '$', new Set());
  const out = canonicalize(value);
  if (out === undefined) fail('$', 'nothing to serialize');
  return out;
}

/**
 * Serializes `value` as RFC 8785 canonical JSON: keys sorted by UTF-16 code units,
 * ECMAScript number form, no whitespace. Throws CORE_NOT_CANONICAL for non-JSON values.
 *
 * @example
 * canonicalJson({ b: 1, a: [true, null] }) // '{"a":[true,null],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  try {
    return write(value, 0);
  } catch (err) {
    if (err !== SLOW) throw err;
  }
  // INVARIANT: anything the fast path does not accept goes through the full check, so
  // the strictness (and the error reported) is exactly that of the checked path.
  return checkedCanonicalJson(value);
}
