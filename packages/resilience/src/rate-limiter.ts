/**
 * Rate limits: token bucket and GCRA (the generic cell rate algorithm), over a store port so the
 * same limiter runs in-process or on Redis (distributed mode). A refused call gets
 * `RES_RATE_LIMITED` with `retryAfterMs`.
 *
 * @module
 */
import { BallastError, ErrorCode } from '@ballast/errors';
import { systemClock, type Clock } from './clock.ts';
import { publish } from './events.ts';
import type { Policy } from './policy.ts';

/** The outcome of one check. */
export interface RateDecision {
  readonly allowed: boolean;
  /** When refused: wait at least this long. */
  readonly retryAfterMs: number;
}

/** GCRA parameters: one request per `emissionIntervalMs` on average, bursts up to `burst`. */
export interface GcraSpec {
  readonly emissionIntervalMs: number;
  readonly burst: number;
}

/** Where limiter state lives. Implementations must apply each check atomically per key. */
export interface RateLimitStore {
  /** GCRA: allows `cost` requests for `key` at `nowMs` or not. */
  gcra(key: string, nowMs: number, spec: GcraSpec, cost: number): Promise<RateDecision> | RateDecision;
}

/** In-process {@link RateLimitStore}: a map of theoretical arrival times. */
export function createMemoryRateLimitStore(): RateLimitStore {
  const tat = new Map<string, number>();
  return {
    gcra(key, nowMs, spec, cost) {
      const t = spec.emissionIntervalMs;
      const tolerance = t * (spec.burst - 1);
      const current = Math.max(tat.get(key) ?? nowMs, nowMs);
      const next = current + t * cost;
      const allowAt = next - t - tolerance;
      if (allowAt > nowMs) return { allowed: false, retryAfterMs: Math.ceil(allowAt - nowMs) };
      tat.set(key, next);
      return { allowed: true, retryAfterMs: 0 };
    },
  };
}

/** A limiter: checks by key. */
export interface RateLimiter {
  check(key: string, cost?: number): Promise<RateDecision>;
}

/** GCRA limiter: `ratePerSec` on average, bursts of `burst`. */
export function gcraLimiter(options: {
  ratePerSec: number;
  burst: number;
  store?: RateLimitStore;
  clock?: Clock;
}): RateLimiter {
  const store = options.store ?? createMemoryRateLimitStore();
  const clock = options.clock ?? systemClock;
  const spec: GcraSpec = { emissionIntervalMs: 1000 / options.ratePerSec, burst: Math.max(1, options.burst) };
  return { check: async (key, cost = 1) => store.gcra(key, clock.now(), spec, cost) };
}

/** Token bucket limiter (in-process): `capacity` tokens, refilled at `refillPerSec`. */
export function tokenBucketLimiter(options: { capacity: number; refillPerSec: number; clock?: Clock }): RateLimiter {
  const clock = options.clock ?? systemClock;
  const buckets = new Map<string, { tokens: number; atMs: number }>();
  return {
    async check(key, cost = 1) {
      const now = clock.now();
      let b = buckets.get(key);
      if (b === undefined) buckets.set(key, (b = { tokens: options.capacity, atMs: now }));
      b.tokens = Math.min(options.capacity, b.tokens + ((now - b.atMs) / 1000) * options.refillPerSec);
      b.atMs = now;
      if (b.tokens >= cost) {
        b.tokens -= cost;
        return { allowed: true, retryAfterMs: 0 };
      }
      return { allowed: false, retryAfterMs: Math.ceil(((cost - b.tokens) / options.refillPerSec) * 1000) };
    },
  };
}

/** A policy that checks `limiter` (under `key`) before each call. */
export function rateLimit(limiter: RateLimiter, options: { key?: string; name?: string } = {}): Policy {
  const key = options.key ?? 'default';
  const name = options.name ?? 'rate-limit';
  return {
    name,
    async execute(next, ctx) {
      const d = await limiter.check(key);
      if (!d.allowed) {
        publish.rejected(name, 'rate-limit', ErrorCode.ResRateLimited);
        throw new BallastError(ErrorCode.ResRateLimited, `${name}: rate limited`, {
          retryable: true,
          retryAfterMs: d.retryAfterMs,
        });
      }
      return next(ctx);
    },
  };
}
