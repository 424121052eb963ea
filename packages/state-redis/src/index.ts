/**
 * `@ballast/state-redis`: rate limits (GCRA in Lua) and idempotency keys on Redis.
 *
 * @module
 */
export { createRedisIdempotencyStore, createRedisRateLimitStore } from './redis-rate-limit-store.ts';
export { classifyRedisError } from './classify.ts';
export { Redis } from 'ioredis';
