import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTokenBucket } from '../../src/core/index.js';

test('a token bucket allows its burst, then refills at its rate, per key', () => {
  let t = 0;
  const bucket = createTokenBucket({ ratePerSecond: 2, burst: 3, clock: { now: () => new Date(t) } });
  assert.deepEqual([bucket.take('a'), bucket.take('a'), bucket.take('a')], [0, 0, 0]);
  assert.equal(bucket.take('a'), 500, 'the fourth request waits for half a second');
  assert.equal(bucket.take('b'), 0, 'another key has its own bucket');
  t += 500;
  assert.equal(bucket.take('a'), 0);
  assert.ok(bucket.take('a') > 0);
  assert.throws(() => createTokenBucket({ ratePerSecond: 0, burst: 1 }), RangeError);
});
