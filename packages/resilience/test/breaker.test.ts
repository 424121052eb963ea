import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import fc from 'fast-check';
import { FakeClock } from '@ballast/testkit';
import { BreakerState, ResilienceChannel, circuitBreaker, createPipeline, timeout } from '@ballast/resilience';
import { deferred, transient } from './helpers.ts';

const ok = async () => 'ok';
const boom = async () => {
  throw transient();
};

describe('circuit breaker', () => {
  it('opens after N consecutive failures and rejects at once with RES_CIRCUIT_OPEN and retry-after', async () => {
    const clock = new FakeClock(0);
    const b = circuitBreaker({ mode: { kind: 'consecutive', failures: 2 }, openMs: 1000, clock });
    const p = createPipeline({ clock }, b);
    await assert.rejects(p.execute(boom));
    assert.equal(b.state, 'CLOSED');
    await assert.rejects(p.execute(boom));
    assert.equal(b.state, 'OPEN');
    let called = false;
    await assert.rejects(
      p.execute(async () => (called = true)),
      (e: any) => e.code === 'RES_CIRCUIT_OPEN' && e.retryable === true && e.retryAfterMs === 1000,
    );
    assert.equal(called, false);
  });

  it('a success resets the consecutive count', async () => {
    const clock = new FakeClock(0);
    const b = circuitBreaker({ mode: { kind: 'consecutive', failures: 2 }, clock });
    const p = createPipeline({ clock }, b);
    await assert.rejects(p.execute(boom));
    await p.execute(ok);
    await assert.rejects(p.execute(boom));
    assert.equal(b.state, 'CLOSED');
  });

  it("counts a call its caller aborted neither as a failure nor as a success: it neither resets the consecutive count nor closes a half-open breaker, and frees the probe's slot", async () => {
    const clock = new FakeClock(0);
    const b = circuitBreaker({ mode: { kind: 'consecutive', failures: 2 }, openMs: 1000, clock });
    const p = createPipeline({ clock }, b);
    const hangUp = async () => {
      const caller = new AbortController();
      const reason = new Error('client left');
      const call = p.execute(
        (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
        {
          signal: caller.signal,
        },
      );
      caller.abort(reason);
      await assert.rejects(call, (e) => e === reason);
    };
    await assert.rejects(p.execute(boom));
    await hangUp(); // would reset the count if it were a success
    await assert.rejects(p.execute(boom));
    assert.equal(b.state, 'OPEN');
    await clock.advance(1000);
    await hangUp(); // the probe's caller left: still half-open, and the slot is free again
    assert.equal(b.state, 'HALF_OPEN');
    assert.equal(await p.execute(ok), 'ok');
    assert.equal(b.state, 'CLOSED');
    // A deadline inherited from an outer call is not the caller giving up: its timeout counts.
    const outer = createPipeline({ clock }, timeout(100, { clock }));
    const inner = createPipeline({ clock }, circuitBreaker({ mode: { kind: 'consecutive', failures: 1 }, clock }));
    const nested = outer.execute((ctx) =>
      inner.execute(
        (inCtx) =>
          new Promise((_, reject) => inCtx.signal.addEventListener('abort', () => reject(inCtx.signal.reason))),
        {
          parent: ctx,
        },
      ),
    );
    await clock.advance(105);
    await assert.rejects(nested, { code: 'RES_TIMEOUT' });
    await assert.rejects(inner.execute(ok), { code: 'RES_CIRCUIT_OPEN' });
    // A failure that is not the caller's abort, while its caller is still there, still counts.
    const stillThere = new AbortController();
    await assert.rejects(p.execute(boom, { signal: stillThere.signal }));
    await assert.rejects(p.execute(boom, { signal: stillThere.signal }));
    assert.equal(b.state, 'OPEN');
  });

  it('goes half-open after the open period, never lets more than the probe count through, and closes after recovery', async () => {
    const clock = new FakeClock(0);
    const b = circuitBreaker({ mode: { kind: 'consecutive', failures: 1 }, openMs: 1000, halfOpenProbes: 2, clock });
    const p = createPipeline({ clock }, b);
    await assert.rejects(p.execute(boom));
    await clock.advance(1000);
    const d1 = deferred<string>();
    const d2 = deferred<string>();
    const probe1 = p.execute(() => d1.promise);
    const probe2 = p.execute(() => d2.promise);
    assert.equal(b.state, 'HALF_OPEN');
    await assert.rejects(p.execute(ok), { code: 'RES_CIRCUIT_OPEN' }); // third concurrent probe refused
    d1.resolve('a');
    d2.resolve('b');
    assert.deepEqual([await probe1, await probe2], ['a', 'b']);
    assert.equal(b.state, 'CLOSED');
  });

  it('re-opens on a failed probe, for longer each time (backoff), up to the maximum', async () => {
    const clock = new FakeClock(0);
    const b = circuitBreaker({
      mode: { kind: 'consecutive', failures: 1 },
      openMs: 100,
      backoffFactor: 2,
      maxOpenMs: 300,
      clock,
    });
    const p = createPipeline({ clock }, b);
    await assert.rejects(p.execute(boom));
    const periods: number[] = [];
    for (let i = 0; i < 4; i++) {
      const snap = b.toJSON();
      periods.push(snap.lastOpenMs);
      await clock.advance(snap.lastOpenMs);
      await assert.rejects(p.execute(boom));
    }
    assert.deepEqual(periods, [100, 200, 300, 300]);
  });

  it('count window: opens on the failure rate once the minimum number of calls is reached', async () => {
    const clock = new FakeClock(0);
    const b = circuitBreaker({ mode: { kind: 'count', size: 10, failureRatePct: 50, minimumCalls: 4 }, clock });
    const p = createPipeline({ clock }, b);
    await assert.rejects(p.execute(boom));
    await assert.rejects(p.execute(boom));
    await p.execute(ok);
    assert.equal(b.state, 'CLOSED'); // 3 calls < minimum
    await p.execute(ok);
    assert.equal(b.state, 'OPEN'); // 2/4 = 50%
  });

  it('time window: slow calls open it by slow-call rate, and old calls leave the window', async () => {
    const clock = new FakeClock(0);
    let t = 0;
    const b = circuitBreaker({
      mode: { kind: 'time', size: 10_000, failureRatePct: 100, slowCallRatePct: 60, slowCallMs: 100, minimumCalls: 3 },
      clock,
      durationClock: () => t,
    });
    const p = createPipeline({ clock }, b);
    const slowCall = async () => {
      t += 500;
      return 'slow';
    };
    await p.execute(slowCall);
    await p.execute(slowCall);
    await clock.advance(11_000); // both leave the window
    await p.execute(ok);
    await p.execute(ok);
    await p.execute(slowCall);
    assert.equal(b.state, 'CLOSED'); // 1/3 slow
    await p.execute(slowCall);
    assert.equal(b.state, 'CLOSED'); // 2/4 = 50%
    await p.execute(slowCall);
    assert.equal(b.state, 'OPEN'); // 3/5 = 60%
  });

  it('exports its state and a new breaker resumes from it without probing', async () => {
    const clock = new FakeClock(0);
    const b = circuitBreaker({ mode: { kind: 'consecutive', failures: 1 }, openMs: 5000, clock });
    await assert.rejects(createPipeline({ clock }, b).execute(boom));
    const saved = JSON.parse(JSON.stringify(b.toJSON()));
    const restarted = circuitBreaker({
      mode: { kind: 'consecutive', failures: 1 },
      openMs: 5000,
      clock,
      initialState: saved,
    });
    let called = false;
    await assert.rejects(
      createPipeline({ clock }, restarted).execute(async () => (called = true)),
      { code: 'RES_CIRCUIT_OPEN' },
    );
    assert.equal(called, false);
  });

  it('publishes state changes on diagnostics_channel', async () => {
    const clock = new FakeClock(0);
    const seen: unknown[] = [];
    const listener = (m: unknown) => seen.push(m);
    subscribe(ResilienceChannel.BreakerState, listener);
    try {
      const b = circuitBreaker({ mode: { kind: 'consecutive', failures: 1 }, clock, name: 'db' });
      await assert.rejects(createPipeline({ clock }, b).execute(boom));
      assert.deepEqual(seen, [{ name: 'db', from: 'CLOSED', to: 'OPEN' }]);
    } finally {
      unsubscribe(ResilienceChannel.BreakerState, listener);
    }
  });

  it('property: never makes an illegal transition, whatever calls succeed, fail or wait', async () => {
    const legal = new Set(['CLOSED>OPEN', 'OPEN>HALF_OPEN', 'HALF_OPEN>OPEN', 'HALF_OPEN>CLOSED']);
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(fc.constant('ok' as const), fc.constant('fail' as const), fc.integer({ min: 1, max: 3000 })),
          { maxLength: 80 },
        ),
        async (steps) => {
          const clock = new FakeClock(0);
          const transitions: string[] = [];
          const listener = (m: any) => m.name === 'prop' && transitions.push(`${m.from}>${m.to}`);
          subscribe(ResilienceChannel.BreakerState, listener);
          try {
            const b = circuitBreaker({
              mode: { kind: 'count', size: 5, minimumCalls: 3 },
              openMs: 1000,
              halfOpenProbes: 2,
              clock,
              name: 'prop',
            });
            const p = createPipeline({ clock }, b);
            for (const s of steps) {
              if (typeof s === 'number') await clock.advance(s);
              else await p.execute(s === 'ok' ? ok : boom).catch(() => undefined);
              assert.ok(Object.values(BreakerState).includes(b.state));
            }
          } finally {
            unsubscribe(ResilienceChannel.BreakerState, listener);
          }
          for (const t of transitions) assert.ok(legal.has(t), `illegal ${t}`);
        },
      ),
      { numRuns: 200 },
    );
  });
});
