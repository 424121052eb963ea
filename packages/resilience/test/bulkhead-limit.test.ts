import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock, flushMicrotasks } from '@ballast/testkit';
import {
  adaptiveLimit,
  bulkhead,
  createPipeline,
  createRetryBudget,
  fallback,
  gcraLimiter,
  hedge,
  rateLimit,
  timeout,
  tokenBucketLimiter,
} from '@ballast/resilience';
import { deferred, stateOf, transient } from './helpers.ts';

describe('bulkhead', () => {
  it('runs up to maxConcurrent, queues up to maxQueue, and refuses beyond with RES_BULKHEAD_FULL', async () => {
    const clock = new FakeClock(0);
    const bh = bulkhead({ maxConcurrent: 1, maxQueue: 1, clock });
    const p = createPipeline({ clock }, bh);
    const d = deferred<string>();
    const first = p.execute(() => d.promise);
    const second = p.execute(async () => 'second');
    await assert.rejects(
      p.execute(async () => 'third'),
      { code: 'RES_BULKHEAD_FULL', retryable: true },
    );
    assert.equal(await stateOf(second), 'pending');
    d.resolve('first');
    assert.deepEqual([await first, await second], ['first', 'second']);
  });

  it('a queued call whose signal aborts never runs', async () => {
    const clock = new FakeClock(0);
    const p = createPipeline({ clock }, bulkhead({ maxConcurrent: 1, maxQueue: 5, clock }));
    const d = deferred<string>();
    const first = p.execute(() => d.promise);
    const ac = new AbortController();
    let ran = false;
    const queued = p.execute(async () => (ran = true), { signal: ac.signal });
    ac.abort(new Error('client left'));
    await assert.rejects(queued, /client left/);
    d.resolve('x');
    await first;
    await flushMicrotasks();
    assert.equal(ran, false);
  });

  it('a call that waits longer than the queue timeout is refused', async () => {
    const clock = new FakeClock(0);
    const p = createPipeline({ clock }, bulkhead({ maxConcurrent: 1, maxQueue: 1, queueTimeoutMs: 100, clock }));
    void p.execute(() => new Promise(() => undefined));
    const queued = p.execute(async () => 'late');
    await clock.advance(101);
    await assert.rejects(queued, { code: 'RES_BULKHEAD_FULL' });
  });
});

describe('adaptive limit', () => {
  it('sheds calls beyond the limit with RES_LIMIT_EXCEEDED', async () => {
    const lim = adaptiveLimit({ initialLimit: 2, algorithm: 'aimd' });
    const p = createPipeline({}, lim);
    const d = deferred();
    const a = p.execute(() => d.promise);
    const b = p.execute(() => d.promise);
    await assert.rejects(
      p.execute(async () => 1),
      { code: 'RES_LIMIT_EXCEEDED', retryable: true },
    );
    d.resolve(1);
    await Promise.all([a, b]);
  });

  it('AIMD grows while the limit is used and shrinks on timeouts', async () => {
    let t = 0;
    const lim = adaptiveLimit({ algorithm: 'aimd', initialLimit: 4, now: () => t });
    const p = createPipeline({}, lim);
    for (let i = 0; i < 3; i++) {
      const ds = [deferred(), deferred(), deferred()];
      const calls = ds.map((d) => p.execute(() => d.promise));
      for (const d of ds) d.resolve(1);
      await Promise.all(calls);
    }
    const grown = lim.limit;
    assert.ok(grown > 4, `limit grew to ${grown}`);
    await p
      .execute(async () => {
        throw Object.assign(new Error('slow'), { code: 'RES_TIMEOUT' });
      })
      .catch(() => undefined);
    assert.ok(lim.limit < grown);
    t = 0;
  });

  it('Gradient2 lowers the limit when latency rises above its long-term average', async () => {
    let t = 0;
    const lim = adaptiveLimit({ algorithm: 'gradient2', initialLimit: 50, now: () => t });
    const p = createPipeline({}, lim);
    const call = (ms: number) =>
      p.execute(async () => {
        t += ms;
      });
    for (let i = 0; i < 100; i++) await call(10);
    const before = lim.limit;
    for (let i = 0; i < 30; i++) await call(60);
    assert.ok(lim.limit < before, `${lim.limit} < ${before}`);
  });
});

describe('rate limiters', () => {
  it('GCRA allows a burst, then one per interval, and says when to retry', async () => {
    const clock = new FakeClock(0);
    const l = gcraLimiter({ ratePerSec: 10, burst: 3, clock });
    const got = [];
    for (let i = 0; i < 4; i++) got.push((await l.check('k')).allowed);
    assert.deepEqual(got, [true, true, true, false]);
    const refused = await l.check('k');
    assert.equal(refused.retryAfterMs, 100);
    await clock.advance(100);
    assert.equal((await l.check('k')).allowed, true);
    assert.equal((await l.check('other')).allowed, true); // keys are separate
  });

  it('token bucket refills at its rate', async () => {
    const clock = new FakeClock(0);
    const l = tokenBucketLimiter({ capacity: 2, refillPerSec: 4, clock });
    assert.deepEqual(
      [(await l.check('k')).allowed, (await l.check('k')).allowed, (await l.check('k')).allowed],
      [true, true, false],
    );
    await clock.advance(250);
    assert.equal((await l.check('k')).allowed, true);
  });

  it('as a policy, refuses with RES_RATE_LIMITED and retryAfterMs', async () => {
    const clock = new FakeClock(0);
    const p = createPipeline({ clock }, rateLimit(gcraLimiter({ ratePerSec: 1, burst: 1, clock })));
    await p.execute(async () => 1);
    await assert.rejects(
      p.execute(async () => 1),
      (e: any) => e.code === 'RES_RATE_LIMITED' && e.retryAfterMs === 1000,
    );
  });
});

describe('hedging', () => {
  /** Runs a call whose first attempt never answers and whose hedge answers 'hedged'; keeps each attempt's signal. */
  const race = (p: ReturnType<typeof createPipeline>) => {
    const signals: AbortSignal[] = [];
    const slow = deferred<string>();
    const call = p.execute((ctx) => {
      signals.push(ctx.signal);
      return ctx.attempt === 0 ? slow.promise : Promise.resolve('hedged');
    });
    return { call, signals };
  };

  it('starts a second attempt after the delay; the first success wins and the loser is aborted', async () => {
    const clock = new FakeClock(0);
    const { call, signals } = race(createPipeline({ clock }, hedge({ delay: 50, clock })));
    await clock.advance(49);
    assert.equal(signals.length, 1);
    await clock.advance(1);
    assert.equal(await call, 'hedged');
    assert.equal(signals[0]?.aborted, true);
    assert.equal(signals[1]?.aborted, false);
  });

  it('aborts the losing attempt also when a timeout inside the hedge gives each attempt its own deadline', async () => {
    const clock = new FakeClock(0);
    const { call, signals } = race(createPipeline({ clock }, hedge({ delay: 50, clock }), timeout(1000, { clock })));
    await clock.advance(50);
    assert.equal(await call, 'hedged');
    assert.equal(signals[0]?.aborted, true, 'the loser is told to stop');
    assert.equal((signals[0]?.reason as { code?: string }).code, 'CANCELLED');
    assert.equal(signals[1]?.aborted, false);
  });

  it('does not hedge when the budget refuses', async () => {
    const clock = new FakeClock(0);
    const budget = createRetryBudget({ clock, minRetriesPerSec: 0, percentCanRetry: 0 });
    const p = createPipeline({ clock }, hedge({ delay: 10, clock, budget }));
    let attempts = 0;
    const d = deferred<string>();
    const call = p.execute(() => {
      attempts++;
      return d.promise;
    });
    await clock.advance(100);
    d.resolve('only');
    assert.equal(await call, 'only');
    assert.equal(attempts, 1);
  });
});

describe('fallback', () => {
  it('answers with the fallback when the call fails with a matching error', async () => {
    const p = createPipeline({}, fallback('cached', { when: (e) => (e as any).retryable === true }));
    assert.equal(await p.execute(async () => Promise.reject(transient())), 'cached');
    await assert.rejects(
      p.execute(async () => Promise.reject(new Error('bug'))),
      /bug/,
    );
  });
});
