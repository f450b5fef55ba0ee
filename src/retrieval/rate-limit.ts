// Per-principal token bucket: `ratePerSecond` sustained, `burst` at once. In memory, per
// process (a multi-process deployment would move it to a shared store).
import type { Clock } from '../core/index.js';

export interface RateLimiter {
  /** Takes one token for `key`; returns 0 when allowed, else milliseconds until one is free. */
  take(key: string): number;
}

/** A token bucket per key. */
export function createRateLimiter(options: { ratePerSecond: number; burst: number; clock: Clock; maxKeys?: number }): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const maxKeys = options.maxKeys ?? 100_000;
  return {
    take(key) {
      const now = options.clock.now().getTime();
      let b = buckets.get(key);
      if (b === undefined) {
        if (buckets.size >= maxKeys) buckets.delete(buckets.keys().next().value as string);
        b = { tokens: options.burst, at: now };
        buckets.set(key, b);
      }
      b.tokens = Math.min(options.burst, b.tokens + ((now - b.at) / 1000) * options.ratePerSecond);
      b.at = now;
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return 0;
      }
      return Math.ceil(((1 - b.tokens) / options.ratePerSecond) * 1000);
    },
  };
}
