import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '@ballast/testkit';
import {
  LiveRecommender,
  type LiveCluster,
  type LiveClusterStatus,
  type LiveDecision,
  type LiveReplicaStatus,
  type LiveScaleEvent,
} from '@ballast/autoscaler';

interface FakeReplica {
  replica: number;
  pid: number;
  state: string;
  elu: number;
  inFlight: number;
  requests: number;
  /** A scrape that never answers. */
  silent?: boolean;
}

/** A cluster whose scale requests the test completes by hand. */
class FakeCluster implements LiveCluster {
  replicas: FakeReplica[] = [];
  statusFails = false;
  readonly calls: { role: string; replicas: number; prefer: readonly number[] }[] = [];
  #pid = 100;
  #finish: (() => void) | undefined;

  add(n: number, state = 'ready', elu = 0.1, inFlight = 0): void {
    for (let i = 0; i < n; i++) {
      const used = new Set(this.replicas.map((r) => r.replica));
      let replica = 0;
      while (used.has(replica)) replica++;
      this.replicas.push({ replica, pid: ++this.#pid, state, elu, inFlight, requests: 0 });
    }
  }

  view(): LiveClusterStatus {
    return {
      replicas: this.replicas.map((r): LiveReplicaStatus => ({
        role: 'gateway',
        replica: r.replica,
        pid: r.pid,
        state: r.state,
        opsUrl: r.state === 'starting' ? null : `http://ops/${r.replica}`,
        uptimeMs: 60_000,
      })),
    };
  }

  async status(): Promise<LiveClusterStatus> {
    if (this.statusFails) throw new Error('connection refused');
    return this.view();
  }

  scrape(opsUrl: string, signal: AbortSignal): Promise<string> {
    const r = this.replicas.find((x) => `http://ops/${x.replica}` === opsUrl);
    if (r === undefined) return Promise.reject(new Error('gone'));
    if (r.silent === true)
      return new Promise((_res, rej) => signal.addEventListener('abort', () => rej(signal.reason as Error)));
    r.requests += 100;
    return Promise.resolve(
      [
        `ballast_event_loop_utilization ${r.elu}`,
        `ballast_http_in_flight ${r.inFlight + 1}`,
        `ballast_http_requests_total{method="GET",route="/x",status="200"} ${r.requests}`,
        `ballast_http_request_duration_seconds_bucket{le="0.01",method="GET",route="/x"} ${r.requests}`,
        `ballast_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/x"} ${r.requests}`,
      ].join('\n'),
    );
  }

  scale(role: string, replicas: number, prefer: readonly number[]): Promise<LiveClusterStatus> {
    this.calls.push({ role, replicas, prefer });
    const live = this.replicas.filter((r) => r.state !== 'draining');
    if (replicas > live.length) this.add(replicas - live.length, 'starting');
    else {
      const victims = [...live]
        .sort((a, b) => (prefer.indexOf(a.replica) + 1 || 99) - (prefer.indexOf(b.replica) + 1 || 99))
        .slice(0, live.length - replicas);
      for (const v of victims) v.state = 'draining';
    }
    return new Promise((resolve) => (this.#finish = () => resolve(this.view())));
  }

  /** The replicas being added become ready, or the draining ones exit; the scale request answers. */
  finishScale(): void {
    for (const r of this.replicas) if (r.state === 'starting') r.state = 'ready';
    this.replicas = this.replicas.filter((r) => r.state !== 'draining');
    this.#finish?.();
    this.#finish = undefined;
  }
}

const setup = (
  cluster: FakeCluster,
  policy: { minReplicas?: number; maxReplicas?: number; scaleDownStabilizationS?: number } = {},
  dryRun = false,
) => {
  const clock = new FakeClock(1_000_000);
  const decisions: LiveDecision[] = [];
  const scales: LiveScaleEvent[] = [];
  const rec = new LiveRecommender({
    cluster,
    clock,
    roles: [
      {
        role: 'gateway',
        policy: {
          minReplicas: 1,
          maxReplicas: 4,
          targetElu: 0.5,
          readyDelayS: 30,
          predictive: false,
          scaleDownStabilizationS: 10,
          ...policy,
        },
      },
    ],
    intervalMs: 1000,
    timeoutMs: 500,
    dryRun,
    onDecision: (d) => decisions.push(d),
    onScale: (e) => scales.push(e),
  });
  return { clock, rec, decisions, scales, signal: new AbortController().signal };
};

describe('Live recommender', () => {
  it('asks for a replica when ELU is above target, waits for it, and learns its ready time from the request', async () => {
    const cluster = new FakeCluster();
    cluster.add(1, 'ready', 0.9);
    const { clock, rec, scales, signal } = setup(cluster);
    const [d] = await rec.tick(signal);
    assert.equal(d!.desired, 2);
    assert.equal(d!.action, 'up');
    assert.deepEqual(cluster.calls, [{ role: 'gateway', replicas: 2, prefer: [] }]);

    await clock.advance(1000);
    const [again] = await rec.tick(signal);
    assert.equal(again!.action, 'hold', 'the starting replica counts: no second request');
    assert.equal(again!.current, 2);
    assert.equal(cluster.calls.length, 1);

    await clock.advance(3000);
    cluster.finishScale();
    await clock.advance(0);
    const done = scales.find((e) => e.phase === 'done');
    assert.deepEqual(done?.readyDelaysS, [4]);
    assert.equal(done?.ms, 4000);
    await rec.tick(signal);
    assert.equal(rec.readyDelayS('gateway'), 4, 'the measured delay is the prediction horizon');
  });

  it('repeats nothing while a request settles, but sends a newer decision at once', async () => {
    const cluster = new FakeCluster();
    cluster.add(1, 'ready', 0.9);
    const { clock, rec, signal } = setup(cluster);
    await rec.tick(signal);
    assert.equal(cluster.calls.length, 1);
    const first = cluster.calls[0]!.replicas;
    // the same load a second later: the request in progress already asks for that count
    await clock.advance(1000);
    const [same] = await rec.tick(signal);
    assert.equal(same!.desired, first);
    assert.notEqual(same!.action, 'up');
    assert.equal(cluster.calls.length, 1);
    // more load while the first replicas boot: a second request for more, without waiting
    cluster.replicas[0]!.elu = 1;
    cluster.replicas.push({ ...cluster.replicas[0]!, replica: 7, pid: 7, state: 'ready', elu: 1 });
    await clock.advance(1000);
    const [more] = await rec.tick(signal);
    assert.equal(more!.action, 'up');
    assert.equal(cluster.calls.length, 2);
    assert.ok(cluster.calls[1]!.replicas > first, `${cluster.calls[1]!.replicas} > ${first}`);
  });

  it('scales down only after the stabilization window, removing the replica with the least in-flight work first', async () => {
    const cluster = new FakeCluster();
    cluster.add(3, 'ready', 0.05);
    cluster.replicas[0]!.inFlight = 5;
    cluster.replicas[1]!.inFlight = 0;
    cluster.replicas[2]!.inFlight = 7;
    const { clock, rec, signal } = setup(cluster, { scaleDownStabilizationS: 10 });
    // ELU was high a moment ago.
    for (const r of cluster.replicas) r.elu = 0.45;
    await rec.tick(signal);
    for (const r of cluster.replicas) r.elu = 0.05;
    for (let s = 1; s <= 9; s++) {
      await clock.advance(1000);
      const [d] = await rec.tick(signal);
      assert.equal(d!.action, 'hold', `still within the window at ${s} s`);
    }
    await clock.advance(2000);
    const [d] = await rec.tick(signal);
    assert.equal(d!.desired, 1);
    assert.equal(d!.action, 'down');
    assert.deepEqual(d!.remove, [1, 0]);
    assert.deepEqual(cluster.calls, [{ role: 'gateway', replicas: 1, prefer: [1, 0] }]);
    assert.deepEqual(
      cluster.replicas.map((r) => r.state),
      ['draining', 'draining', 'ready'],
    );
  });

  it('holds in degraded mode when a ready replica does not answer its scrape in time', async () => {
    const cluster = new FakeCluster();
    cluster.add(2, 'ready', 0.01);
    cluster.replicas[1]!.silent = true;
    const { clock, rec, signal } = setup(cluster, { scaleDownStabilizationS: 0 });
    const pending = rec.tick(signal);
    await clock.advance(500);
    const [d] = await pending;
    assert.equal(d!.mode, 'degraded');
    assert.match(d!.reason ?? '', /scrape failed: gateway-1/);
    assert.equal(d!.scrapeFailures, 1);
    assert.equal(d!.desired, 2, 'hold: no scale-down without the signal');
    assert.equal(cluster.calls.length, 0);
  });

  it('makes no decision and no request when the cluster status cannot be read', async () => {
    const cluster = new FakeCluster();
    cluster.add(2, 'ready', 0.01);
    cluster.statusFails = true;
    const { rec, signal } = setup(cluster, { scaleDownStabilizationS: 0 });
    const [d] = await rec.tick(signal);
    assert.equal(d!.mode, 'degraded');
    assert.equal(d!.desired, undefined);
    assert.match(d!.reason ?? '', /cluster status unavailable: connection refused/);
    assert.equal(cluster.calls.length, 0);
  });

  it('scales up to the minimum and caps at the maximum', async () => {
    const cluster = new FakeCluster();
    cluster.add(1, 'ready', 1);
    const { rec, signal } = setup(cluster, { minReplicas: 1, maxReplicas: 1 });
    const [d] = await rec.tick(signal);
    assert.equal(d!.desired, 1);
    assert.equal(d!.action, 'hold');
    const low = new FakeCluster();
    low.add(1, 'ready', 0.01);
    const { rec: rec2, signal: s2 } = setup(low, { minReplicas: 2 });
    assert.equal((await rec2.tick(s2))[0]!.action, 'up');
    assert.deepEqual(low.calls, [{ role: 'gateway', replicas: 2, prefer: [] }]);
  });

  it('only recommends in dry-run mode', async () => {
    const cluster = new FakeCluster();
    cluster.add(1, 'ready', 0.9);
    const { rec, signal } = setup(cluster, {}, true);
    const [d] = await rec.tick(signal);
    assert.equal(d!.desired, 2);
    assert.equal(d!.action, 'dry-run');
    assert.equal(cluster.calls.length, 0);
  });

  it('runs one interval after another on its clock and stops when aborted', async () => {
    const cluster = new FakeCluster();
    cluster.add(1, 'ready', 0.1);
    const { clock, rec, decisions } = setup(cluster);
    const stop = new AbortController();
    const running = rec.run(stop.signal);
    await clock.advance(0);
    assert.equal(decisions.length, 1);
    await clock.advance(3000);
    assert.equal(decisions.length, 4);
    stop.abort();
    await running;
    await clock.advance(5000);
    assert.equal(decisions.length, 4);
  });
});
