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

  test('never holds more than twice its capacity, however many keys pass through', () => {
    for (const capacity of [1, 2, 3, 8, 101]) {
      const memo = createMemo<number>(capacity);
      let most = 0;
      for (let i = 0; i < capacity * 10; i++) {
        memo.set(`k${i}`, i);
        memo.get(`k${i - capacity}`);
        most = Math.max(most, memo.size);
        assert.ok(memo.size <= 2 * capacity, `capacity ${capacity}: ${memo.size} held after ${i + 1} keys`);
      }
      assert.ok(most >= capacity, `capacity ${capacity}: never held more than ${most}`);
    }
  });

  test('keeps an entry used within the last capacity insertions, as an LRU would', () => {
    // A working set as large as the capacity, cycled: every lookup after the first round hits.
    const capacity = 64;
    const memo = createMemo<number>(capacity);
    let hits = 0;
    for (let round = 0; round < 5; round++) {
      for (let k = 0; k < capacity; k++) {
        if (memo.get(`w${k}`) !== undefined) hits++;
        else memo.set(`w${k}`, k);
      }
    }
    assert.equal(hits, 4 * capacity);
  });

  test('keeps an entry for capacity - 1 insertions after its last use, and drops one left unused for 2 x capacity', () => {
    const memo = createMemo<number>(8);
    memo.set('hot', 0);
    memo.set('cold', 0);
    for (let i = 0; i < 40; i++) {
      memo.set(`k${i}`, i);
      if (i % 7 === 6) assert.equal(memo.get('hot'), 0, `hot dropped after ${i + 1} insertions`);
    }
    assert.equal(memo.get('cold'), undefined);
    // The newest keys are there; two capacities' worth back is not.
    assert.equal(memo.get('k39'), 39);
    assert.equal(memo.get('k23'), undefined);
  });
});
