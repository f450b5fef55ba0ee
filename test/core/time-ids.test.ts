import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeTime, isWritError, newId, isIdOf } from '../../src/core/index.js';

describe('normalizeTime', () => {
  test('converts any zone to UTC with milliseconds', () => {
    assert.equal(normalizeTime('2026-11-26T10:00:00+01:00'), '2026-11-26T09:00:00.000Z');
    assert.equal(normalizeTime('2026-11-26T09:00Z'), '2026-11-26T09:00:00.000Z');
    assert.equal(normalizeTime('2026-11-26T23:30:00.5-02:00'), '2026-11-27T01:30:00.500Z');
  });

  test('refuses times without a zone and impossible dates', () => {
    for (const bad of ['2026-11-26T10:00:00', '2026-11-26', 'yesterday', '2026-13-40T00:00:00Z']) {
      assert.throws(() => normalizeTime(bad), (e: unknown) => isWritError(e, 'CORE_INVALID_TIME'));
    }
  });
});

describe('newId', () => {
  test('ids carry their kind and sort by creation', () => {
    const ids = Array.from({ length: 1000 }, () => newId('prp'));
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(ids.every((id) => isIdOf('prp', id)));
    assert.equal(isIdOf('dec', ids[0] as string), false);
  });
});
