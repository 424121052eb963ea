/**
 * Tailing a log: deliver every entry from a sequence on, in order, in batches, until aborted.
 * Works over any {@link EventLog}.
 *
 * @module
 */
import type { EventLog, LogEntry } from './event-log.ts';
import { sleep } from './waits.ts';

/** Options of {@link tailLog}. */
export interface TailOptions {
  /** First sequence to deliver. */
  readonly fromSeq: number;
  /** Most entries per batch. @default 500 */
  readonly batchSize?: number;
  /** Longest wait between polls when the log is idle. @default 1000 */
  readonly idleWaitMs?: number;
  /** Stops the tail; the returned promise then resolves. */
  readonly signal: AbortSignal;
  /** Called when reading or handling fails; the tail retries after `retryDelayMs`. */
  readonly onError?: (err: unknown) => void;
  /** @default 200 */
  readonly retryDelayMs?: number;
  /**
   * Least time, in ms, from the start of one batch to the next read unless the batch was full:
   * entries that arrive meanwhile are handled together, so a consumer that pays per batch (a
   * transaction, a commit) pays less often, at the price of up to this much more lag. Aborting
   * `signal` cuts the wait short. @default 0 (read again at once)
   */
  readonly coalesceMs?: number;
}

let tails = 0;

/**
 * Calls `handle` with each batch of entries, in order, from `fromSeq`. A batch is retried until
 * `handle` resolves (so `handle` must be idempotent); the next batch starts after it. Resolves
 * when `signal` aborts.
 */
export async function tailLog(
  log: EventLog,
  name: string,
  handle: (entries: LogEntry[]) => Promise<void> | void,
  options: TailOptions,
): Promise<void> {
  const opts = { signal: options.signal, readerId: `tail-${++tails}-${name}` };
  try {
    await tailLoop(log, name, handle, options, opts);
  } finally {
    log.endReader?.(name, opts.readerId);
  }
}

/** The loop of {@link tailLog}, reading as `opts.readerId`. */
async function tailLoop(
  log: EventLog,
  name: string,
  handle: (entries: LogEntry[]) => Promise<void> | void,
  options: TailOptions,
  opts: { signal: AbortSignal; readerId: string },
): Promise<void> {
  const { signal } = options;
  const batch = options.batchSize ?? 500;
  const idle = options.idleWaitMs ?? 1000;
  const retryMs = options.retryDelayMs ?? 200;
  const coalesceMs = options.coalesceMs ?? 0;
  let next = options.fromSeq;
  while (!signal.aborted) {
    try {
      const entries = await log.read(name, next, batch, opts);
      if (entries.length === 0) {
        await log.waitFor(name, next - 1, idle, opts);
        continue;
      }
      const startedMs = coalesceMs > 0 ? performance.now() : 0;
      await handle(entries);
      next = (entries.at(-1) as LogEntry).seq + 1;
      if (coalesceMs > 0 && entries.length < batch) {
        const leftMs = coalesceMs - (performance.now() - startedMs);
        if (leftMs > 0) await sleep(leftMs, signal);
      }
    } catch (err) {
      if (signal.aborted) break;
      options.onError?.(err);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, retryMs);
        signal.addEventListener(
          'abort',
          () => {
            clearTimeout(t);
            resolve();
          },
          { once: true },
        );
      });
    }
  }
}
