import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { tailLog, type EventLog, type LogEntry } from '@ballast/state';

/** An in-memory log, enough to drive `tailLog` (this test is about tailing, not storage). */
const memoryLog = () => {
  const entries: LogEntry[] = [];
  let wake: (() => void) | undefined;
  const log: EventLog = {
    append: async (_name, inputs) =>
      inputs.map((e) => {
        entries.push({ seq: entries.length + 1, key: e.key ?? null, payload: e.payload, timeMs: 0 });
        wake?.();
        return { seq: entries.length, duplicate: false };
      }),
    read: async (_name, fromSeq, limit) => entries.slice(fromSeq - 1, fromSeq - 1 + limit),
    lastSeq: async () => entries.length,
    waitFor: (_name, afterSeq, _maxWaitMs, options) =>
      entries.length > afterSeq || options?.signal?.aborted === true
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            wake = resolve;
            options?.signal?.addEventListener('abort', () => resolve(), { once: true });
          }),
  };
  const add = (payload: string) => log.append('l', [{ payload }]);
  return { log, add };
};

/** Lets the tail's pending promise callbacks run (the fake timers do not cover setImmediate). */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await turn();
};

describe('tailLog', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  it('hands over entries that arrive within coalesceMs of a batch together, in the next batch', async () => {
    const { log, add } = memoryLog();
    const batches: string[][] = [];
    const stop = new AbortController();
    await add('a');
    const tail = tailLog(log, 'l', (es) => void batches.push(es.map((e) => e.payload)), {
      fromSeq: 1,
      signal: stop.signal,
      coalesceMs: 20,
    });
    await settle();
    assert.deepEqual(batches, [['a']]);
    await add('b');
    await settle();
    assert.deepEqual(batches, [['a']], 'waits out the interval');
    await add('c');
    mock.timers.tick(20);
    await settle();
    assert.deepEqual(batches, [['a'], ['b', 'c']]);
    stop.abort();
    await tail;
  });

  it('reads again at once after a full batch, and at once after every batch without coalesceMs', async () => {
    for (const coalesceMs of [20, 0]) {
      const { log, add } = memoryLog();
      const batches: string[][] = [];
      const stop = new AbortController();
      for (const p of ['a', 'b', 'c']) await add(p);
      const tail = tailLog(log, 'l', (es) => void batches.push(es.map((e) => e.payload)), {
        fromSeq: 1,
        signal: stop.signal,
        batchSize: coalesceMs > 0 ? 2 : 1,
        coalesceMs,
      });
      await settle();
      assert.deepEqual(batches, coalesceMs > 0 ? [['a', 'b'], ['c']] : [['a'], ['b'], ['c']]);
      stop.abort();
      await tail;
    }
  });

  it('stops during the interval when aborted', async () => {
    const { log, add } = memoryLog();
    const stop = new AbortController();
    await add('a');
    let done = false;
    const tail = tailLog(log, 'l', () => undefined, { fromSeq: 1, signal: stop.signal, coalesceMs: 60_000 }).then(
      () => (done = true),
    );
    await settle();
    stop.abort();
    await settle();
    assert.equal(done, true);
    await tail;
  });
});
