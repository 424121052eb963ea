import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { kubernetesCluster } from '../src/autoscale/kubernetes-cluster.ts';
import { runAutoscaleLive } from '../src/autoscale/run-autoscale-live.ts';

/**
 * No Kubernetes cluster exists here: a small API server stands in, answering the calls the
 * adapter makes with the shapes of core/v1 Pod and the apps/v1 scale subresource, and removing
 * pods on scale-down the way the ReplicaSet controller ranks them (lowest
 * `controller.kubernetes.io/pod-deletion-cost` first, then the newest).
 */
interface FakePod {
  name: string;
  role: string;
  ready: boolean;
  ip: string;
  startTime: string;
  cost: number;
  /** Polls of the pod list before a new pod turns ready. */
  readyAfter: number;
}

class FakeApi {
  readonly app: FastifyInstance = Fastify({ logger: false });
  pods: FakePod[] = [];
  tokens: string[] = [];
  scaleCalls: { deployment: string; replicas: number }[] = [];
  /** Delays of the next scale PATCHes, ms (one taken per call). */
  scaleDelaysMs: number[] = [];
  forbidden = false;
  #serial = 0;
  url = '';

  constructor() {
    this.app.addContentTypeParser('application/merge-patch+json', { parseAs: 'string' }, (_req, body, done) =>
      done(null, JSON.parse(body as string)),
    );
    this.app.addHook('onRequest', async (req) => {
      this.tokens.push(String(req.headers.authorization ?? ''));
    });
    this.app.get('/api/v1/namespaces/:ns/pods', async (req) => {
      assert.equal((req.query as { labelSelector: string }).labelSelector, 'app.kubernetes.io/name=ballast');
      for (const p of this.pods) if (!p.ready && p.readyAfter-- <= 0) p.ready = true;
      return {
        kind: 'PodList',
        items: this.pods.map((p) => ({
          metadata: {
            name: p.name,
            labels: { 'app.kubernetes.io/name': 'ballast', 'app.kubernetes.io/component': p.role },
          },
          spec: { containers: [{ name: 'ballast', ports: [{ name: 'http', containerPort: 8080 }] }] },
          status: {
            phase: 'Running',
            podIP: p.ip,
            startTime: p.startTime,
            conditions: [{ type: 'Ready', status: p.ready ? 'True' : 'False' }],
          },
        })),
      };
    });
    this.app.patch('/api/v1/namespaces/:ns/pods/:name', async (req, reply) => {
      assert.equal(req.headers['content-type'], 'application/merge-patch+json');
      const pod = this.pods.find((p) => p.name === (req.params as { name: string }).name);
      if (pod === undefined) return reply.code(404).send({ kind: 'Status', message: 'pod not found' });
      const cost = (req.body as any).metadata.annotations['controller.kubernetes.io/pod-deletion-cost'];
      pod.cost = Number(cost);
      return {};
    });
    this.app.patch('/apis/apps/v1/namespaces/:ns/deployments/:name/scale', async (req, reply) => {
      if (this.forbidden)
        return reply.code(403).send({ kind: 'Status', message: 'deployments.apps "x" is forbidden: RBAC' });
      const deployment = (req.params as { name: string }).name;
      const replicas = (req.body as { spec: { replicas: number } }).spec.replicas;
      const delayMs = this.scaleDelaysMs.shift() ?? 0;
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      this.scaleCalls.push({ deployment, replicas });
      const role = deployment.replace(/^ballast-/, '');
      const mine = () => this.pods.filter((p) => p.role === role);
      while (mine().length < replicas) this.add(role, false);
      while (mine().length > replicas) {
        const victim = mine().sort((a, b) => a.cost - b.cost || b.startTime.localeCompare(a.startTime))[0]!;
        this.pods = this.pods.filter((p) => p !== victim);
      }
      return { kind: 'Scale', spec: { replicas } };
    });
  }

  add(role: string, ready: boolean): FakePod {
    const n = ++this.#serial;
    const pod = {
      name: `ballast-${role}-${n}`,
      role,
      ready,
      ip: `10.0.0.${n}`,
      startTime: new Date(Date.UTC(2026, 10, 27, 12, 0, n)).toISOString(),
      cost: 0,
      readyAfter: 2,
    };
    this.pods.push(pod);
    return pod;
  }

  async start(): Promise<void> {
    await this.app.listen({ host: '127.0.0.1', port: 0 });
    this.url = `http://127.0.0.1:${(this.app.server.address() as AddressInfo).port}`;
  }
}

describe('the live recommender on Kubernetes (API server stand-in)', () => {
  const api = new FakeApi();
  const dir = mkdtempSync(join(tmpdir(), 'ballast-k8s-'));
  const tokenFile = join(dir, 'token');
  before(() => api.start());
  after(async () => {
    await api.app.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const cluster = () =>
    kubernetesCluster({ apiUrl: api.url, namespace: 'trading', tokenFile, pollMs: 5, settleTimeoutMs: 5000 });
  const signal = new AbortController().signal;

  it('reports pods as replicas: role from the label, ready from the condition, metrics at the pod address', async () => {
    api.pods = [];
    const a = api.add('gateway', true);
    api.add('gateway', false).readyAfter = 100;
    api.add('oms', true);
    writeFileSync(tokenFile, 'token-one\n');
    const s = await cluster().status(signal);
    assert.deepEqual(
      s.replicas.map((r) => [r.role, r.replica, r.state, r.opsUrl]),
      [
        ['gateway', 0, 'ready', `http://${a.ip}:8080`],
        ['gateway', 1, 'starting', null],
        ['oms', 0, 'ready', 'http://10.0.0.3:8080'],
      ],
    );
    assert.equal(api.tokens.at(-1), 'Bearer token-one');
  });

  it('reads the service-account token again on every call (Kubernetes rotates it)', async () => {
    const c = cluster();
    writeFileSync(tokenFile, 'token-one\n');
    await c.status(signal);
    writeFileSync(tokenFile, 'token-two\n');
    await c.status(signal);
    assert.deepEqual(api.tokens.slice(-2), ['Bearer token-one', 'Bearer token-two']);
  });

  it('scales down by removing the replica it prefers: marked with the lowest pod-deletion-cost first', async () => {
    api.pods = [];
    const old = api.add('oms', true);
    const busy = api.add('oms', true);
    const idle = api.add('oms', true);
    const c = cluster();
    const s0 = await c.status(signal);
    const idleNumber = s0.replicas.find((r) => r.opsUrl === `http://${idle.ip}:8080`)!.replica;
    // Kubernetes alone would remove the newest; the recommender prefers the least busy.
    const s = await c.scale('oms', 2, [idleNumber], signal);
    assert.deepEqual(api.scaleCalls.at(-1), { deployment: 'ballast-oms', replicas: 2 });
    assert.deepEqual(
      api.pods.map((p) => p.name),
      [old.name, busy.name],
    );
    assert.equal(s.replicas.filter((r) => r.role === 'oms').length, 2);
    assert.equal(idle.cost, -1000);
  });

  it('scales up and answers once the added replicas are ready, keeping the numbers of the others', async () => {
    api.pods = [];
    api.add('gateway', true);
    const c = cluster();
    const before = await c.status(signal);
    const s = await c.scale('gateway', 3, [], signal);
    const gw = s.replicas.filter((r) => r.role === 'gateway');
    assert.equal(gw.length, 3);
    assert.ok(gw.every((r) => r.state === 'ready'));
    assert.deepEqual(
      gw.map((r) => r.replica),
      [0, 1, 2],
    );
    assert.equal(gw[0]!.opsUrl, before.replicas[0]!.opsUrl);
  });

  it('a superseded request stops waiting, and its PATCH still lands before the newer one', async () => {
    api.pods = [];
    api.scaleCalls = [];
    api.add('gateway', true);
    api.scaleDelaysMs = [150]; // the first PATCH is slow at the API server
    const c = cluster();
    const older = new AbortController();
    const first = c.scale('gateway', 5, [], older.signal).then(
      () => 'settled',
      (err: unknown) => (err as Error).message,
    );
    await new Promise((r) => setTimeout(r, 60)); // its PATCH is at the API server now
    older.abort(new Error('superseded'));
    const s = await c.scale('gateway', 2, [], signal);
    assert.equal(await first, 'superseded');
    assert.deepEqual(
      api.scaleCalls.map((x) => x.replicas),
      [5, 2],
      'the newest count is the last one applied',
    );
    assert.equal(s.replicas.filter((r) => r.role === 'gateway').length, 2);
  });

  it('fails a scale request with the API server’s reason (RBAC)', async () => {
    api.forbidden = true;
    try {
      await assert.rejects(cluster().scale('gateway', 4, [], signal), /answered 403: .*forbidden: RBAC/);
    } finally {
      api.forbidden = false;
    }
  });

  it('refuses --kubernetes outside a pod without --kube-api-url, naming what is missing (exit 2)', async () => {
    let err = '';
    const code = await runAutoscaleLive({
      argv: ['--kubernetes', '--metrics-port', '0'],
      env: {},
      signal,
      stderr: { write: (s: string) => ((err += s), true) } as NodeJS.WritableStream,
      isTty: false,
    });
    assert.equal(code, 2);
    assert.match(err, /--kubernetes needs --kube-api-url, or to run in a pod/);
  });
});
