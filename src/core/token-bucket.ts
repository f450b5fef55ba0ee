// A token bucket per key (e.g. per principal): `ratePerSecond` sustained, `burst` at once.
// In memory, per process; a multi-process deployment would move it to a shared store.
import { systemClock, type Clock } from './time.js';

export interface TokenBucket {
  /** Takes one token for `key`; returns 0 when allowed, else milliseconds until one is free. */
  take(key: string): number;
}

/**
 * Creates a token bucket per key, forgetting the oldest key beyond `maxKeys`.
 *
 * @example
 * const limiter = createTokenBucket({ ratePerSecond: 200, burst: 400 });
 * if (limiter.take(principal.id) > 0) refuse();
 */
export function createTokenBucket(options: { ratePerSecond: number; burst: number; clock?: Clock; maxKeys?: number }): TokenBucket {
  if (!(options.ratePerSecond > 0) || !(options.burst >= 1)) throw new RangeError('ratePerSecond must be > 0 and burst >= 1');
  const clock = options.clock ?? systemClock;
  const maxKeys = options.maxKeys ?? 100_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    take(key) {
      const t = clock.now().getTime();
      let b = buckets.get(key);
      if (b === undefined) {
        if (buckets.size >= maxKeys) buckets.delete(buckets.keys().next().value as string);
        b = { tokens: options.burst, at: t };
        buckets.set(key, b);
      }
      b.tokens = Math.min(options.burst, b.tokens + ((t - b.at) / 1000) * options.ratePerSecond);
      b.at = t;
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return 0;
      }
      return Math.ceil(((1 - b.tokens) / options.ratePerSecond) * 1000);
    },
  };
}
