// Canonical JSON per RFC 8785 (JCS): the byte form that every seal and ledger hash covers.
// The common case is written by JSON.stringify over a value with its keys in order (see
// canonicalView); anything else goes to the checked path, where the `canonicalize` package
// (by the RFC's author) serializes and this module adds the strictness RFC 8785 demands
// and the package does not check: no NaN or Infinity, no lone surrogates, no undefined,
// no holes, no cycles, plain objects only. A property test holds both paths to the package.
import canonicalizeImpl from 'canonicalize';
import { CoreErrors, WritError } from './errors.js';

const canonicalize = canonicalizeImpl as unknown as (value: unknown) => string | undefined;

/** A JSON value as RFC 8785 sees it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Paths longer than this (deep values) are cut in errors, keeping their start. */
const MAX_PATH_CHARS = 200;

function fail(path: string, what: string): never {
  const shown = path.length > MAX_PATH_CHARS ? `${path.slice(0, MAX_PATH_CHARS)}…` : path;
  throw new WritError(CoreErrors.CORE_NOT_CANONICAL, `value at \`${shown}\` is not canonical JSON: ${what}`, {
    details: { path: shown },
  });
}

/**
 * Deepest nesting accepted. Deeper values are refused by name rather than left to overflow
 * the stack (a RangeError, which a caller would report as an internal error).
 */
const MAX_DEPTH = 1000;

function check(value: unknown, path: string, seen: Set<object>, depth = 0): void {
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
      if (depth >= MAX_DEPTH) fail(path, `nested more than ${MAX_DEPTH} deep`);
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') fail(path, 'has a toJSON method (plain data only)');
      seen.add(value);
      if (Array.isArray(value)) {
        // Not forEach: it skips holes, and `canonicalize` writes a hole as nothing (`[1,,3]`).
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) fail(`${path}[${i}]`, 'hole in a sparse array');
          check(value[i], `${path}[${i}]`, seen, depth + 1);
        }
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) fail(path, 'not a plain object');
        for (const [key, item] of Object.entries(value)) {
          if (!key.isWellFormed()) fail(path, 'key holds a lone surrogate');
          check(item, `${path}.${key}`, seen, depth + 1);
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
 * Small key sets are insertion-sorted in place (`sort()` copies into a work array on every
 * call). `<` on strings compares UTF-16 code units, as `sort()` does.
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

/** Keys V8 enumerates before all others, in numeric order: array indices, 0 … 2³² − 2. */
const ARRAY_INDEX = /^(?:0|[1-9][0-9]{0,9})$/;
function isArrayIndex(key: string): boolean {
  const first = key.charCodeAt(0);
  return first >= 48 && first <= 57 && ARRAY_INDEX.test(key) && Number(key) < 4294967295;
}

/**
 * A value that `JSON.stringify` writes in RFC 8785 form: `value` itself when it already is
 * one, otherwise a copy whose objects hold their keys in sorted order. Such a value is
 * plain objects with keys enumerating in UTF-16 code unit order, arrays without holes,
 * finite numbers, well-formed strings, booleans and null. JSON.stringify writes strings
 * and numbers as RFC 8785 does (the RFC adopts its forms) and keys in enumeration order,
 * so its output for such a value is canonical, built natively in one pass.
 *
 * Why not a writer in JS: one allocated about five times its output in intermediate
 * strings, and on the broker's hot path that garbage set how often a young-generation GC
 * paused a round trip. Checking a plain object in fast mode allocates nothing (`for…in`
 * walks its map's enum cache); a copy costs an object per unsorted object, far less than
 * the strings.
 *
 * Throws SLOW for anything else, and for what a copy cannot hold in sorted order: keys that
 * are array indices (V8 enumerates them first, numerically) and an own `__proto__` key.
 * Values are plain data: each is read here and again by JSON.stringify, so an accessor
 * property or a Proxy that answers differently the second time is not supported.
 */
function canonicalView(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) throw SLOW;
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw SLOW;
      return value;
    case 'boolean':
      return value;
    case 'object': {
      if (value === null) return null;
      if (depth > FAST_MAX_DEPTH) throw SLOW;
      // JSON.stringify would write what a toJSON method returns, unchecked and unsorted.
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') throw SLOW;
      if (Array.isArray(value)) {
        const n = value.length;
        let copy: unknown[] | undefined;
        for (let i = 0; i < n; i++) {
          if (!(i in value)) throw SLOW;
          const item: unknown = value[i];
          const view = canonicalView(item, depth + 1);
          if (copy === undefined && view !== item) copy = value.slice(0, i);
          copy?.push(view);
        }
        return copy ?? value;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== objectProto && proto !== null) throw SLOW;
      const record = value as Record<string, unknown>;
      // In order and needing no copy below: the value itself. The first key out of order,
      // or the first child that needs a copy, ends the walk. That child's copy is kept for
      // the copy below (making it again at every level took time exponential in the depth);
      // the children before it needed none, so the copy below only checks them again.
      let previous: string | undefined;
      let inOrder = true;
      let copiedKey: string | undefined;
      let copiedView: unknown;
      for (const key in record) {
        if (!Object.hasOwn(record, key) || !key.isWellFormed()) throw SLOW;
        if (previous !== undefined && !(previous < key)) {
          inOrder = false;
          break;
        }
        const item = record[key];
        const view = canonicalView(item, depth + 1);
        if (view !== item) {
          inOrder = false;
          copiedKey = key;
          copiedView = view;
          break;
        }
        previous = key;
      }
      if (inOrder) return value;
      const copy: Record<string, unknown> = {};
      for (const key of sortedKeys(record)) {
        if (key === '__proto__' || isArrayIndex(key) || !key.isWellFormed()) throw SLOW;
        copy[key] = key === copiedKey ? copiedView : canonicalView(record[key], depth + 1);
      }
      return copy;
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
    return JSON.stringify(canonicalView(value, 0));
  } catch (err) {
    if (err !== SLOW) throw err;
  }
  // INVARIANT: anything the fast path does not accept goes through the full check, so
  // the strictness (and the error reported) is exactly that of the checked path.
  return checkedCanonicalJson(value);
}
