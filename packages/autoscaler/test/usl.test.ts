import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fitUsl, uslThroughput } from '@ballast/autoscaler';

const law = { lambda: 1000, alpha: 0.1, beta: 0.02 };
const at = (n: number) => ({ replicas: n, throughput: uslThroughput(law, n) });

describe('fitUsl', () => {
  it('recovers alpha and beta from throughputs the law produced', () => {
    const fit = fitUsl([at(1), at(2), at(3), at(4)]);
    assert.ok(fit);
    assert.equal(fit.alpha, 0.1);
    assert.equal(fit.beta, 0.02);
    assert.equal(fit.betaFitted, true);
    assert.equal(fit.lambda, 1000);
    assert.equal(fit.peakReplicas, Math.round(Math.sqrt(0.9 / 0.02) * 1e4) / 1e4);
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
    assert.equal(fit.peakReplicas, null);
    assert.deepEqual(
      fit.points.map((p) => [p.replicas, p.fitted]),
      [
        [1, 1000],
        [2, 1500],
      ],
    );
  });

  it('reads linear scaling as alpha = beta = 0, and no gain at all as alpha = 1', () => {
    const linear = fitUsl([1, 2, 3].map((n) => ({ replicas: n, throughput: 500 * n })));
    assert.equal(linear?.alpha, 0);
    assert.equal(linear?.beta, 0);
    const flat = fitUsl([1, 2].map((n) => ({ replicas: n, throughput: 3000 })));
    assert.equal(flat?.alpha, 1);
  });

  it('reads throughput falling with replicas as coherency cost (beta > 0) when there are enough counts', () => {
    const fit = fitUsl([
      { replicas: 1, throughput: 3000 },
      { replicas: 2, throughput: 2000 },
      { replicas: 3, throughput: 1500 },
    ]);
    assert.ok(fit);
    assert.ok(fit.beta > 0, `beta ${fit.beta}`);
    assert.ok(fit.peakReplicas !== null && fit.peakReplicas < 2, `peak ${fit.peakReplicas}`);
  });

  it('keeps both coefficients non-negative when the least-squares solution would make one negative', () => {
    // Super-linear from 1 to 2, then flat: unconstrained, alpha < 0.
    const fit = fitUsl([
      { replicas: 1, throughput: 1000 },
      { replicas: 2, throughput: 2100 },
      { replicas: 3, throughput: 2100 },
    ]);
    assert.ok(fit);
    assert.ok(fit.alpha >= 0 && fit.beta >= 0, JSON.stringify(fit));
    // What the constrained fit predicts is reported next to what was measured.
    assert.deepEqual(
      fit.points.map((p) => p.fitted),
      fit.points.map((p) => Math.round(uslThroughput(fit, p.replicas))),
    );
  });

  it('has nothing to fit without a sustained one-replica point or any other sustained count', () => {
    assert.equal(fitUsl([{ replicas: 2, throughput: 2000 }]), null);
    assert.equal(
      fitUsl([
        { replicas: 1, throughput: 0 },
        { replicas: 2, throughput: 2000 },
      ]),
      null,
    );
    assert.equal(
      fitUsl([
        { replicas: 1, throughput: 2000 },
        { replicas: 2, throughput: 0 },
      ]),
      null,
    );
  });

  it('refuses points that are not measurements', () => {
    assert.throws(() => fitUsl([{ replicas: 1.5, throughput: 10 }]), RangeError);
    assert.throws(() => fitUsl([{ replicas: 1, throughput: Number.NaN }]), RangeError);
  });
});
