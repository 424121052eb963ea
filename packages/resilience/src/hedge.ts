/**
 * Hedging: if the first attempt has not answered after a delay (fixed, or a percentile of recent
 * latencies), start another; the first success wins and the others are aborted through their
 * own signals. Hedges draw from the {@link RetryBudget} when one is given. Use only for
 * idempotent calls.
 *
 * @module
 */
import { BallastError, ErrorCode } from '@ballast/errors';
import { systemClock, type Clock } from './clock.ts';
import { Ctx } from './context.ts';
import { publish } from './events.ts';
import type { Policy } from './policy.ts';
import type { RetryBudget } from './retry-budget.ts';

/** Options of {@link hedge}. */
export interface HedgeOptions {
  /** Fixed delay in ms, or a latency percentile (0..1) of the last `window` calls. */
  readonly delay:
    | number
    | {
        readonly percentile: number;
        readonly window?: number;
        readonly minSamples?: number;
        readonly fallbackMs: number;
      };
  /** Extra attempts at most. @default 1 */
  readonly maxHedges?: number;
  readonly budget?: RetryBudget;
  /** @default systemClock */
  readonly clock?: Clock;
  /** @default 'hedge' */
  readonly name?: string;
}

/** Creates a hedging policy. */
export function hedge(options: HedgeOptions): Policy {
  const clock = options.clock ?? systemClock;
  const maxHedges = options.maxHedges ?? 1;
  const name = options.name ?? 'hedge';
  const d = options.delay;
  const window = typeof d === 'number' ? 0 : (d.window ?? 200);
  const samples: number[] = [];
  const delayMs = (): number => {
    if (typeof d === 'number') return d;
    if (samples.length < (d.minSamples ?? 20)) return d.fallbackMs;
    const sorted = [...samples].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(d.percentile * sorted.length))] as number;
  };
  const record = (ms: number): void => {
    if (window === 0) return;
    samples.push(ms);
    if (samples.length > window) samples.shift();
  };
  return {
    name,
    execute(next, ctx) {
      const c = ctx as Ctx;
      return new Promise((resolve, reject) => {
        const controllers: AbortController[] = [];
        let settled = false;
        let running = 0;
        let hedges = 0;
        let timer: unknown;
        let lastError: unknown;
        const started = clock.now();
        const finish = (): void => {
          settled = true;
          clock.clearTimeout(timer);
          const lost = new BallastError(ErrorCode.Cancelled, `${name}: another attempt won`);
          for (const ac of controllers) ac.abort(lost);
        };
        const launch = (attempt: number): void => {
          const ac = new AbortController();
          controllers.push(ac);
          const child = new Ctx(c.fn, c.parentSignal, c.deadlineMs, c.wheel, c.callerSignal);
          child.attempt = attempt;
          child.overrideSignal(AbortSignal.any([ac.signal, c.signal]));
          running++;
          next(child)
            .finally(() => child.release())
            .then(
              (v) => {
                running--;
                if (settled) return;
                record(clock.now() - started);
                controllers.splice(controllers.indexOf(ac), 1);
                finish();
                resolve(v);
              },
              (e: unknown) => {
                running--;
                lastError = e;
                if (!settled && running === 0 && (hedges >= maxHedges || timer === undefined)) {
                  finish();
                  reject(lastError);
                }
              },
            );
        };
        const schedule = (): void => {
          timer = clock.setTimeout(() => {
            timer = undefined;
            if (settled || hedges >= maxHedges) return;
            if (options.budget !== undefined && !options.budget.tryWithdraw()) {
              if (running === 0) {
                finish();
                reject(lastError);
              }
              return;
            }
            hedges++;
            publish.hedge(name, clock.now() - started);
            launch(hedges);
            if (hedges < maxHedges) schedule();
          }, delayMs());
        };
        options.budget?.recordRequest();
        launch(0);
        if (!settled) schedule();
      });
    },
  };
}
