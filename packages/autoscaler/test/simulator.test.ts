import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  bestWithinBudget,
  driverFor,
  generateCryptoTrace,
  mulberry32,
  paretoFront,
  resolvePlant,
  simulate,
  sloUtilization,
  sweep,
  type PolicyDriver,
  type Trace,
} from '@ballast/autoscaler';

const plant = resolvePlant();
/** 2 hours of synthetic crypto activity with bursts (bundled flash-crash shapes). */
const short = (seed: number): Trace => generateCryptoTrace({ seed, durationS: 7200, burstsPerHour: 1.5 });
const step = (lowS: number, highS: number, low: number, high: number): Trace => ({
  name: 'step',
  ordersPerS: Float64Array.from({ length: lowS + highS }, (_, t) => (t < lowS ? low : high)),
});

describe('simulator', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    const run = (seed: number) => simulate({ trace: short(seed), policy: driverFor('ballast', 0.7, plant), seed });
    assert.deepEqual(run(7), run(7));
    assert.notDeepEqual(run(7), run(8));
  });

  it('with a constant load at the SLO utilization and a fixed fleet, never violates and is never under-provisioned', () => {
    const fixed: PolicyDriver = {
      name: 'fixed',
      syncS: 15,
      actuationDelayS: 0,
      decide: () => ({ desiredReplicas: 10 }),
    };
    const rate = 10 * 100 * sloUtilization(10, 250) * 0.95;
    const r = simulate({ trace: step(3600, 0, rate, rate), policy: fixed, seed: 1, plant: { poissonArrivals: false } });
    assert.equal(r.sloViolationMin, 0);
    assert.equal(r.underProvisionedReplicaHours, 0);
    assert.equal(r.replicaHours, 10);
    assert.equal(r.scalingActionsPerHour, 0);
  });

  it('a load step the fleet cannot serve builds a backlog that violates the SLO until new replicas are ready', () => {
    const r = simulate({
      trace: step(600, 1200, 300, 1500),
      policy: driverFor('hpa', 0.7, plant),
      seed: 1,
      recordSeries: true,
    });
    assert.ok(r.sloViolationMin >= 1, 'the step is violated');
    assert.ok(r.series!.violated[10] === 1, 'the minute of the step is violated');
    assert.equal(r.series!.violated[29], 0, 'capacity has caught up 20 minutes later');
    assert.ok(r.timeToCapacityS.max > plant.startupMedianS * 0.5);
  });

  it('counts billed replica-hours for starting and draining replicas too', () => {
    const flip: PolicyDriver = {
      name: 'flip',
      syncS: 600,
      actuationDelayS: 0,
      decide: (v) => ({ desiredReplicas: v.specReplicas === 2 ? 12 : 2 }),
    };
    const r = simulate({ trace: step(3600, 0, 10, 10), policy: flip, seed: 3, plant: { poissonArrivals: false } });
    assert.ok(r.replicaHours > 2);
    assert.ok(r.overProvisionedReplicaHours > 0);
    assert.equal(r.scalingActionsPerHour, 5);
  });

  it('holds the fleet through a metrics outage with every policy instead of scaling blind', () => {
    for (const name of ['hpa', 'ballast'] as const) {
      const r = simulate({
        trace: step(1800, 1800, 400, 150),
        policy: driverFor(name, 0.7, plant),
        seed: 1,
        plant: { metricGaps: [[1700, 3600]] },
        recordSeries: true,
      });
      // the fleet of the last full minute before the gap (1620–1680 s) is kept after the load drop
      const readyAfterDrop = r.series!.ready[55]!;
      assert.ok(readyAfterDrop >= r.series!.ready[27]! - 0.01, `${name} kept its replicas`);
    }
  });

  it('sweeps a grid on several seeds and returns a Pareto front of those points', () => {
    const { points, front } = sweep({ trace: short, policy: 'hpa', seeds: [1, 2] });
    assert.equal(points.length, 8);
    assert.ok(front.length >= 1 && front.every((p) => points.includes(p)));
  });
});

describe('Pareto front', () => {
  it('keeps the non-dominated points, sorted by replica-hours', () => {
    const pts = [
      { id: 'a', sloViolationMin: 10, replicaHours: 100 },
      { id: 'b', sloViolationMin: 5, replicaHours: 120 },
      { id: 'c', sloViolationMin: 6, replicaHours: 130 }, // dominated by b
      { id: 'd', sloViolationMin: 1, replicaHours: 200 },
      { id: 'e', sloViolationMin: 10, replicaHours: 110 }, // dominated by a
    ];
    assert.deepEqual(
      paretoFront(pts).map((p) => p.id),
      ['a', 'b', 'd'],
    );
  });

  it('property: no front point is dominated and every other point is dominated by one', () => {
    const point = fc.record({
      sloViolationMin: fc.integer({ min: 0, max: 50 }),
      replicaHours: fc.integer({ min: 1, max: 50 }),
    });
    fc.assert(
      fc.property(fc.array(point, { minLength: 1, maxLength: 30 }), (pts) => {
        const front = paretoFront(pts);
        const dominates = (a: (typeof pts)[0], b: (typeof pts)[0]): boolean =>
          a.sloViolationMin <= b.sloViolationMin &&
          a.replicaHours <= b.replicaHours &&
          (a.sloViolationMin < b.sloViolationMin || a.replicaHours < b.replicaHours);
        for (const f of front) assert.ok(!pts.some((p) => dominates(p, f)));
        for (const p of pts)
          if (!front.includes(p))
            assert.ok(
              front.some(
                (f) =>
                  dominates(f, p) || (f.sloViolationMin === p.sloViolationMin && f.replicaHours === p.replicaHours),
              ),
            );
      }),
    );
  });

  it('picks the fewest violation minutes within a replica-hour budget, else the cheapest point', () => {
    const pts = [
      { sloViolationMin: 10, replicaHours: 100 },
      { sloViolationMin: 4, replicaHours: 109 },
      { sloViolationMin: 1, replicaHours: 150 },
    ];
    assert.equal(bestWithinBudget(pts, 110), pts[1]);
    assert.equal(bestWithinBudget(pts, 50), pts[0]);
  });
});

describe('seeded PRNG', () => {
  it('mulberry32 repeats its sequence for a seed', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 5 }, () => a.next());
    assert.deepEqual(
      xs,
      Array.from({ length: 5 }, () => b.next()),
    );
    assert.ok(xs.every((x) => x >= 0 && x < 1));
  });
});
