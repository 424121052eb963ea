/**
 * Rate limiting on Redis: GCRA in one Lua script (atomic per key, one round trip), the same
 * algorithm as the in-process store of `@ballast/resilience`, so limits hold across every
 * gateway replica. Times are the caller's clock (ms); keys expire once idle.
 *
 * @module
 */
import type { GcraSpec, RateDecision, RateLimitStore } from '@ballast/resilience';
import type { Redis } from 'ioredis';
import { classifyRedisError } from './classify.ts';

// KEYS[1] key; ARGV: now, emission interval, burst tolerance, cost. Returns { allowed, retryAfterMs }.
const GCRA = `
local now = tonumber(ARGV[1])
local t = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local nxt = tat + t * cost
local allow_at = nxt - t - tolerance
if allow_at > now then
  return {0, math.ceil(allow_at - now)}
end
redis.call('SET', KEYS[1], tostring(nxt), 'PX', math.ceil(nxt - now + tolerance + t))
return {1, 0}
`;

/** A {@link RateLimitStore} on Redis; keys are prefixed with `prefix`. */
export function createRedisRateLimitStore(redis: Redis, options: { prefix?: string } = {}): RateLimitStore {
  const prefix = options.prefix ?? 'ballast:rl:';
  return {
    async gcra(key: string, nowMs: number, spec: GcraSpec, cost: number): Promise<RateDecision> {
      try {
        const tolerance = spec.emissionIntervalMs * (spec.burst - 1);
        const r = (await redis.eval(GCRA, 1, prefix + key, nowMs, spec.emissionIntervalMs, tolerance, cost)) as [
          number,
          number,
        ];
        return { allowed: r[0] === 1, retryAfterMs: r[1] };
      } catch (err) {
        throw classifyRedisError(err, `rate limit ${key}`);
      }
    },
  };
}

/**
 * Idempotency keys on Redis: `claim` succeeds once per key within `ttlMs` (`SET NX PX`), so a
 * retried request can be recognised by any replica.
 */
export function createRedisIdempotencyStore(redis: Redis, options: { prefix?: string } = {}) {
  const prefix = options.prefix ?? 'ballast:idem:';
  return {
    /** True the first time `key` is claimed within `ttlMs`; false for a repeat. */
    async claim(key: string, value: string, ttlMs: number): Promise<boolean> {
      try {
        return (await redis.set(prefix + key, value, 'PX', ttlMs, 'NX')) === 'OK';
      } catch (err) {
        throw classifyRedisError(err, `claim ${key}`);
      }
    },
    /** The value stored by the first claim, or `undefined`. */
    async get(key: string): Promise<string | undefined> {
      try {
        return (await redis.get(prefix + key)) ?? undefined;
      } catch (err) {
        throw classifyRedisError(err, `read ${key}`);
      }
    },
  };
}
