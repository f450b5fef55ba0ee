// The policy engine's memo of Cedar answers: bounded, and keeps what is used.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemo } from '../../src/broker/policy/memo.js';

describe('policy memo', () => {
  test('returns what was set and nothing for an unknown key', () => {
    const memo = createMemo<number>(8);
    memo.set('a', 1);
    assert.equal(memo.get('a'), 1);
    assert.equal(memo.get('b'), undefined);
  });

  test('never holds more than its capacity, however many keys pass through', () => {
    for (const capacity of [1, 2, 3, 8, 101]) {
      const memo = createMemo<number>(capacity);
      for (let i = 0; i < capacity * 10; i++) {
        memo.set(`k${i}`, i);
        assert.ok(memo.size <= Math.max(capacity, 2), `capacity ${capacity}: ${memo.size} held after ${i + 1} keys`);
      }
    }
  });

  test('keeps an entry for capacity/2 - 1 insertions after its last use, and drops one left unused for capacity insertions', () => {
    const memo = createMemo<number>(8);
    memo.set('hot', 0);
    memo.set('cold', 0);
    for (let i = 0; i < 40; i++) {
      memo.set(`k${i}`, i);
      if (i % 3 === 2) assert.equal(memo.get('hot'), 0, `hot dropped after ${i + 1} insertions`);
    }
    assert.equal(memo.get('cold'), undefined);
    // The newest keys are there; one capacity's worth back is not.
    assert.equal(memo.get('k39'), 39);
    assert.equal(memo.get('k30'), undefined);
  });
});
