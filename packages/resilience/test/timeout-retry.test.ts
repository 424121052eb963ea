import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FakeClock, flushMicrotasks } from '@ballast/testkit';
import { createPipeline, createRetryBudget, hedge, retry, timeout, backoffDelay } from '@ballast/resilience';
import { deferred, permanent, stateOf, transient } from './helpers.ts';

describe('timeout', () => {
  it('gives the callee a signal that aborts with RES_TIMEOUT at the deadline (cooperative)', async () => {
    const clock = new FakeClock(1000);
    const p = createPipeline({ clock }, timeout(100, { clock }));
    let seen: AbortSignal | undefined;
    const call = p.execute(
      (ctx) =>
        new Promise((_res, rej) => {
          seen = ctx.signal;
          ctx.signal.addEventListener('abort', () => rej(ctx.signal.reason));
        }),
    );
    await clock.advance(99);
    assert.equal(seen?.aborted, false);
    await clock.advance(6); // deadline rounded up to its 5 ms slot
    await assert.rejects(call, { code: 'RES_TIMEOUT', retryable: true });
  });

  it("with a caller's signal too, the callee's signal aborts with whichever comes first, and a settled call leaves no listener on the caller's signal", async () => {
    const clock = new FakeClock(1000);
    const p = createPipeline({ clock }, timeout(100, { clock }));
    const waitAbort = (ctx: { signal: AbortSignal }) =>
      new Promise((_res, rej) => ctx.signal.addEventListener('abort', () => rej(ctx.signal.reason)));
    // The deadline first.
    const caller = new AbortController();
    const timedOut = p.execute(waitAbort, { signal: caller.signal });
    await clock.advance(105);
    await assert.rejects(timedOut, { code: 'RES_TIMEOUT' });
    // The caller first, with its own reason.
    const leaving = new AbortController();
    const left = p.execute(waitAbort, { signal: leaving.signal });
    const reason = new Error('client left');
    leaving.abort(reason);
    await assert.rejects(left, (e) => e === reason);
    // A long-lived caller signal used by many calls that end normally gathers no listeners.
    const root = new AbortController();
    for (let i = 0; i < 50; i++) await p.execute(async (ctx) => ctx.signal.aborted, { signal: root.signal });
    assert.equal(getEventListeners(root.signal, 'abort').length, 0);
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
    // …nor through a hedge whose attempts each get their own deadline, nor when the signal is
    // first read after the call settled (a callee still running past an aggressive timeout).
    const hedged = createPipeline({ clock }, hedge({ delay: 1000, clock }), timeout(500, { clock }));
    for (let i = 0; i < 20; i++) await hedged.execute(async (ctx) => ctx.signal.aborted, { signal: root.signal });
    let late: { signal: AbortSignal } | undefined;
    const aggressive = createPipeline({ clock }, timeout(100, { clock, aggressive: true }));
    const gone = aggressive.execute(
      (ctx) => {
        late = ctx;
        return new Promise(() => undefined);
      },
      { signal: root.signal },
    );
    await clock.advance(105);
    await assert.rejects(gone, { code: 'RES_TIMEOUT' });
    const lateSignal = late?.signal as AbortSignal; // read now, after the call settled
    await clock.advance(5); // a deadline already past aborts on the wheel's next tick
    assert.equal(lateSignal.aborted, true);
    assert.equal(getEventListeners(root.signal, 'abort').length, 0);
  });

  it('shares one signal among calls whose deadlines fall in the same slot', async () => {
    const clock = new FakeClock(0);
    const p = createPipeline({ clock }, timeout(100, { clock }));
    const signals: AbortSignal[] = [];
    await p.execute(async (ctx) => signals.push(ctx.signal));
    await p.execute(async (ctx) => signals.push(ctx.signal));
    assert.equal(signals[0], signals[1]);
    assert.equal(clock.pendingTimers, 1);
  });

  it('aggressive: rejects at the deadline even when the callee ignores its signal', async () => {
    const clock = new FakeClock(0);
    const p = createPipeline({ clock }, timeout(50, { clock, aggressive: true }));
    const call = p.execute(() => new Promise(() => undefined));
    await clock.advance(55);
    await assert.rejects(call, { code: 'RES_TIMEOUT' });
  });

  it('keeps an earlier inbound deadline (propagation into nested calls)', async () => {
    const clock = new FakeClock(0);
    const outer = createPipeline({ clock }, timeout(100, { clock }));
    const inner = createPipeline({ clock }, timeout(1000, { clock }));
    const deadlines = await outer.execute((ctx) =>
      inner.execute(async (c2) => [ctx.deadlineMs, c2.deadlineMs], { parent: ctx }),
    );
    assert.deepEqual(deadlines, [100, 100]);
  });

  it('does not start a call whose deadline already passed', async () => {
    const clock = new FakeClock(500);
    const p = createPipeline({ clock }, timeout(10, { clock }));
    let ran = false;
    await assert.rejects(
      p.execute(async () => (ran = true), { deadlineMs: 400 }),
      { code: 'RES_TIMEOUT' },
    );
    assert.equal(ran, false);
  });
});

describe('retry', () => {
  it('retries retryable errors until success', async () => {
    const clock = new FakeClock(0);
    const p = createPipeline({ clock }, retry({ maxAttempts: 3, clock, random: () => 0.5 }));
    let calls = 0;
    const call = p.execute(async (ctx) => {
      calls++;
      if (ctx.attempt < 2) throw transient();
      return 'ok';
    });
    await clock.advance(1000);
    assert.equal(await call, 'ok');
    assert.equal(calls, 3);
  });

  it('does not retry an error that is not retryable', async () => {
    const clock = new FakeClock(0);
    const p = createPipeline({ clock }, retry({ maxAttempts: 5, clock }));
    let calls = 0;
    await assert.rejects(
      p.execute(async () => {
        calls++;
        throw permanent();
      }),
      /permanent/,
    );
    assert.equal(calls, 1);
  });

  it('stops at maxAttempts and throws the last error', async () => {
    const clock = new FakeClock(0);
    const p = createPipeline({ clock }, retry({ maxAttempts: 3, clock, random: () => 0 }));
    let calls = 0;
    const call = p.execute(async () => {
      calls++;
      throw transient(`fail ${calls}`);
    });
    await clock.advance(10_000);
    await assert.rejects(call, /fail 3/);
    assert.equal(calls, 3);
  });

  it('fails fast on an inner circuit-open error, and on a retry-after beyond its backoff cap', async () => {
    const clock = new FakeClock(0);
    const p = createPipeline({ clock }, retry({ maxAttempts: 5, clock, backoff: { maxMs: 100 } }));
    let calls = 0;
    await assert.rejects(
      p.execute(async () => {
        calls++;
        throw Object.assign(transient(), { code: 'RES_CIRCUIT_OPEN', retryAfterMs: 10 });
      }),
      { code: 'RES_CIRCUIT_OPEN' },
    );
    await assert.rejects(
      p.execute(async () => {
        calls++;
        throw Object.assign(transient(), { retryAfterMs: 5000 });
      }),
    );
    assert.equal(calls, 2);
  });

  it('honours a retry-after hint longer than its own backoff', async () => {
    const clock = new FakeClock(0);
    const p = createPipeline({ clock }, retry({ maxAttempts: 2, clock, random: () => 0 }));
    let calls = 0;
    const call = p.execute(async () => {
      if (++calls === 1) throw Object.assign(transient(), { retryAfterMs: 300 });
      return 'ok';
    });
    await clock.advance(299);
    assert.equal(calls, 1);
    await clock.advance(2);
    assert.equal(await call, 'ok');
  });

  it('never retries after the caller aborted, and an abort during backoff stops at once', async () => {
    const clock = new FakeClock(0);
    const p = createPipeline({ clock }, retry({ maxAttempts: 5, clock, backoff: { jitter: 'none', baseMs: 1000 } }));
    const ac = new AbortController();
    let calls = 0;
    const call = p.execute(
      async () => {
        calls++;
        throw transient();
      },
      { signal: ac.signal },
    );
    await flushMicrotasks();
    ac.abort(new Error('caller gave up'));
    await assert.rejects(call, /caller gave up/);
    await clock.advance(10_000);
    assert.equal(calls, 1);
  });

  it('does not retry past the deadline', async () => {
    const clock = new FakeClock(0);
    const p = createPipeline({ clock }, retry({ maxAttempts: 5, clock, backoff: { jitter: 'none', baseMs: 100 } }));
    let calls = 0;
    const call = p.execute(
      async () => {
        calls++;
        throw transient();
      },
      { deadlineMs: 150 },
    );
    await clock.advance(1000);
    await assert.rejects(call);
    assert.equal(calls, 2); // 0 → 100 → (200 would pass 150)
  });

  it('backs off exponentially with full jitter within the cap, and decorrelated within [base, 3 × previous]', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.double({ min: 0, max: 0.999, noNaN: true }), (attempt, r) => {
        const full = backoffDelay(attempt, 0, { jitter: 'full', baseMs: 10, maxMs: 1000 }, () => r);
        assert.ok(full >= 0 && full <= Math.min(1000, 10 * 2 ** (attempt - 1)));
        const dec = backoffDelay(attempt, 40, { jitter: 'decorrelated', baseMs: 10, maxMs: 1000 }, () => r);
        assert.ok(dec >= 10 && dec <= 120);
      }),
    );
  });
});

describe('retry budget', () => {
  it('stops retrying when the budget is spent, and the call fails with its last error', async () => {
    const clock = new FakeClock(0);
    const budget = createRetryBudget({ clock, ttlMs: 1000, minRetriesPerSec: 2, percentCanRetry: 0 });
    const p = createPipeline({ clock }, retry({ maxAttempts: 10, clock, budget, random: () => 0 }));
    let calls = 0;
    const call = p.execute(async () => {
      calls++;
      throw transient();
    });
    await clock.advance(500);
    await assert.rejects(call);
    assert.equal(calls, 3); // 1 + the 2 retries of the floor
  });

  it('property: total attempts <= requests × (1 + ratio) + floor, whatever fails', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }), async (outcomes) => {
        const clock = new FakeClock(0);
        const budget = createRetryBudget({ clock, ttlMs: 10_000, minRetriesPerSec: 0.5, percentCanRetry: 0.1 });
        const p = createPipeline({ clock }, retry({ maxAttempts: 4, clock, budget, random: () => 0 }));
        let attempts = 0;
        let i = 0;
        for (const fail of outcomes) {
          const call = p.execute(async () => {
            attempts++;
            if (fail || i++ % 3 === 0) throw transient();
            return 1;
          });
          await clock.advance(1);
          await call.catch(() => undefined);
        }
        assert.ok(attempts <= outcomes.length * 1.1 + 5, `${attempts} attempts for ${outcomes.length} requests`);
      }),
      { numRuns: 50 },
    );
  });
});

describe('stateOf helper', () => {
  it('tells pending from settled', async () => {
    const d = deferred();
    assert.equal(await stateOf(d.promise), 'pending');
    d.resolve(1);
    assert.equal(await stateOf(d.promise), 'fulfilled');
  });
});
