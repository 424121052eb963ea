/**
 * Outage tests: the real PostgreSQL, NATS and Redis of this machine are each stopped for a few
 * seconds and started again (tools/services.sh, the machine's own service commands) while a
 * cluster takes orders. They run after every other test file (`npm test`'s second phase, one at
 * a time), because stopping a shared service would break tests running beside them; `after`
 * starts every service again whatever happens.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { skipUnlessService } from '@ballast/testkit';
import {
  allOrders,
  call,
  fundedAccount,
  privateStores,
  startCluster,
  startRetryingLoad,
  type LoadAnswer,
  waitForCatchUp,
  waitUntil,
  type ClusterInstance,
} from './harness.ts';

const run = promisify(execFile);
const SERVICES_SH = resolve(import.meta.dirname, '../../../tools/services.sh');
const service = (verb: 'stop' | 'start', name: string) => run('bash', [SERVICES_SH, verb, name], { timeout: 60_000 });

// The stores must be this machine's own services (tools/services.sh can stop and start them);
// stores in containers or elsewhere are left alone and the test is skipped, saying why.
const controllable = await run('bash', [
  '-c',
  'command -v pg_ctlcluster && command -v redis-server && command -v redis-cli && test -x /usr/sbin/nats-server',
]).then(
  () => true,
  () => false,
);
const skip =
  (await skipUnlessService('postgres')) ??
  (await skipUnlessService('nats')) ??
  (await skipUnlessService('redis')) ??
  (controllable ? undefined : 'the stores are not services of this machine (pg_ctlcluster, redis-server, nats-server)');
const stores = privateStores('outage');

describe('store outages: each store stopped and started again under load', { skip: skip ?? false }, () => {
  let cl: ClusterInstance;
  let stopLoad: (() => Promise<void>) | undefined;
  before(async () => {
    await stores.create();
    cl = await startCluster([
      ...stores.args(),
      '--redis',
      'redis://127.0.0.1:6379',
      '--replicas',
      'gateway=1,oms=1,matching=1,ledger=1,marketdata=1',
      '--orders-per-10s',
      '0',
      '--rate-limit-on-redis-failure',
      'open',
    ]);
  });
  after(async () => {
    await run('bash', [SERVICES_SH], { timeout: 120_000 }); // every store up again, whatever happened
    await stopLoad?.(); // a failed test leaves its load running: its connections would hold the cluster open
    if (cl !== undefined && cl.child.exitCode === null) {
      cl.child.kill('SIGINT');
      await cl.exited;
    }
    await stores.drop();
  });

  it('loses no acknowledged order and resumes unaided after Redis, NATS and PostgreSQL outages', async () => {
    const { key } = await fundedAccount(cl, { USDT: '1000000', BTC: '100' });
    const seen: (LoadAnswer & { phase: string })[] = [];
    let phase = 'steady';
    const load = startRetryingLoad(cl, key, {
      workers: 2,
      prefix: 'o',
      pauseMs: 200,
      onAnswer: (a) => seen.push({ ...a, phase }),
    });
    const { acked } = load;
    stopLoad = () => load.stop();
    const okIn = (p: string) => seen.filter((s) => s.phase === p && s.status === 200).length;

    for (const store of ['redis', 'nats', 'postgres'] as const) {
      phase = `before-${store}`;
      await waitUntil(async () => okIn(phase) >= 10, 30_000, `orders flowing before the ${store} outage`);
      phase = `${store}-down`;
      await service('stop', store);
      const down = performance.now();
      // Market data is served from memory: it keeps answering whatever store is down.
      const depth = await call(cl.httpUrl, 'GET', '/api/v3/depth', { params: { symbol: 'BTCUSDT' } });
      assert.equal(depth.status, 200, `depth while ${store} is down`);
      await waitUntil(async () => performance.now() - down > 4000, 10_000, 'the outage to last 4 s');
      phase = `${store}-back`;
      await service('start', store);
      await waitUntil(async () => okIn(phase) >= 10, 60_000, `order entry to resume by itself after ${store}`).catch(
        (err: unknown) => {
          // What the client saw since the store came back: the way to tell a stuck role from a dead load.
          const answers = seen.filter((s) => s.phase === phase).map((s) => `${s.status}:${s.code ?? ''}`);
          const counts = [...new Set(answers)].map((a) => `${a} ×${answers.filter((x) => x === a).length}`);
          throw new Error(`${(err as Error).message}; answers since: ${counts.join(', ') || 'none'}`, { cause: err });
        },
      );
    }
    phase = 'done';
    await load.stop();

    const during = (p: string) => seen.filter((s) => s.phase === p);
    // Redis down, failing open: orders keep being taken.
    assert.ok(okIn('redis-down') > 0, 'rate limiting fails open while Redis is down');
    // NATS or PostgreSQL down: order entry answers 503 with Retry-After (no 500, no hang).
    for (const p of ['nats-down', 'postgres-down']) {
      const refused = during(p).filter((s) => s.status === 503);
      assert.ok(refused.length > 0, `503 while ${p}: ${JSON.stringify(during(p).slice(0, 5))}`);
      assert.ok(
        refused.every((s) => Number(s.retryAfter) >= 1),
        'every 503 carries Retry-After',
      );
      assert.ok(
        during(p).every((s) => s.status === 200 || s.status === 503 || s.status === 0),
        `only 200 or 503 while ${p}: ${[...new Set(during(p).map((s) => s.status))].join(',')}`,
      );
    }
    // No acknowledged order lost, none twice.
    await waitForCatchUp(cl, 60_000);
    const all = await allOrders(cl, key);
    const byClient = new Map(all.map((o) => [o.clientOrderId, o.orderId]));
    for (const [clientId, orderId] of acked) assert.equal(byClient.get(clientId), orderId, `${clientId} in history`);
    assert.equal(new Set(all.map((o) => o.clientOrderId)).size, all.length, 'no client order id twice');
    assert.deepEqual((await call(cl.adminUrl, 'GET', '/admin/ledger/verify', { token: cl.adminToken })).body, {
      ok: true,
      problems: [],
    });
    const { replicas } = await cl.status();
    assert.ok(
      replicas.every((r) => r.ready),
      `every replica ready again: ${JSON.stringify(replicas)}`,
    );
  });
});
