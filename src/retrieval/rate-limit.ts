// Retrieval's per-principal limiter is core's token bucket (one implementation for HTTP and retrieval).
export { createTokenBucket as createRateLimiter, type TokenBucket as RateLimiter } from '../core/index.js';
