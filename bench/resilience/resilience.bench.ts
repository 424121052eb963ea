/**
 * Resilience benchmark, one process run:
 *
 * 1. Overhead per call over a bare `await fn()`, ops/s and heap bytes per call, for: Ballast's
 *    breaker; Ballast's retry+breaker+timeout (the callee reads its cancellable signal);
 *    cockatiel's breaker; cockatiel's wrap(retry, circuitBreaker, timeout); opossum (defaults).
 *    Warm-up, then `--reps` repetitions (median).
 * 2. Behaviour under a fault: a dependency that, for 10 s, fails half its calls and answers 10×
 *    slower, then recovers; a constant arrival rate; Ballast and cockatiel with equivalent
 *    settings. Reported: calls that reached the dependency while it failed, time from recovery to
 *    the breaker closing, client success ratio, p99 latency.
 *
 *   npm run bench:resilience -- [--reps R] [--calls N] [--fault-seconds S] [--rate R]
 *
 * Last line: one JSON object.
 *
 * @module
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { BallastError, ErrorCode } from '@ballast/errors';
import { circuitBreaker, createRetryBudget, pipeline, retry, timeout } from '@ballast/resilience';
import {
  ConsecutiveBreaker,
  CountBreaker,
  ExponentialBackoff,
  TimeoutStrategy,
  circuitBreaker as cBreaker,
  handleAll,
  retry as cRetry,
  timeout as cTimeout,
  wrap,
} from 'cockatiel';
import CircuitBreakerOpossum from 'opossum';
import hdr from 'hdr-histogram-js';
import { intFlag, parseBenchArgs } from '../lib/args.ts';
import { median } from '../lib/stats.ts';

const args = parseBenchArgs(process.argv.slice(2), {
  reps: { type: 'string' },
  calls: { type: 'string' },
  'fault-seconds': { type: 'string' },
  rate: { type: 'string' },
});
const reps = intFlag('reps', args.reps, 5);
const calls = intFlag('calls', args.calls, 300_000);
const faultSeconds = intFlag('fault-seconds', args['fault-seconds'], 10);
const rate = intFlag('rate', args.rate, 400);
const gc = (globalThis as { gc?: () => void }).gc;
const log = (m: string): void => void process.stderr.write(`${m}\n`);

// ------------------------------------------------------------------ 1. overhead

const fn = async (): Promise<number> => 1;
const subjects: Record<string, () => Promise<unknown>> = {};
subjects.bare = () => fn();
const ballastBreaker = pipeline(circuitBreaker({ mode: { kind: 'consecutive', failures: 5 } }));
subjects.ballastBreaker = () => ballastBreaker.execute(fn);
const ballastPipeline = pipeline(
  retry({ maxAttempts: 3 }),
  circuitBreaker({ mode: { kind: 'consecutive', failures: 5 } }),
  timeout(1000),
);
subjects.ballastPipeline = () =>
  ballastPipeline.execute((ctx) => {
    if (ctx.signal.aborted) throw ctx.signal.reason; // the callee gets, and reads, a cancellable signal
    return fn();
  });
const cockatielBreaker = cBreaker(handleAll, { halfOpenAfter: 5000, breaker: new ConsecutiveBreaker(5) });
subjects.cockatielBreaker = () => cockatielBreaker.execute(() => fn());
const cockatielPipeline = wrap(
  cRetry(handleAll, { maxAttempts: 2 }),
  cBreaker(handleAll, { halfOpenAfter: 5000, breaker: new ConsecutiveBreaker(5) }),
  cTimeout(1000, TimeoutStrategy.Cooperative),
);
subjects.cockatielPipeline = () =>
  cockatielPipeline.execute(({ signal }) => {
    if (signal.aborted) throw signal.reason;
    return fn();
  });
const opossum = new CircuitBreakerOpossum(fn);
subjects.opossum = () => opossum.fire();

async function nsPerCall(f: () => Promise<unknown>, n: number): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < n; i++) await f();
  return ((performance.now() - t) * 1e6) / n;
}

let gcDuring = 0;
new PerformanceObserver((list) => (gcDuring += list.getEntries().length)).observe({ entryTypes: ['gc'] });

/** Heap bytes allocated per call, measured over a run with no GC inside it (retried smaller if one happened). */
async function bytesPerCall(f: () => Promise<unknown>): Promise<number | null> {
  if (gc === undefined) return null;
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  };
  for (let n = 20_000; n >= 500; n = Math.floor(n / 2)) {
    gc();
    await settle(); // the observer reports the forced GC before the measurement starts
    gcDuring = 0;
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < n; i++) await f();
    const after = process.memoryUsage().heapUsed;
    await settle();
    if (gcDuring === 0 && after >= before) return Math.round((after - before) / n);
  }
  return null;
}

const overhead: Record<string, { ns: number; opsPerSec: number; bytesPerCall: number | null }> = {};
for (const f of Object.values(subjects)) await nsPerCall(f, 50_000); // warm-up
const samples: Record<string, number[]> = Object.fromEntries(Object.keys(subjects).map((k) => [k, []]));
for (let r = 0; r < reps; r++) {
  for (const [name, f] of Object.entries(subjects)) {
    gc?.();
    samples[name]!.push(await nsPerCall(f, calls));
  }
}
const bareNs = median(samples.bare!);
for (const [name, f] of Object.entries(subjects)) {
  const ns = median(samples[name]!);
  overhead[name] = {
    ns: Math.round((ns - bareNs) * 10) / 10,
    opsPerSec: Math.round(1e9 / ns),
    bytesPerCall: await bytesPerCall(f),
  };
  log(
    `${name.padEnd(18)} ${ns.toFixed(0)} ns/call, overhead ${(ns - bareNs).toFixed(0)} ns, ${overhead[name].bytesPerCall ?? '?'} B/call`,
  );
}

// ------------------------------------------------------------------ 2. behaviour under a fault

interface FaultResult {
  callsDuringFault: number;
  reachedDependencyDuringFault: number;
  recoveryToClosedMs: number | null;
  successRatio: number;
  p99Ms: number;
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });

async function faultRun(
  kind: 'ballast' | 'cockatiel',
  warmMs = 2000,
  faultMs = faultSeconds * 1000,
  tailMs = 4000,
): Promise<FaultResult> {
  // Start each run from a quiet heap, so neither pays for the garbage of what ran before.
  gc?.();
  await sleep(500);
  gc?.();
  const t0 = performance.now();
  const phase = (): 'warm' | 'fault' | 'after' => {
    const t = performance.now() - t0;
    return t < warmMs ? 'warm' : t < warmMs + faultMs ? 'fault' : 'after';
  };
  let reached = 0;
  let rnd = 1;
  const random = (): number => (rnd = (rnd * 48271) % 2147483647) / 2147483647;
  const dependency = async (signal?: AbortSignal): Promise<number> => {
    const failing = phase() === 'fault';
    if (failing) reached++;
    await sleep(failing ? 10 : 1, signal);
    if (failing && random() < 0.5)
      throw new BallastError(ErrorCode.StateConnection, 'dependency failed', { retryable: true });
    return 1;
  };
  let closedAt: number | null = null;
  const recoveryAt = t0 + warmMs + faultMs;
  const onClosed = (): void => {
    if (closedAt === null && performance.now() >= recoveryAt) closedAt = performance.now();
  };
  let call: () => Promise<unknown>;
  if (kind === 'ballast') {
    // Equivalent to cockatiel's: count window of 20, 50%, at least 10 calls, 1 s open (no backoff).
    const breaker = circuitBreaker({
      mode: { kind: 'count', size: 20, failureRatePct: 50, minimumCalls: 10 },
      openMs: 1000,
      backoffFactor: 1,
      name: 'fault',
    });
    const p = pipeline(
      retry({
        maxAttempts: 3,
        budget: createRetryBudget({ percentCanRetry: 0.2, minRetriesPerSec: 10 }),
        backoff: { baseMs: 10, maxMs: 100 },
      }),
      breaker,
      timeout(50),
    );
    call = () => p.execute((ctx) => dependency(ctx.signal));
    const { subscribe } = await import('node:diagnostics_channel');
    subscribe('ballast:resilience:breaker-state', (m) => {
      const e = m as { name: string; to: string };
      if (e.name === 'fault' && e.to === 'CLOSED') onClosed();
    });
  } else {
    const cb = cBreaker(handleAll, {
      halfOpenAfter: 1000,
      breaker: new CountBreaker({ threshold: 0.5, size: 20, minimumNumberOfCalls: 10 }),
    });
    cb.onReset(onClosed);
    const p = wrap(
      cRetry(handleAll, { maxAttempts: 2, backoff: new ExponentialBackoff({ initialDelay: 10, maxDelay: 100 }) }),
      cb,
      cTimeout(50, TimeoutStrategy.Cooperative),
    );
    call = () => p.execute(({ signal }) => dependency(signal));
  }
  const hist = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const total = Math.round(((warmMs + faultMs + tailMs) / 1000) * rate);
  let ok = 0;
  let duringFault = 0;
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const intended = t0 + (i * 1000) / rate;
    const wait = intended - performance.now();
    if (wait > 1) await sleep(wait);
    if (phase() === 'fault') duringFault++;
    pending.push(
      call().then(
        () => {
          ok++;
          hist.recordValue(Math.max(1, Math.round((performance.now() - intended) * 1000)));
        },
        () => void hist.recordValue(Math.max(1, Math.round((performance.now() - intended) * 1000))),
      ),
    );
  }
  await Promise.all(pending);
  const result = {
    callsDuringFault: duringFault,
    reachedDependencyDuringFault: reached,
    recoveryToClosedMs: closedAt === null ? null : Math.round((closedAt as number) - recoveryAt),
    successRatio: Math.round((ok / total) * 1000) / 1000,
    p99Ms: hist.getValueAtPercentile(99) / 1000,
  };
  hist.destroy();
  return result;
}

log(`fault: ${faultSeconds} s of 50% failures at 10× latency, ${rate} calls/s`);
// A short unmeasured round of each first, so neither measured run pays for warming up.
await faultRun('ballast', 500, 1500, 500);
await faultRun('cockatiel', 500, 1500, 500);
const ballastFault = await faultRun('ballast');
log(`ballast:   ${JSON.stringify(ballastFault)}`);
const cockatielFault = await faultRun('cockatiel');
log(`cockatiel: ${JSON.stringify(cockatielFault)}`);

const ratio = Math.round((overhead.cockatielPipeline!.ns / overhead.ballastPipeline!.ns) * 10) / 10;
console.log(
  JSON.stringify({
    bench: 'resilience',
    node: process.version,
    reps,
    overheadNs: {
      ballastPipeline: overhead.ballastPipeline!.ns,
      ballastBreaker: overhead.ballastBreaker!.ns,
      cockatielPipeline: overhead.cockatielPipeline!.ns,
      cockatielBreaker: overhead.cockatielBreaker!.ns,
      opossum: overhead.opossum!.ns,
    },
    opsPerSec: Object.fromEntries(Object.entries(overhead).map(([k, v]) => [k, v.opsPerSec])),
    bytesPerCall: Object.fromEntries(Object.entries(overhead).map(([k, v]) => [k, v.bytesPerCall])),
    ratioPipeline: ratio,
    fault: { ballast: ballastFault, cockatiel: cockatielFault },
  }),
);
