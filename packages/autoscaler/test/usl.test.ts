import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fitUsl, uslThroughput } from '@ballast/autoscaler';

const law = { lambda: 1000, alpha: 0.1, beta: 0.02 };
const at = (n: number) => ({ replicas: n, throughput: uslThroughput(law, n) });
const points = (...xs: number[]) => xs.map((throughput, i) => ({ replicas: i + 1, throughput }));

describe('fitUsl', () => {
  it('recovers alpha and beta from throughputs the law produced', () => {
    const fit = fitUsl([at(3), at(1), at(4), at(2)]);
    assert.ok(fit);
    assert.equal(fit.alpha, 0.1);
    assert.equal(fit.beta, 0.02);
    assert.equal(fit.betaFitted, true);
    assert.equal(fit.lambda, 1000);
    assert.equal(fit.peakReplicas, Math.round(Math.sqrt(0.9 / 0.02) * 1e4) / 1e4);
    assert.deepEqual(
      fit.points.map((p) => [p.replicas, p.fitted]),
      [1, 2, 3, 4].map((n) => [n, Math.round(uslThroughput(law, n))]),
    );
  });

  it('with one count above one, fixes beta at 0 and lets alpha explain it (Amdahl)', () => {
    // 1.5x from 1 to 2 replicas: 2 / 1.5 - 1 = 1/3 of the work is serial.
    const fit = fitUsl([
      { replicas: 2, throughput: 1500 },
      { replicas: 1, throughput: 1000 },
    ]);
    assert.ok(fit);
    assert.equal(fit.alpha, 0.3333);
    assert.equal(fit.beta, 0);
    assert.equal(fit.betaFitted, false);
    assert.equal(fit.peakReplicas, null, 'alpha < 1 and beta = 0: throughput rises without end');
    assert.deepEqual(
      fit.points.map((p) => [p.replicas, p.fitted]),
      [
        [1, 1000],
        [2, 1500],
      ],
    );
  });

  it('reads linear scaling as alpha = beta = 0, and no gain at all as alpha = 1 with its peak at one replica', () => {
    const linear = fitUsl(points(500, 1000, 1500));
    assert.equal(linear?.alpha, 0);
    assert.equal(linear?.beta, 0);
    assert.equal(linear?.peakReplicas, null);
    const flat = fitUsl(points(3000, 3000));
    assert.equal(flat?.alpha, 1);
    assert.equal(flat?.peakReplicas, 1);
  });

  it('when the best fit has a negative beta, fixes it at 0, refits alpha alone and says beta was not fitted', () => {
    // y = N / C(N) - 1 is 4 at N = 2 and 6.5 at N = 3: unconstrained, beta = -0.75. With beta = 0,
    // alpha = (1 * 4 + 2 * 6.5) / (1 + 4) = 3.4.
    const fit = fitUsl(points(2500, 1000, 1000));
    assert.ok(fit);
    assert.equal(fit.alpha, 3.4);
    assert.equal(fit.beta, 0);
    assert.equal(fit.betaFitted, false);
    assert.equal(fit.peakReplicas, 1, 'alpha > 1: throughput falls from one replica on');
    assert.deepEqual(
      fit.points.map((p) => p.fitted),
      [2500, 1136, 962],
    );
  });

  it('when the best fit has a negative alpha, fixes it at 0 and refits beta alone', () => {
    // y is -1/21 at N = 2 and 3/7 at N = 3: unconstrained, alpha = -4/7. With alpha = 0,
    // beta = (2 * (-1/21) + 6 * (3/7)) / (4 + 36) = 0.0619.
    const fit = fitUsl(points(1000, 2100, 2100));
    assert.ok(fit);
    assert.equal(fit.alpha, 0);
    assert.equal(fit.beta, 0.0619);
    assert.equal(fit.betaFitted, true);
    assert.equal(fit.peakReplicas, Math.round(Math.sqrt(1 / 0.0619) * 1e4) / 1e4);
  });

  it('reads throughput falling with replicas, from one replica on, as a peak at one replica', () => {
    const fit = fitUsl(points(3000, 2000, 1500));
    assert.ok(fit);
    assert.ok(fit.alpha >= 1 || fit.beta > 0, JSON.stringify(fit));
    assert.equal(fit.peakReplicas, 1);
  });

  it('computes the peak from the coefficients it reports', () => {
    // Nearly linear: beta rounds to 0, so there is no peak to report.
    const fit = fitUsl(points(1000, 1999.9, 2999.2));
    assert.ok(fit);
    assert.equal(fit.beta, 0);
    assert.equal(fit.peakReplicas, null);
  });

  it('leaves a count that sustained nothing out of the fit but still predicts it', () => {
    const fit = fitUsl(points(2000, 1500, 0));
    assert.ok(fit);
    assert.equal(fit.betaFitted, false, 'one count above one left to fit');
    assert.equal(fit.alpha, 1.6667); // 2 / (1500 / 2000) - 1
    assert.deepEqual(
      fit.points.map((p) => p.fitted),
      [2000, 1500, 1385], // 2000 * N / (1 + 1.6667 * (N - 1))
    );
  });

  it('has nothing to fit without a sustained one-replica point or any other sustained count', () => {
    assert.equal(fitUsl([{ replicas: 2, throughput: 2000 }]), null);
    assert.equal(fitUsl(points(0, 2000)), null);
    assert.equal(fitUsl(points(2000, 0)), null);
  });

  it('refuses points that are not measurements, and two measurements of one count', () => {
    assert.throws(() => fitUsl([{ replicas: 1.5, throughput: 10 }]), RangeError);
    assert.throws(() => fitUsl([{ replicas: 1, throughput: Number.NaN }]), RangeError);
    assert.throws(() => fitUsl([...points(1000, 1500), { replicas: 1, throughput: 900 }]), RangeError);
  });
});
