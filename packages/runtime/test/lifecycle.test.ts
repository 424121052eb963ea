import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLifecycle } from '@ballast/runtime';
import { FakeClock } from '@ballast/testkit';

describe('lifecycle', () => {
  it('goes STARTING → RUNNING → DRAINING → DRAINED, running drain steps in order, then aborts the root signal', async () => {
    const lc = createLifecycle({ shutdownGraceMs: 1000 });
    const seen: string[] = [];
    const states = (async () => {
      for await (const s of lc.status()) seen.push(s);
    })();
    const order: string[] = [];
    lc.onDrain('stop accepting', () => void order.push('stop'));
    lc.onDrain('finish in-flight', async () => {
      await Promise.resolve();
      order.push('finish');
    });
    assert.equal(lc.state, 'STARTING');
    lc.running();
    assert.equal(lc.signal.aborted, false);
    const result = await lc.drain('SIGTERM');
    await states;
    assert.deepEqual(order, ['stop', 'finish']);
    assert.deepEqual(result.timedOut, []);
    assert.deepEqual(seen, ['RUNNING', 'DRAINING', 'DRAINED']);
    assert.equal(lc.signal.aborted, true);
    await lc.closed();
  });

  it('abandons a step that overruns the grace period and still finishes', async () => {
    const clock = new FakeClock(0);
    const lc = createLifecycle({ shutdownGraceMs: 20, setTimeout: clock.setTimeout });
    lc.onDrain('stuck', () => new Promise(() => undefined));
    lc.onDrain('after', () => undefined);
    const drained = lc.drain('test');
    await clock.advance(20);
    const result = await drained;
    assert.deepEqual(result.timedOut, ['stuck', 'after']);
    assert.equal(lc.state, 'DRAINED');
  });
});
