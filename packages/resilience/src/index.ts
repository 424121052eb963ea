/**
 * `@ballast/resilience`: composable resilience policies on `AbortSignal`.
 *
 * @module
 */
export { systemClock, type Clock } from './clock.ts';
export type { CallContext } from './context.ts';
export { ResilienceChannel } from './events.ts';
export type { Next, Policy } from './policy.ts';
export { createPipeline, pipeline, type ExecuteOptions, type Pipeline, type PipelineOptions } from './pipeline.ts';
export { timeout, type TimeoutOptions } from './timeout.ts';
export { backoffDelay, defaultShouldRetry, retry, type BackoffOptions, type RetryOptions } from './retry.ts';
export { createRetryBudget, type RetryBudget, type RetryBudgetOptions } from './retry-budget.ts';
export {
  BreakerState,
  circuitBreaker,
  type BreakerMode,
  type BreakerSnapshot,
  type CircuitBreaker,
  type CircuitBreakerOptions,
} from './circuit-breaker.ts';
export { bulkhead, type Bulkhead, type BulkheadOptions } from './bulkhead.ts';
export { adaptiveLimit, type AdaptiveLimit, type AdaptiveLimitOptions } from './adaptive-limit.ts';
export {
  createMemoryRateLimitStore,
  gcraLimiter,
  rateLimit,
  tokenBucketLimiter,
  type GcraSpec,
  type RateDecision,
  type RateLimiter,
  type RateLimitStore,
} from './rate-limiter.ts';
export { hedge, type HedgeOptions } from './hedge.ts';
export { fallback } from './fallback.ts';
