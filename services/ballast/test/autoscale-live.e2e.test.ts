import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { skipUnlessService } from '@ballast/testkit';
import { Agent, fetch as undiciFetch } from 'undici';
import { callControl, readControlFile, type ClusterStatus } from '../src/cluster/control-api.ts';
import { fundedAccount, privateStores, runBallast, startCluster, waitUntil, type ClusterInstance } from './harness.ts';

const skip = (await skipUnlessService('postgres')) ?? (await skipUnlessService('nats'));
const stores = privateStores('autoscale');
const MAIN = join(resolve(import.meta.dirname, '../../..'), 'services/ballast/src/main.ts');

interface Recommender {
  readonly child: ChildProcess;
  readonly metricsUrl: string;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
}

/** Starts `ballast autoscale live` against the cluster; resolves once it serves its metrics. */
async function startRecommender(stateDir: string, extra: string[]): Promise<Recommender> {
  const child = spawn(
    process.execPath,
    [MAIN, 'autoscale', 'live', '--state-dir', stateDir, '--metrics-port', '0', '--log-format', 'json', ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } },
  );
  let out = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const metricsUrl = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`the recommender did not start:\n${out}`)), 20_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes('"autoscaler is running"'));
      if (line !== undefined) {
        clearTimeout(timer);
        res((JSON.parse(line) as { metricsUrl: string }).metricsUrl);
      }
    });
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    void exited.then((code) => rej(new Error(`the recommender exited with ${code}:\n${out}`)));
  });
  return { child, metricsUrl, output: () => out, exited };
}

describe('ballast autoscale live: settings', () => {
  it('exits 2 naming the bad flag or variable', async () => {
    for (const [args, env, expected] of [
      [['--interval-ms', '100'], {}, /invalid --interval-ms="100": expected an integer from 200/],
      [['--roles', 'gateway,matching'], {}, /matching scales by shards/],
      [['--min', 'gateway=3', '--max', 'gateway=2'], {}, /gateway min 3 is above max 2/],
      [['--interval-ms', '1000'], {}, /--scrape-timeout-ms=1000: must be less than --interval-ms/],
      [[], { BALLAST_AUTOSCALE_INTERVAL: '5' }, /unknown environment variable BALLAST_AUTOSCALE_INTERVAL/],
    ] as const) {
      const r = await runBallast(['autoscale', 'live', ...args], env);
      assert.equal(r.code, 2, r.output);
      assert.match(r.output, expected);
    }
  });
});

describe('ballast autoscale live: the recommender scales a local cluster', { skip: skip ?? false }, () => {
  let cl: ClusterInstance;
  let rec: Recommender | undefined;
  before(async () => {
    await stores.create();
    cl = await startCluster([
      ...stores.args(),
      '--replicas',
      'gateway=1,oms=1,matching=1,ledger=1,marketdata=1',
      '--orders-per-10s',
      '0',
      '--requests-per-minute',
      '0',
    ]);
  });
  after(async () => {
    if (rec !== undefined && rec.child.exitCode === null) {
      rec.child.kill('SIGKILL');
      await rec.exited;
    }
    if (cl !== undefined && cl.child.exitCode === null) {
      cl.child.kill('SIGINT');
      await cl.exited;
    }
    await stores.drop();
  });

  it('adds a gateway under a load step and removes it after the load ends, and no request of a steady client fails', async () => {
    const { key } = await fundedAccount(cl, { USDT: '1000' });
    const control = readControlFile(cl.stateDir);
    const gateways = async (): Promise<ClusterStatus['replicas']> =>
      (await callControl<ClusterStatus>(control, 'GET', '/status')).body.replicas.filter((r) => r.role === 'gateway');
    const t0 = Date.now();
    const timeline: string[] = [];
    let lastShape = '';
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const g = await gateways();
        const shape = g.map((r) => `${r.role}-${r.replica}:${r.state}`).join(' ');
        if (shape !== lastShape) timeline.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${shape}`);
        lastShape = shape;
        await new Promise((r) => setTimeout(r, 250));
      }
    })();

    rec = await startRecommender(cl.stateDir, [
      '--roles',
      'gateway',
      '--min',
      'gateway=1',
      '--max',
      'gateway=2',
      '--interval-ms',
      '1000',
      '--scrape-timeout-ms',
      '800',
      '--target-elu',
      '0.25',
      '--slo-p99-ms',
      '0',
      '--scale-down-window-s',
      '6',
      '--ready-delay-s',
      '3',
    ]);

    // A steady light client all along: four keep-alive connections, authenticated GETs; each
    // connection is replaced every 1.5 s, so the round-robin puts some on every gateway and the
    // removed one has open keep-alive connections of it when it drains.
    const steady = { ok: 0, failed: [] as string[], connections: 0 };
    let steadyOn = true;
    const steadyLoop = async (): Promise<void> => {
      let agent = new Agent({ connections: 1, keepAliveTimeout: 30_000 });
      let since = Date.now();
      steady.connections++;
      while (steadyOn) {
        try {
          const res = await undiciFetch(`${cl.httpUrl}/api/v3/account`, {
            headers: { 'x-mbx-apikey': key },
            dispatcher: agent,
          });
          await res.arrayBuffer();
          if (res.status === 200) steady.ok++;
          else steady.failed.push(`HTTP ${res.status}`);
        } catch (err) {
          steady.failed.push(String((err as Error).cause ?? err));
        }
        if (Date.now() - since > 1500) {
          void agent.close();
          agent = new Agent({ connections: 1, keepAliveTimeout: 30_000 });
          since = Date.now();
          steady.connections++;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      await agent.close();
    };
    const steadyDone = Promise.all([steadyLoop(), steadyLoop(), steadyLoop(), steadyLoop()]);

    // The load step: many keep-alive loops of a cheap request.
    const loadAgent = new Agent({ connections: 32, keepAliveTimeout: 30_000 });
    let loadOn = true;
    const load = { ok: 0, failed: 0 };
    const loadLoop = async (): Promise<void> => {
      while (loadOn) {
        try {
          const res = await undiciFetch(`${cl.httpUrl}/api/v3/ticker/price?symbol=BTCUSDT`, { dispatcher: loadAgent });
          await res.arrayBuffer();
          if (res.status === 200) load.ok++;
          else load.failed++;
        } catch {
          load.failed++;
        }
      }
    };
    const loadStart = Date.now();
    const loadDone = Promise.all(Array.from({ length: 24 }, loadLoop));
    try {
      await waitUntil(
        async () => {
          const g = await gateways();
          return g.length === 2 && g.every((r) => r.state === 'ready');
        },
        40_000,
        'a second gateway added and ready',
      );
      timeline.push(
        `${((Date.now() - t0) / 1000).toFixed(1)}s scaled up; load so far ${load.ok} ok / ${load.failed} failed`,
      );
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      loadOn = false;
      await loadDone;
    }
    const loadS = (Date.now() - loadStart) / 1000;
    timeline.push(`${((Date.now() - t0) / 1000).toFixed(1)}s load stopped (${Math.round(load.ok / loadS)} req/s)`);

    await waitUntil(async () => (await gateways()).length === 1, 40_000, 'the extra gateway removed');
    timeline.push(`${((Date.now() - t0) / 1000).toFixed(1)}s scaled down`);
    await new Promise((r) => setTimeout(r, 1500));
    steadyOn = false;
    await steadyDone;
    sampling = false;
    await sampler;
    await loadAgent.close();

    const metrics = await (await fetch(`${rec.metricsUrl}/metrics`)).text();
    const decisions = rec
      .output()
      .split('\n')
      .filter((l) => l.includes('"scaled"') || l.includes('"scale requested"') || l.includes('"autoscale decision"'))
      .map((l) => {
        const j = JSON.parse(l) as {
          msg: string;
          time: string;
          from: number;
          to: number;
          ms: number;
          readyDelaysS?: number[];
          desired?: number;
          elu?: number;
          reqPerS?: number;
          limitedBy?: string;
        };
        if (j.msg === 'autoscale decision')
          return `${j.time.slice(11, 21)} decision desired ${j.desired} (elu ${j.elu}, ${j.reqPerS} req/s, limited by ${j.limitedBy})`;
        const ready =
          j.readyDelaysS !== undefined && j.readyDelaysS.length > 0
            ? `, ready after ${j.readyDelaysS.join(', ')} s`
            : '';
        return `${j.msg} ${j.from} -> ${j.to}${j.msg === 'scaled' ? ` in ${j.ms} ms${ready}` : ''}`;
      });
    console.log(
      [
        'gateways over time:',
        ...timeline,
        'recommender:',
        ...decisions,
        `steady client: ${steady.ok} ok, ${steady.failed.length} failed, ${steady.connections} connections`,
      ].join('\n  '),
    );
    assert.deepEqual(steady.failed, [], 'no request of the steady client failed');
    assert.ok(steady.ok >= 50, `the steady client made ${steady.ok} requests`);
    assert.match(metrics, /ballast_autoscaler_desired_replicas\{role="gateway"\} 1\b/);
    assert.match(
      metrics,
      /ballast_autoscaler_scale_requests_total\{role="gateway",direction="up",outcome="done"\} 1\b/,
    );
    assert.match(
      metrics,
      /ballast_autoscaler_scale_requests_total\{role="gateway",direction="down",outcome="done"\} 1\b/,
    );
    const readyDelay = /ballast_autoscaler_ready_delay_seconds\{role="gateway"\} ([\d.]+)/.exec(metrics);
    assert.ok(
      readyDelay !== null && Number(readyDelay[1]) > 0 && Number(readyDelay[1]) !== 3,
      'the ready time was measured',
    );
  });
});
