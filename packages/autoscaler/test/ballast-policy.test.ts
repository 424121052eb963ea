import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BallastPolicy,
  POD_DELETION_COST_ANNOTATION,
  chooseReplicasToRemove,
  podDeletionCosts,
  type BallastReplica,
} from '@ballast/autoscaler';

const readyReplicas = (n: number, inFlight = 1): BallastReplica[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `r${i}`,
    state: 'ready',
    startedMs: 0,
    readyMs: 30_000,
    inFlight,
  }));

describe('Ballast policy', () => {
  it('scales on the leading indicator: orders/s over capacity × target ELU', () => {
    const p = new BallastPolicy({ maxReplicas: 100, capacityPerReplica: 100, targetElu: 0.5, predictive: false });
    const r = p.recommend(0, readyReplicas(2), { elu: 0.5, activity: { ordersPerS: 450 } });
    assert.equal(r.desiredReplicas, 9);
    assert.equal(r.status.limitedBy, 'activity');
  });

  it('the predictive term scales before the burst lands: on a ramp it wants the load one horizon ahead', () => {
    const opts = { maxReplicas: 200, capacityPerReplica: 100, targetElu: 0.5, readyDelayS: 60, noiseZ: 0 } as const;
    const predictive = new BallastPolicy({ ...opts, burstHeadroom: 1 });
    const withBurst = new BallastPolicy(opts);
    let r3 = 0;
    let burstStatus;
    const reactive = new BallastPolicy({ ...opts, predictive: false });
    let r1 = 0;
    let r2 = 0;
    let status;
    // orders/s rise by 2 per second (a flash-crash onset); ELU tracks the current load
    for (let t = 0; t <= 600; t += 5) {
      const orders = 200 + 2 * t;
      const signals = { elu: 0.5, activity: { ordersPerS: orders } };
      const a = predictive.recommend(t * 1000, readyReplicas(Math.ceil(orders / 50)), signals);
      r1 = a.desiredReplicas;
      status = a.status;
      r2 = reactive.recommend(t * 1000, readyReplicas(Math.ceil(orders / 50)), signals).desiredReplicas;
      const b = withBurst.recommend(t * 1000, readyReplicas(Math.ceil(orders / 50)), signals);
      r3 = b.desiredReplicas;
      burstStatus = b.status;
    }
    // the replicas took 30 s to become ready, so the horizon is 30 s (the initial guess of 60 is replaced)
    assert.equal(status!.horizonS, 30);
    // now: 1400 orders/s → 28 replicas; 30 s ahead: 1460 → 30
    assert.equal(r2, 28);
    assert.equal(r1, 30);
    assert.ok(status!.forecastOrdersPerS! > 1440);
    // the burst detector sees 7× the baseline and adds 25% headroom on the current load: 1400 × 1.25 / 50
    assert.equal(burstStatus!.inBurst, true);
    assert.equal(r3, 35);
  });

  it('counts replicas already starting as capacity: no second order while they boot', () => {
    const p = new BallastPolicy({ maxReplicas: 100, capacityPerReplica: 100, targetElu: 0.5, predictive: false });
    const starting: BallastReplica[] = [0, 1, 2].map((i) => ({
      id: `s${i}`,
      state: 'starting',
      startedMs: 0,
      inFlight: 0,
    }));
    const replicas = [...readyReplicas(2), ...starting];
    // 2 ready replicas saturated (ELU 1 → 4 wanted) with 250 orders/s (5 wanted): total 5 = 2 ready + 3 starting
    for (let t = 0; t <= 20_000; t += 5_000) {
      const r = p.recommend(t, replicas, { elu: 1, activity: { ordersPerS: 250 } });
      assert.equal(r.desiredReplicas, 5);
      assert.equal(r.status.capacityAtHorizon, 5);
    }
  });

  it('scales down only past the hysteresis margin and after the stabilization window', () => {
    const p = new BallastPolicy({
      maxReplicas: 100,
      capacityPerReplica: 100,
      targetElu: 0.5,
      predictive: false,
      scaleDownHysteresis: 0.2,
      scaleDownStabilizationS: 60,
    });
    assert.equal(p.recommend(0, readyReplicas(10), { elu: 0.5, activity: { ordersPerS: 500 } }).desiredReplicas, 10);
    // 9 wanted: within 20% of 10 → hold
    assert.equal(
      p.recommend(5_000, readyReplicas(10), { elu: 0.45, activity: { ordersPerS: 450 } }).desiredReplicas,
      10,
    );
    // 6 wanted: past the margin, but 10 was recommended inside the last 60 s
    assert.equal(
      p.recommend(30_000, readyReplicas(10), { elu: 0.3, activity: { ordersPerS: 300 } }).desiredReplicas,
      10,
    );
    assert.equal(
      p.recommend(61_000, readyReplicas(10), { elu: 0.3, activity: { ordersPerS: 300 } }).desiredReplicas,
      9,
    );
    assert.equal(
      p.recommend(66_000, readyReplicas(10), { elu: 0.3, activity: { ordersPerS: 300 } }).desiredReplicas,
      6,
    );
  });

  it('goes into degraded mode when a required signal is missing: hold never scales down', () => {
    const p = new BallastPolicy({ maxReplicas: 100, capacityPerReplica: 100, targetElu: 0.5, predictive: false });
    const r = p.recommend(0, readyReplicas(10), { activity: { ordersPerS: 100 } });
    assert.equal(r.status.mode, 'degraded');
    assert.equal(r.status.degradedAction, 'hold');
    assert.ok(r.status.missing.includes('elu'));
    assert.equal(r.desiredReplicas, 10);
    // but it still scales up on the signals it has
    assert.equal(p.recommend(5_000, readyReplicas(10), { activity: { ordersPerS: 800 } }).desiredReplicas, 16);
  });

  it('degraded mode with a floor falls back to the floor', () => {
    const p = new BallastPolicy({
      minReplicas: 2,
      maxReplicas: 100,
      degradedAction: 'floor',
      floorReplicas: 6,
      predictive: false,
    });
    const r = p.recommend(0, readyReplicas(10), {});
    assert.deepEqual([r.status.mode, r.status.degradedAction, r.desiredReplicas], ['degraded', 'floor', 6]);
    assert.equal(r.remove.length, 4);
  });

  it('adds capacity while p99 is above the SLO and to drain a consumer backlog in time', () => {
    const p = new BallastPolicy({
      maxReplicas: 100,
      capacityPerReplica: 100,
      targetElu: 0.5,
      sloP99Ms: 200,
      predictive: false,
    });
    const r = p.recommend(0, readyReplicas(4), { elu: 0.5, p99Ms: 300, lag: { messages: 3000, arrivalPerS: 200 } });
    assert.equal(r.status.perSignal.latency, 6);
    assert.equal(r.status.perSignal.lag, 6); // (200 + 3000 / 30) / 50
    assert.equal(r.desiredReplicas, 6);
  });

  it('measures the start-up delay from replicas becoming ready and uses it as the horizon', () => {
    const p = new BallastPolicy({ maxReplicas: 100, readyDelayS: 10, actuationDelayS: 15 });
    const reps: BallastReplica[] = [
      { id: 'a', state: 'ready', startedMs: 0, readyMs: 40_000, inFlight: 0 },
      { id: 'b', state: 'ready', startedMs: 0, readyMs: 50_000, inFlight: 0 },
    ];
    const r = p.recommend(60_000, reps, { elu: 0.5 });
    assert.equal(r.status.readyDelayS, 50);
    assert.equal(r.status.horizonS, 65);
  });
});

describe('work-aware removal', () => {
  it('removes starting replicas first, then the least busy, then the youngest', () => {
    const reps = [
      { id: 'busy', state: 'ready', inFlight: 9, startedMs: 0 },
      { id: 'idle-old', state: 'ready', inFlight: 0, startedMs: 0 },
      { id: 'idle-young', state: 'ready', inFlight: 0, startedMs: 10 },
      { id: 'booting', state: 'starting', inFlight: 0, startedMs: 20 },
      { id: 'leaving', state: 'draining', inFlight: 0, startedMs: 0 },
    ] as const;
    assert.deepEqual(chooseReplicasToRemove(reps, 3), ['booting', 'idle-young', 'idle-old']);
    assert.deepEqual(chooseReplicasToRemove(reps, 10).length, 4);
  });

  it('gives each pod a deletion cost equal to its in-flight work (starting pods lowest)', () => {
    const costs = podDeletionCosts([
      { id: 'a', state: 'ready', inFlight: 3.4, startedMs: 0 },
      { id: 'b', state: 'starting', inFlight: 0, startedMs: 0 },
    ]);
    assert.deepEqual(
      [...costs],
      [
        ['a', 3],
        ['b', -1],
      ],
    );
    assert.equal(POD_DELETION_COST_ANNOTATION, 'controller.kubernetes.io/pod-deletion-cost');
  });
});
