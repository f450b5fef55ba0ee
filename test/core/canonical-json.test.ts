import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import canonicalize from 'canonicalize';
import { canonicalJson, sealOf, isWritError } from '../../src/core/index.js';

function shuffleKeys(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v, i) => shuffleKeys(v, seed + i));
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    entries.sort((a, b) => ((a[0].length * 31 + seed) % 7) - ((b[0].length * 31 + seed) % 7) || (seed % 2 ? 1 : -1));
    return Object.fromEntries(entries.map(([k, v]) => [k, shuffleKeys(v, seed + 1)]));
  }
  return value;
}

const jsonValue = fc.jsonValue();

describe('canonicalJson (RFC 8785)', () => {
  test('sorts keys by UTF-16 code units and drops whitespace', () => {
    assert.equal(canonicalJson({ b: 1, a: [true, null, 'x'], c: { z: 0, y: -0 } }), '{"a":[true,null,"x"],"b":1,"c":{"y":0,"z":0}}');
    // U+1F600 (surrogate pair D83D DE00) sorts before U+FB01 in UTF-16 order, after it in code points.
    assert.equal(canonicalJson({ '\uFB01': 1, '\u{1F600}': 2 }), '{"\u{1F600}":2,"\uFB01":1}');
  });

  test('writes numbers in ECMAScript form (RFC 8785 appendix B samples)', () => {
    const samples: Array<[number, string]> = [
      [0, '0'], [1e21, '1e+21'], [1e-7, '1e-7'], [123456789012345680000, '123456789012345680000'],
      [0.000001, '0.000001'], [-1.5, '-1.5'], [4.35, '4.35'], [9007199254740991, '9007199254740991'],
      [5e-324, '5e-324'], [1.7976931348623157e308, '1.7976931348623157e+308'],
    ];
    for (const [n, s] of samples) assert.equal(canonicalJson(n), s);
  });

  test('escapes strings minimally', () => {
    assert.equal(canonicalJson('a"\\\n\u0001é€'), '"a\\"\\\\\\n\\u0001é€"');
  });

  test('refuses values that are not JSON', () => {
    for (const bad of [NaN, Infinity, undefined, () => 1, new Date(0), '\uD800', { k: '\uDC00' }, [1, undefined], [1, , 3], { a: [, 1] }]) {
      assert.throws(() => canonicalJson(bad), (e: unknown) => isWritError(e, 'CORE_NOT_CANONICAL'));
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.throws(() => canonicalJson(cyclic), (e: unknown) => isWritError(e, 'CORE_NOT_CANONICAL'));
  });

  test('is independent of key order (property)', () => {
    fc.assert(
      fc.property(jsonValue, fc.integer({ min: 0, max: 1000 }), (value, seed) => {
        assert.equal(canonicalJson(shuffleKeys(value, seed)), canonicalJson(value));
      }),
    );
  });

  test('round-trips: parsing the canonical form and canonicalizing again is stable (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ noUnicodeString: false }), (value) => {
        const once = canonicalJson(value);
        assert.equal(canonicalJson(JSON.parse(once)), once);
      }),
    );
  });

  test('numbers: canonical form parses back to the same double (property)', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
        assert.equal(JSON.parse(canonicalJson(n)), n === 0 ? 0 : n);
      }),
    );
  });

  test('writes exactly what the reference implementation writes (property)', () => {
    const reference = canonicalize as unknown as (value: unknown) => string;
    // Keys V8 enumerates first in numeric order, keys that sort apart from their insertion
    // order, `__proto__` as an own key, and strings outside ASCII.
    const key = fc.oneof(fc.constantFrom('0', '1', '9', '10', '01', '-1', '4294967295', '__proto__', 'a', 'B', '\u00e9', '\ud83d\ude00', ''), fc.string({ unit: 'grapheme' }));
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.constant(null),
        fc.boolean(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.integer(),
        fc.string({ unit: 'grapheme' }),
        fc.array(tie('value'), { maxLength: 4 }),
        fc.array(fc.tuple(key, tie('value')), { maxLength: 5 }).map((entries) => JSON.parse(JSON.stringify(Object.fromEntries(entries))) as unknown),
      ),
    }));
    fc.assert(
      fc.property(value, (v) => {
        assert.equal(canonicalJson(v), reference(v));
      }),
      { numRuns: 2000 },
    );
    // Built objects (not parsed): a `__proto__` own property made by defineProperty, a null
    // prototype, and nesting that must be reordered below an object already in order.
    const own = Object.defineProperty({ b: 1 }, '__proto__', { value: { z: 1, y: 2 }, enumerable: true });
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { b: [{ d: 1, c: 2 }], a: '\u00e9' });
    for (const v of [own, bare, { a: { c: 1, b: 2 }, b: [3, { 10: 'x', 9: 'y', a: 0 }] }]) assert.equal(canonicalJson(v), reference(v));
  });

  test('writes an object whose keys are out of order through a sorted copy, leaving the value untouched', () => {
    const inner = { d: 1, c: [{ y: 2, x: 1 }] };
    const value = { b: inner, a: 'é', e: { f: null } };
    const before = JSON.stringify(value);
    assert.equal(canonicalJson(value), '{"a":"é","b":{"c":[{"x":1,"y":2}],"d":1},"e":{"f":null}}');
    assert.equal(JSON.stringify(value), before);
    // Keys V8 enumerates first, numerically ('9' before '10'), where RFC 8785 puts '10' first.
    assert.equal(canonicalJson({ a: 3, 10: 1, 9: 2 }), '{"10":1,"9":2,"a":3}');
    assert.equal(canonicalJson({ b: { 10: 1, 9: 2 } }), '{"b":{"10":1,"9":2}}');
    // A bad key or value met after the first key out of order is still refused.
    for (const bad of [{ b: 1, a: 2, '\uD800': 3 }, { b: { d: 1, c: '\uDC00' } }, { b: 1, a: 2, c: undefined }, { b: 1, a: [1, , 3] }]) {
      assert.throws(() => canonicalJson(bad), (e: unknown) => isWritError(e, 'CORE_NOT_CANONICAL'));
    }
  });

  test('reads a nested value a bounded number of times, however deep the object out of order', () => {
    // Copying it again at every level read the innermost value 2^depth times (2^20 here).
    for (const wrap of [(v: unknown) => ({ x: v }), (v: unknown) => ({ z: v, a: 1 }), (v: unknown) => [v]]) {
      let reads = 0;
      // A getter only counts the reads; it answers the same every time.
      let value: unknown = Object.defineProperty({}, 'b', { get: () => ++reads && 1, enumerable: true });
      (value as Record<string, unknown>).a = 2;
      for (let i = 0; i < 20; i++) value = wrap(value);
      const written = canonicalJson(value);
      assert.ok(reads <= 3, `the innermost value was read ${reads} times`);
      assert.equal(written, (canonicalize as unknown as (v: unknown) => string)(value));
    }
  });

  test('refuses a value nested more than 1000 deep by name, not with a stack overflow', () => {
    const nested = (depth: number) => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`) as unknown;
    assert.equal(canonicalJson(nested(1000)), `${'['.repeat(1000)}${']'.repeat(1000)}`);
    for (const depth of [1001, 50_000]) {
      assert.throws(
        () => canonicalJson(nested(depth)),
        (e: unknown) => isWritError(e, 'CORE_NOT_CANONICAL') && /nested more than 1000 deep/.test((e as Error).message) && (e as Error).message.length < 300,
      );
    }
  });

  test('refuses a value with a toJSON method, which JSON.stringify would call', () => {
    const hidden = (value: object, result: unknown) => Object.defineProperty(value, 'toJSON', { value: () => result, enumerable: false });
    for (const bad of [hidden({ a: 1 }, { z: 1, y: 2 }), hidden({ b: 1, a: 2 }, 'x'), hidden([1, 2], { b: 1, a: 2 }), { c: [hidden({ d: 1 }, Number.NaN)] }, [hidden([{ b: 1, a: 2 }], 'x')]]) {
      assert.throws(() => canonicalJson(bad), (e: unknown) => isWritError(e, 'CORE_NOT_CANONICAL') && /toJSON/.test((e as Error).message));
    }
  });

  test('seals differ when any value differs and match when only key order does', () => {
    assert.equal(sealOf({ a: 1, b: 2 }), sealOf({ b: 2, a: 1 }));
    assert.notEqual(sealOf({ a: 1, b: 2 }), sealOf({ a: 1, b: 3 }));
    assert.match(sealOf(null), /^sha256:[0-9a-f]{64}$/);
  });
});
