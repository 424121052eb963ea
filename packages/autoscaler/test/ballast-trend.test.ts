import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BallastPolicy, HoltForecaster, LinearTrend, type BallastReplica } from '@ballast/autoscaler';

const replicas = (ready: number, starting = 0, startedMs = 0): BallastReplica[] => [
  ...Array.from({ length: ready }, (_, i) => ({
    id: `r${i}`,
    state: 'ready' as const,
    startedMs: 0,
    readyMs: 30_000,
    inFlight: 1,
  })),
  ...Array.from({ length: starting }, (_, i) => ({ id: `s${i}`, state: 'starting' as const, startedMs, inFlight: 0 })),
];

describe('Ballast policy: least-squares trend and withdrawal of unconfirmed replicas', () => {
  it('the local linear trend follows a ramp within one window, where Holt still lags', () => {
    const trend = new LinearTrend({ windowS: 10 });
    const holt = new HoltForecaster();
    // flat at 500/s for a minute, then a ramp of +20/s per second starting at t = 60 s
    for (let t = 0; t <= 70; t += 2) {
      const v = t <= 60 ? 500 : 500 + 20 * (t - 60);
      trend.update(t * 1000, v);
      holt.update(t * 1000, v);
    }
    // at t = 70 the load is 700/s; 50 s later the ramp would reach 1700/s
    assert.equal(Math.round(trend.forecast(50)), 1700);
    assert.ok(holt.forecast(50) < 1100, `Holt forecast ${holt.forecast(50)} should still lag the ramp`);
    // only the window's samples count: the flat minute before the ramp is forgotten
    assert.equal(Math.round(trend.trendPerS), 20);
  });

  it('with slopeZ the trend ignores a slope that is within its noise and keeps a clear one', () => {
    const noisy = new LinearTrend({ windowS: 10, slopeZ: 2 });
    const clear = new LinearTrend({ windowS: 10, slopeZ: 2 });
    const wiggle = [0, 30, -30, 25, -20, 35];
    for (let i = 0; i < wiggle.length; i++) {
      noisy.update(i * 2000, 500 + wiggle[i]! + i);
      clear.update(i * 2000, 500 + 40 * i + (i % 2 === 0 ? 3 : -3));
    }
    assert.equal(noisy.trendPerS, 0);
    // and its level is the samples' mean, not the end of the rejected line
    const mean = wiggle.reduce((a, w, i) => a + 500 + w + i, 0) / wiggle.length;
    assert.ok(Math.abs(noisy.forecast(50) - mean) < 1e-9, `${noisy.forecast(50)} vs ${mean}`);
    assert.ok(clear.trendPerS > 19 && clear.trendPerS < 21, `slope ${clear.trendPerS}`);
  });

  const opts = {
    maxReplicas: 100,
    capacityPerReplica: 100,
    targetElu: 0.5,
    readyDelayS: 40,
    noiseZ: 0,
    trendWindowS: 10,
    trendSlopeZ: 0,
    burst: { enterRatio: Number.POSITIVE_INFINITY },
  } as const;

  /**
   * Feeds a 500/s load that rises by 10/s per second for 6 s at t = 100 s (to 560/s, 12 replicas
   * at 50/s each) and then stays there; returns the decisions.
   */
  const runBlip = (p: BallastPolicy): { atS: number; desired: number; remove: readonly string[] }[] => {
    const out: { atS: number; desired: number; remove: readonly string[] }[] = [];
    let spec = 10;
    for (let t = 0; t <= 160; t += 2) {
      const orders = t <= 100 ? 500 : 500 + 10 * Math.min(6, t - 100);
      // replicas ordered after t = 0 are still starting (40 s start-up, none ready before 140 s)
      const r = p.recommend(t * 1000, replicas(10, Math.max(0, spec - 10), 100_000), {
        elu: 0.5,
        activity: { ordersPerS: orders },
      });
      spec = r.desiredReplicas;
      out.push({ atS: t, desired: r.desiredReplicas, remove: r.remove });
    }
    return out;
  };

  it('a forecast the load does not confirm gives its still-starting replicas back after forecastHoldS', () => {
    const decisions = runBlip(new BallastPolicy({ ...opts, forecastHoldS: 20 }));
    const peak = Math.max(...decisions.map((d) => d.desired));
    // the ramp's trend, one horizon (the 30 s start-up the ready replicas showed) ahead, asked for far more than the 12 replicas the load settles at
    assert.ok(peak >= 15, `ordered ${peak}`);
    // once the trend window holds only the flat 560/s (t ≥ 118 s) no forecast asks for more than 12;
    // forecastHoldS later the extra starting replicas are given back, down to what the load needs
    const after = decisions.filter((d) => d.atS >= 140);
    assert.ok(
      after.every((d) => d.desired === 12),
      JSON.stringify(after),
    );
    const withdrawal = decisions.find((d) => d.remove.length > 0)!;
    assert.ok(
      withdrawal.remove.every((id) => id.startsWith('s')),
      'only starting replicas are withdrawn',
    );
    assert.ok(withdrawal.atS > 118 && withdrawal.atS <= 140, `withdrawn at ${withdrawal.atS} s`);
  });

  it('without withdrawal the same blip holds its replicas for the whole stabilization window', () => {
    const decisions = runBlip(new BallastPolicy({ ...opts, withdrawUnconfirmed: false, scaleDownStabilizationS: 60 }));
    const peak = Math.max(...decisions.map((d) => d.desired));
    assert.ok(peak >= 15);
    assert.ok(decisions.filter((d) => d.atS >= 140 && d.atS <= 160).every((d) => d.desired === peak));
  });

  it('a replica that was ready but fails its readiness probe now is not withdrawn as if it had never served', async () => {
    const p = new BallastPolicy({ ...opts, forecastHoldS: 20 });
    // the blip of runBlip: the forecast orders several replicas, the load settles at 560/s (12)
    let spec = 10;
    for (let t = 0; t <= 110; t += 2) {
      const orders = t <= 100 ? 500 : 500 + 10 * Math.min(6, t - 100);
      spec = p.recommend(t * 1000, replicas(10, spec - 10, 100_000), {
        elu: 0.5,
        activity: { ordersPerS: orders },
      }).desiredReplicas;
    }
    assert.ok(spec >= 15, `ordered ${spec}`);
    // t = 140 s (no sync in between; the last forecast is 30 s old): 10 ready; 3 of the others were ready and fail readiness now (readyMs set); the rest
    // never became ready. Only never-ready ones may go: 13 stay, not the 12 the load needs.
    const wasReady: BallastReplica[] = [0, 1, 2].map((i) => ({
      id: `u${i}`,
      state: 'starting',
      startedMs: 100_000,
      readyMs: 130_000,
      inFlight: 2,
    }));
    const r = p.recommend(140_000, [...replicas(10), ...wasReady, ...replicas(0, spec - 13, 100_000)], {
      elu: 0.5,
      activity: { ordersPerS: 560 },
    });
    assert.equal(r.desiredReplicas, 13);
    assert.ok(r.remove.length > 0 && r.remove.every((id) => id.startsWith('s')), `removed ${r.remove.join(',')}`);
  });

  it('a ready replica is never withdrawn early: once the forecast replicas are ready they wait for the window', () => {
    const p = new BallastPolicy({ ...opts, forecastHoldS: 10, scaleDownStabilizationS: 60 });
    // a ramp made the policy ask for 14; all 14 are ready now, and the load is back to 500/s (10 wanted)
    for (let t = 0; t <= 20; t += 2) p.recommend(t * 1000, replicas(10), { elu: 0.5, activity: { ordersPerS: 500 } });
    let top = 0;
    for (let t = 22; t <= 28; t += 2) {
      top = Math.max(
        top,
        p.recommend(t * 1000, replicas(10), { elu: 0.5, activity: { ordersPerS: 500 + 40 * (t - 20) } })
          .desiredReplicas,
      );
    }
    assert.ok(top > 20, `ordered ${top}`);
    // t = 50 s: the forecast is 22 s old (past forecastHoldS), the load is back at 500/s, and all
    // `top` replicas are ready (ELU 500 / (top × 100) each)
    const ready = replicas(top);
    const r = p.recommend(50_000, ready, { elu: 500 / (top * 100), activity: { ordersPerS: 500 } });
    assert.equal(r.desiredReplicas, top, 'ready replicas stay until the stabilization window has passed');
    // after the window (60 s from the last high recommendation) they go
    const later = p.recommend(90_000, ready, { elu: 500 / (top * 100), activity: { ordersPerS: 500 } });
    assert.equal(later.desiredReplicas, 10);
  });
});
