import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BallastPolicy, type BallastReplica } from '@ballast/autoscaler';
import { SwingEstimator } from '../src/forecast.ts';

const readyReplicas = (n: number): BallastReplica[] =>
  Array.from({ length: n }, (_, i) => ({ id: `r${i}`, state: 'ready', startedMs: 0, readyMs: 30_000, inFlight: 1 }));

describe('Ballast policy: actuation pipe and swing headroom', () => {
  it('a decision still in the actuation pipe counts as the current count: holding repeats it, never undoes it', () => {
    const p = new BallastPolicy({
      maxReplicas: 100,
      capacityPerReplica: 100,
      targetElu: 0.5,
      predictive: false,
      actuationDelayS: 15,
    });
    // 10 ready; the load asks for 12 → 12 is published and reaches the plant 15 s later
    assert.equal(p.recommend(0, readyReplicas(10), { elu: 0.6, activity: { ordersPerS: 600 } }).desiredReplicas, 12);
    // 5 s later the plant still shows 10 and the load asks for 11 (within the hysteresis of 12): keep 12
    const r = p.recommend(5_000, readyReplicas(10), { elu: 0.55, activity: { ordersPerS: 550 } });
    assert.equal(r.desiredReplicas, 12);
    assert.deepEqual(r.remove, []);
    // once the pipe is empty the observed count is the reference again
    assert.equal(
      p.recommend(30_000, readyReplicas(12), { elu: 0.46, activity: { ordersPerS: 550 } }).desiredReplicas,
      12,
    );
  });

  it('without an actuation delay the observed count is the reference (direct scaling unchanged)', () => {
    const p = new BallastPolicy({ maxReplicas: 100, capacityPerReplica: 100, targetElu: 0.5, predictive: false });
    assert.equal(p.recommend(0, readyReplicas(10), { elu: 0.6, activity: { ordersPerS: 600 } }).desiredReplicas, 12);
    assert.equal(
      p.recommend(5_000, readyReplicas(10), { elu: 0.5, activity: { ordersPerS: 500 } }).desiredReplicas,
      10,
    );
  });

  it('swing headroom provisions for a high quantile of a load that swings minute to minute, not its mean', () => {
    const opts = { maxReplicas: 200, capacityPerReplica: 100, targetElu: 0.5, noiseZ: 0, burstHeadroom: 1 } as const;
    const swinging = new BallastPolicy({ ...opts, swingZ: 1, swingWindowS: 600 });
    const plain = new BallastPolicy(opts);
    let a;
    let b;
    // 1000 orders/s ± 40 %, alternating every minute, for an hour; decided at a trough
    for (let t = 0; t <= 3600; t += 5) {
      const orders = Math.floor(t / 60) % 2 === 0 ? 600 : 1400;
      const s = { elu: 0.5, activity: { ordersPerS: orders } };
      a = swinging.recommend(t * 1000, readyReplicas(30), s);
      b = plain.recommend(t * 1000, readyReplicas(30), s);
    }
    assert.equal(a!.status.limitedBy, 'swing');
    // level ≈ 1000, σ of log(600/1000), log(1400/1000) ≈ 0.42: ≈ 1000 × e^0.42 / 50 ≈ 30 replicas
    assert.ok(a!.status.perSignal.swing! >= 29 && a!.status.perSignal.swing! <= 32, String(a!.status.perSignal.swing));
    // the load at the trough alone asks for 12; without swingZ there is no swing term
    assert.equal(a!.status.perSignal.activity, 12);
    assert.equal(b!.status.perSignal.swing, undefined);
  });

  it('the swing estimator reports the level and a log-normal upper quantile; a steady load has no swing', () => {
    const steady = new SwingEstimator({ windowS: 60 });
    for (let t = 0; t <= 600; t += 5) steady.update(t * 1000, 500);
    assert.equal(steady.level, 500);
    assert.equal(steady.sigma, 0);
    assert.equal(steady.upper(2), 500);
    const swinging = new SwingEstimator({ windowS: 60 });
    for (let t = 0; t <= 600; t += 5) swinging.update(t * 1000, t % 10 === 0 ? 400 : 600);
    assert.ok(swinging.sigma > 0.15 && swinging.sigma < 0.3, String(swinging.sigma));
    assert.ok(swinging.upper(1) > 600);
    // zero or negative samples (no activity) are ignored
    swinging.update(605_000, 0);
    assert.ok(swinging.level > 400);
  });
});
