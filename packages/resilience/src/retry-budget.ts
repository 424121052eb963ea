/**
 * Retry budget (Finagle's RetryBudget, gRPC retry throttling): retries may be at most
 * `percentCanRetry` of the requests seen in the last `ttlMs`, plus `minRetriesPerSec` as a floor,
 * so that retries cannot multiply load during an outage.
 *
 * @module
 */
import { systemClock, type Clock } from './clock.ts';

/** Options of {@link createRetryBudget}. */
export interface RetryBudgetOptions {
  /** Window over which requests and retries are counted. @default 10000 */
  readonly ttlMs?: number;
  /** Retries always allowed per second of the window. @default 10 */
  readonly minRetriesPerSec?: number;
  /** Fraction of requests that may be retried. @default 0.2 */
  readonly percentCanRetry?: number;
  /** @default systemClock */
  readonly clock?: Clock;
}

/** A shared retry budget. */
export interface RetryBudget {
  /** Counts one request (the first attempt of a call). */
  recordRequest(): void;
  /** Takes one retry from the budget; false when it is spent. */
  tryWithdraw(): boolean;
  /** Retries still allowed now. */
  readonly balance: number;
}

const SLOTS = 10;

/** Creates a retry budget. */
export function createRetryBudget(options: RetryBudgetOptions = {}): RetryBudget {
  const ttl = options.ttlMs ?? 10_000;
  const floor = (options.minRetriesPerSec ?? 10) * (ttl / 1000);
  const ratio = options.percentCanRetry ?? 0.2;
  const clock = options.clock ?? systemClock;
  const slotMs = ttl / SLOTS;
  const requests = new Float64Array(SLOTS);
  const retries = new Float64Array(SLOTS);
  let slotStart = Math.floor(clock.now() / slotMs);
  let reqSum = 0;
  let retrySum = 0;
  const roll = (): number => {
    const cur = Math.floor(clock.now() / slotMs);
    if (cur !== slotStart) {
      const steps = Math.min(SLOTS, cur - slotStart);
      for (let i = 1; i <= steps; i++) {
        const idx = (slotStart + i) % SLOTS;
        reqSum -= requests[idx] as number;
        retrySum -= retries[idx] as number;
        requests[idx] = 0;
        retries[idx] = 0;
      }
      slotStart = cur;
    }
    return cur % SLOTS;
  };
  const balance = (): number => Math.floor(floor + ratio * reqSum) - retrySum;
  return {
    recordRequest() {
      const i = roll();
      requests[i] = (requests[i] as number) + 1;
      reqSum++;
    },
    tryWithdraw() {
      const i = roll();
      if (balance() < 1) return false;
      retries[i] = (retries[i] as number) + 1;
      retrySum++;
      return true;
    },
    get balance() {
      roll();
      return balance();
    },
  };
}
