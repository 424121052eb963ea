import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  HpaController,
  hpaExternalAverageReplicas,
  hpaPodsReplicas,
  hpaResourceReplicas,
  type HpaMetricInput,
  type HpaPodSample,
} from '@ballast/autoscaler';

/** Ready pods with a CPU usage in percent of a 1000m request. */
const ready = (...pcts: number[]): HpaPodSample[] =>
  pcts.map((p, i) => ({ name: `ready-${i}`, state: 'ready', value: p * 10, request: 1000 }));
const missing = (n: number): HpaPodSample[] =>
  Array.from({ length: n }, (_, i) => ({ name: `missing-${i}`, state: 'ready', request: 1000 }));
const unready = (n: number): HpaPodSample[] =>
  Array.from({ length: n }, (_, i) => ({ name: `unready-${i}`, state: 'unready', request: 1000 }));
const cpu = (target: number, pods: HpaPodSample[]): HpaMetricInput[] => [
  { type: 'Resource', targetAverageUtilization: target, pods },
];

describe('HPA replica calculator', () => {
  it('scales to ceil(readyPods × current/target): 3 pods at 90% with a 50% target → 6', () => {
    assert.equal(hpaResourceReplicas(3, 50, ready(90, 90, 90)).replicas, 6);
  });

  it('does not change within the 0.1 tolerance (54% vs 50%) and does just outside it (56% → ceil(3.36) = 4)', () => {
    assert.equal(hpaResourceReplicas(3, 50, ready(54, 54, 54)).replicas, 3);
    assert.equal(hpaResourceReplicas(3, 50, ready(56, 56, 56)).replicas, 4);
  });

  it('truncates utilization to an integer percent like the controller', () => {
    // (333 + 333 + 334) m of 3000 m = 33.33% → 33; 33/30 = 1.1 → outside tolerance by float rounding.
    const p = hpaResourceReplicas(3, 30, [
      { name: 'a', state: 'ready', value: 333, request: 1000 },
      { name: 'b', state: 'ready', value: 333, request: 1000 },
      { name: 'c', state: 'ready', value: 334, request: 1000 },
    ]);
    assert.equal(p.usage, 33);
    assert.equal(p.replicas, 4);
  });

  it('on a scale-down counts a pod without metrics as 100% of its request: 3 at 10% + 1 missing, target 50 → 3, not 1', () => {
    // ratio 0.2; with the missing pod at 1000m: 1300/4000 = 32% → 0.64 × 4 = 2.56 → 3
    assert.equal(hpaResourceReplicas(4, 50, [...ready(10, 10, 10), ...missing(1)]).replicas, 3);
  });

  it('on a scale-up counts a pod without metrics as 0, and holds if that flips the direction', () => {
    // 3 at 60%, target 50: ratio 1.2; with the missing pod at 0: 1800/4000 = 45% → 0.9 < 1 → hold at 4
    assert.equal(hpaResourceReplicas(4, 50, [...ready(60, 60, 60), ...missing(1)]).replicas, 4);
    // 3 at 90%: 2700/4000 = 67% → 1.34 × 4 = 5.36 → 6
    assert.equal(hpaResourceReplicas(4, 50, [...ready(90, 90, 90), ...missing(1)]).replicas, 6);
  });

  it('on a scale-up counts not-yet-ready pods as 0, so it never scales down because of them', () => {
    // 2 ready at 60% and 2 unready, current 4: naive ceil(1.2 × 2) = 3 would shrink; dampened 30% → hold
    assert.equal(hpaResourceReplicas(4, 50, [...ready(60, 60), ...unready(2)]).replicas, 4);
    // 4 ready at 90%, 1 unready: 3600/5000 = 72% → 1.44 × 5 = 7.2 → 8
    assert.equal(hpaResourceReplicas(5, 50, [...ready(90, 90, 90, 90), ...unready(1)]).replicas, 8);
  });

  it('leaves unready pods out on a scale-down: 4 ready at 20% + 2 unready, target 50 → ceil(0.4 × 4) = 2', () => {
    assert.equal(hpaResourceReplicas(6, 50, [...ready(20, 20, 20, 20), ...unready(2)]).replicas, 2);
  });

  it('ignores failed and deleting pods entirely', () => {
    const pods: HpaPodSample[] = [...ready(90, 90), { name: 'gone', state: 'ignored', value: 0, request: 1000 }];
    assert.equal(hpaResourceReplicas(3, 50, pods).replicas, 4);
  });

  it('pods metric: a missing pod counts as the target on a scale-down', () => {
    // 1000 + 1000 + 5000 (missing = target) = 7000 / 3 = 2333 → 0.4666 × 3 = 1.4 → 2
    const pods: HpaPodSample[] = [
      { name: 'a', state: 'ready', value: 1000 },
      { name: 'b', state: 'ready', value: 1000 },
      { name: 'c', state: 'ready' },
    ];
    assert.equal(hpaPodsReplicas(3, 5000, pods).replicas, 2);
  });

  it('external AverageValue: the published total over the target, unless within tolerance of the current count', () => {
    assert.equal(hpaExternalAverageReplicas(5, 1, 7).replicas, 7);
    assert.equal(hpaExternalAverageReplicas(5, 1, 5.4).replicas, 5);
    assert.equal(hpaExternalAverageReplicas(5, 1, 3).replicas, 3);
  });

  it('throws when no ready pod has a metric', () => {
    assert.throws(() => hpaResourceReplicas(2, 50, unready(2)), { name: 'HpaMetricError' });
  });
});

describe('HPA controller', () => {
  it('takes the maximum over metrics', () => {
    const hpa = new HpaController({ maxReplicas: 100, behavior: {} });
    const d = hpa.reconcile(0, 3, [
      ...cpu(50, ready(90, 90, 90)),
      { type: 'Pods', targetAverageValue: 1000, pods: ready(100, 100, 100) }, // 1000m avg → ratio 1 → 3
    ]);
    assert.equal(d.metricReplicas, 6);
  });

  it('with an invalid metric, scales up on the others but never down', () => {
    const up = new HpaController({ maxReplicas: 100, behavior: {} });
    assert.equal(
      up.reconcile(0, 3, [...cpu(50, ready(90, 90, 90)), { type: 'Invalid', reason: 'x' }]).desiredReplicas,
      6,
    );
    const down = new HpaController({ maxReplicas: 100, behavior: {} });
    const d = down.reconcile(0, 3, [...cpu(50, ready(10, 10, 10)), { type: 'Invalid', reason: 'x' }]);
    assert.deepEqual([d.desiredReplicas, d.rescale, d.reason], [3, false, 'FailedGetMetrics']);
  });

  it('default scale-up policy: max(+4 pods, +100%) per 15 s, counted from the period start', () => {
    const hpa = new HpaController({ maxReplicas: 100, behavior: {} });
    const want20 = (n: number): HpaMetricInput[] => cpu(50, ready(...Array<number>(n).fill(1000 / n)));
    // 1 pod at 1000% of a 50% target wants 20: limit max(1 + 4, 2 × 1) = 5
    assert.equal(hpa.reconcile(0, 1, want20(1)).desiredReplicas, 5);
    // 5 s later the event is inside the 15 s period: period start is 1 again → still 5
    assert.equal(hpa.reconcile(5_000, 5, want20(5)).desiredReplicas, 5);
    // 15 s later the event has left the period: max(5 + 4, 2 × 5) = 10
    assert.equal(hpa.reconcile(15_000, 5, want20(5)).desiredReplicas, 10);
    assert.equal(hpa.reconcile(30_000, 10, want20(10)).desiredReplicas, 20);
  });

  it('selectPolicy Min picks the smaller change, Max the larger, Disabled none', () => {
    const policies = [
      { type: 'Pods', value: 4, periodSeconds: 15 },
      { type: 'Percent', value: 100, periodSeconds: 15 },
    ] as const;
    const m = cpu(50, ready(...Array<number>(10).fill(200))); // wants 40
    const min = new HpaController({ maxReplicas: 100, behavior: { scaleUp: { policies, selectPolicy: 'Min' } } });
    const max = new HpaController({ maxReplicas: 100, behavior: { scaleUp: { policies, selectPolicy: 'Max' } } });
    const off = new HpaController({ maxReplicas: 100, behavior: { scaleUp: { selectPolicy: 'Disabled' } } });
    assert.equal(min.reconcile(0, 10, m).desiredReplicas, 14);
    assert.equal(max.reconcile(0, 10, m).desiredReplicas, 20);
    assert.equal(off.reconcile(0, 10, m).desiredReplicas, 10);
  });

  it('scale-down policies: Percent rounds down, Max removes the most, Min the least', () => {
    const policies = [
      { type: 'Percent', value: 50, periodSeconds: 60 },
      { type: 'Pods', value: 1, periodSeconds: 60 },
    ] as const;
    const m = cpu(50, ready(...Array<number>(10).fill(1))); // wants 1
    const mk = (selectPolicy: 'Max' | 'Min'): HpaController =>
      new HpaController({
        maxReplicas: 100,
        behavior: { scaleDown: { stabilizationWindowSeconds: 0, policies, selectPolicy } },
      });
    assert.equal(mk('Max').reconcile(0, 10, m).desiredReplicas, 5);
    assert.equal(mk('Min').reconcile(0, 10, m).desiredReplicas, 9);
  });

  it('scale-down stabilization (300 s default) keeps the highest recommendation of the window', () => {
    const hpa = new HpaController({ minReplicas: 1, maxReplicas: 100, behavior: {} });
    assert.equal(hpa.reconcile(0, 10, cpu(50, ready(...Array<number>(10).fill(50)))).desiredReplicas, 10);
    const low = cpu(50, ready(...Array<number>(10).fill(10))); // wants 2
    for (let t = 15_000; t < 300_000; t += 15_000) {
      const d = hpa.reconcile(t, 10, low);
      assert.equal(d.desiredReplicas, 10, `t=${t}`);
      assert.equal(d.reason, 'ScaleDownStabilized');
    }
    // the 10 recorded at t=0 leaves the window at t=300 s (strictly after the cutoff)
    assert.equal(hpa.reconcile(300_000, 10, low).desiredReplicas, 2);
  });

  it('scale-up stabilization window holds a rise until every recommendation in it is higher', () => {
    const hpa = new HpaController({ maxReplicas: 100, behavior: { scaleUp: { stabilizationWindowSeconds: 60 } } });
    assert.equal(hpa.reconcile(0, 4, cpu(50, ready(50, 50, 50, 50))).desiredReplicas, 4);
    const high = cpu(50, ready(100, 100, 100, 100)); // wants 8
    assert.equal(hpa.reconcile(15_000, 4, high).desiredReplicas, 4);
    assert.equal(hpa.reconcile(45_000, 4, high).desiredReplicas, 4);
    assert.equal(hpa.reconcile(60_000, 4, high).desiredReplicas, 8);
  });

  it('clamps to min/max replicas and fixes a count outside them without metrics', () => {
    const hpa = new HpaController({ minReplicas: 2, maxReplicas: 5, behavior: {} });
    assert.equal(hpa.reconcile(0, 3, cpu(50, ready(200, 200, 200))).desiredReplicas, 5);
    assert.equal(hpa.reconcile(0, 9, []).desiredReplicas, 5);
    assert.equal(hpa.reconcile(0, 1, []).desiredReplicas, 2);
  });

  it('without behavior runs the legacy path: scale-up limited to max(2 × current, 4) per sync', () => {
    const hpa = new HpaController({ maxReplicas: 100 });
    assert.equal(hpa.reconcile(0, 1, cpu(50, ready(1000))).desiredReplicas, 4);
    assert.equal(hpa.reconcile(15_000, 4, cpu(50, ready(250, 250, 250, 250))).desiredReplicas, 8);
  });
});
