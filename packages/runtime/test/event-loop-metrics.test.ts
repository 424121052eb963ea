import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetrics, type BallastMetrics } from '@ballast/runtime';

/** The value of `ballast_event_loop_delay_seconds{quantile=q}` at a scrape (which also resets it). */
async function delaySeconds(metrics: BallastMetrics): Promise<Map<string, number>> {
  const metric = await metrics.registry.getSingleMetric('ballast_event_loop_delay_seconds')?.get();
  assert.ok(metric, 'the gauge is registered');
  return new Map(metric.values.map((v) => [String(v.labels.quantile), v.value]));
}

/** Lets the event loop run for `ms` (this test is about the real loop: no fake clock can stand in). */
const runLoop = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('event-loop delay metric', () => {
  it('reads how late the loop ran its sampling timer: below the 20 ms period when idle, about the length of a stall', async () => {
    const metrics = createMetrics();
    await delaySeconds(metrics); // start a fresh window
    await runLoop(200);
    const idle = await delaySeconds(metrics);
    // The histogram itself holds the time between timer runs, never under the 20 ms period.
    assert.ok((idle.get('0.5') as number) < 0.02, `idle median ${idle.get('0.5')} s`);
    // Node's histogram skips the first timer run after a reset (it has no earlier run to measure
    // from): let one pass before the stall.
    await runLoop(50);
    const blockUntil = performance.now() + 150;
    while (performance.now() < blockUntil); // a 150 ms stall
    await runLoop(60);
    const stalled = await delaySeconds(metrics);
    const max = stalled.get('max') as number;
    assert.ok(max >= 0.1 && max < 1, `max ${max} s after a 150 ms stall`);
  });
});
