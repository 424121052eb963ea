import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SERVICES, createTcpProxy, skipUnlessService, type TcpProxy } from '@ballast/testkit';
import {
  call,
  freshDataDir,
  fundedAccount,
  startInstance,
  stop,
  waitUntil,
  type Instance,
  privateStores,
  placeSmallBuy,
} from './harness.ts';

const skip = (await skipUnlessService('postgres')) ?? (await skipUnlessService('nats'));
const stores = privateStores('degrade');

describe('degrade, do not die: PostgreSQL goes away and comes back', { skip: skip ?? false }, () => {
  let proxy: TcpProxy;
  let inst: Instance;
  before(async () => {
    await stores.create();
    proxy = await createTcpProxy({ host: SERVICES.postgres.host, port: SERVICES.postgres.port });
    inst = await startInstance(freshDataDir(), stores.args(proxy.port));
  });
  after(async () => {
    if (inst !== undefined) await stop(inst);
    await proxy?.close();
    await stores.drop();
  });

  it('answers order entry with 503 + Retry-After (fast once the breaker opens), keeps serving market data and readiness says why, then recovers by itself', async () => {
    const { key } = await fundedAccount(inst, { USDT: '10000' });
    const place = (i: number) => placeSmallBuy(inst, key, i);
    assert.equal((await place(0)).status, 200);

    proxy.cut();
    const timings: number[] = [];
    const statuses: number[] = [];
    for (let i = 1; i <= 8; i++) {
      const res = await fetch(`${inst.httpUrl}/api/v3/order`, {
        method: 'POST',
        headers: { 'x-mbx-apikey': key, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          symbol: 'BTCUSDT',
          side: 'BUY',
          type: 'LIMIT',
          timeInForce: 'GTC',
          quantity: '0.01',
          price: String(10000 + i),
          newOrderRespType: 'ACK',
        }).toString(),
      }).catch(() => undefined);
      statuses.push(res?.status ?? 0);
      if (res !== undefined) {
        assert.ok(
          Number(res.headers.get('retry-after')) >= 1,
          `Retry-After on ${res.status}: ${await res.clone().text()}`,
        );
        await res.text();
      }
    }
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const r = await place(100 + i);
      timings.push(performance.now() - t);
      statuses.push(r.status);
    }
    assert.ok(
      statuses.every((s) => s === 503 || s === 401),
      `statuses ${statuses.join(',')}`,
    );
    assert.ok(
      timings.every((ms) => ms < 100),
      `once the breaker is open, 503 within 100 ms (got ${timings.map((t) => t.toFixed(1)).join(', ')})`,
    );
    // Market data is in memory, fed by the event log: it keeps answering.
    assert.equal((await call(inst.httpUrl, 'GET', '/api/v3/depth', { params: { symbol: 'BTCUSDT' } })).status, 200);
    const ready = await call(inst.httpUrl, 'GET', '/readyz');
    assert.equal(ready.status, 503);
    assert.ok('database' in ready.body.failed);

    proxy.restore();
    await waitUntil(async () => (await place(200)).status === 200, 15_000, 'order entry to recover');
    assert.deepEqual((await call(inst.httpUrl, 'GET', '/readyz')).body, { status: 'ready' });
  });
});

const skipRedis = await skipUnlessService('redis');

describe('degrade, do not die: Redis goes away', { skip: skipRedis ?? false }, () => {
  const placeWith = placeSmallBuy;

  for (const mode of ['open', 'closed'] as const) {
    it(`fails ${mode}: rate limiting ${mode === 'open' ? 'lets requests through' : 'answers 503'}, counts it, and recovers`, async () => {
      const proxy = await createTcpProxy({ host: SERVICES.redis.host, port: SERVICES.redis.port });
      const inst = await startInstance(freshDataDir(), [
        '--redis',
        `redis://127.0.0.1:${proxy.port}`,
        '--rate-limit-on-redis-failure',
        mode,
      ]);
      try {
        const { key } = await fundedAccount(inst, { USDT: '1000' });
        assert.equal((await placeWith(inst, key, 0)).status, 200);
        proxy.cut();
        const r = await placeWith(inst, key, 1);
        assert.equal(r.status, mode === 'open' ? 200 : 503, JSON.stringify(r.body));
        const m = await fetch(`${inst.httpUrl}/metrics`).then((x) => x.text());
        assert.match(m, /ballast_rate_limit_store_errors_total [1-9]/);
        proxy.restore();
        await waitUntil(async () => (await placeWith(inst, key, 2)).status === 200, 15_000, 'rate limiting to recover');
      } finally {
        await stop(inst);
        await proxy.close();
      }
    });
  }
});
