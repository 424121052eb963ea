import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KpaAutoscaler } from '@ballast/autoscaler';

/** Records `value` every second from `fromS` to `toS` (exclusive). */
const feed = (kpa: KpaAutoscaler, fromS: number, toS: number, value: number): void => {
  for (let s = fromS; s < toS; s++) kpa.record(s * 1000, value);
};

describe('Knative KPA', () => {
  it('in stable mode wants ceil(stable-window average / target per pod)', () => {
    const kpa = new KpaAutoscaler({ targetPerPod: 10, maxScaleDownRate: 1000 });
    feed(kpa, 0, 60, 95);
    const d = kpa.scale(59_000, 10)!;
    assert.deepEqual([d.desiredReplicas, d.panic], [10, false]);
  });

  it('panics when the 6 s window wants ≥ 200% of the ready pods, and scales on the panic window', () => {
    const kpa = new KpaAutoscaler({ targetPerPod: 10 });
    feed(kpa, 0, 60, 20); // 2 pods' worth
    assert.equal(kpa.scale(59_000, 2)!.panic, false);
    feed(kpa, 60, 66, 100); // 6 s at 10 pods' worth
    const d = kpa.scale(65_000, 2)!;
    assert.equal(d.panic, true);
    assert.equal(d.desiredReplicas, 10); // panic window average 100 → 10; stable average lower
    assert.ok(d.stableValue < d.panicValue);
  });

  it('never scales down while panicking, and leaves panic only after a full stable window below the threshold', () => {
    const kpa = new KpaAutoscaler({ targetPerPod: 10 });
    feed(kpa, 0, 60, 20);
    kpa.scale(59_000, 2);
    feed(kpa, 60, 66, 100);
    assert.equal(kpa.scale(65_000, 2)!.desiredReplicas, 10);
    // load falls back: the panic window wants 2 again, but panic mode holds the maximum
    feed(kpa, 66, 100, 20);
    const held = kpa.scale(99_000, 10)!;
    assert.deepEqual([held.panic, held.desiredReplicas], [true, 10]);
    // last over-threshold tick at 65 s: still panicking at 125 s (not strictly after 60 s), out at 126 s
    feed(kpa, 100, 127, 20);
    assert.equal(kpa.scale(125_000, 10)!.panic, true);
    const calm = kpa.scale(126_000, 10)!;
    assert.equal(calm.panic, false);
    assert.ok(calm.desiredReplicas < 10);
  });

  it('limits scale-down to ready / maxScaleDownRate (2) per decision', () => {
    const kpa = new KpaAutoscaler({ targetPerPod: 10 });
    feed(kpa, 0, 60, 0);
    assert.equal(kpa.scale(59_000, 10)!.desiredReplicas, 5);
  });

  it('limits scale-up to ceil(ready × maxScaleUpRate)', () => {
    const kpa = new KpaAutoscaler({ targetPerPod: 1, maxScaleUpRate: 1.5 });
    feed(kpa, 0, 60, 100);
    assert.equal(kpa.scale(59_000, 4)!.desiredReplicas, 6);
  });

  it('keeps the current scale until it has data, and clamps to min/max', () => {
    const kpa = new KpaAutoscaler({ targetPerPod: 1, minReplicas: 2, maxReplicas: 5 });
    assert.equal(kpa.scale(0, 3), undefined);
    feed(kpa, 0, 60, 100);
    assert.equal(kpa.scale(59_000, 4)!.desiredReplicas, 5);
  });
});
