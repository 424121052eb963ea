import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@ballast/state-nats';
import { SERVICES, skipUnlessService } from '@ballast/testkit';
import pg from 'pg';
import {
  balances,
  call,
  freshDataDir,
  fundedAccount,
  startInstance,
  stop,
  waitUntil,
  type Instance,
} from './harness.ts';

const skip =
  (await skipUnlessService('postgres')) ?? (await skipUnlessService('nats')) ?? (await skipUnlessService('redis'));
const database = `ballast_e2e_${process.pid}`;
const prefix = `t${process.pid}`;
const admin = (): pg.Client => new pg.Client({ connectionString: SERVICES.postgres.url });

describe('the same roles on PostgreSQL + NATS JetStream + Redis', { skip: skip ?? false }, () => {
  const dataDir = freshDataDir();
  const args = [
    '--postgres',
    SERVICES.postgres.url.replace(/\/[^/]*$/, `/${database}`),
    '--nats',
    SERVICES.nats.url,
    '--nats-prefix',
    prefix,
    '--redis',
    SERVICES.redis.url,
    '--snapshot-every',
    '10',
  ];
  let inst: Instance;
  before(async () => {
    const c = admin();
    await c.connect();
    await c.query(`CREATE DATABASE ${database}`);
    await c.end();
    inst = await startInstance(dataDir, args);
  });
  after(async () => {
    if (inst !== undefined) await stop(inst);
    const c = admin();
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await c.end();
    const nc = await connect({ servers: SERVICES.nats.url });
    const jsm = await jetstreamManager(nc);
    for await (const si of jsm.streams.list()) {
      if (si.config.name.startsWith(`${prefix.toUpperCase()}_`)) await jsm.streams.delete(si.config.name);
    }
    await nc.close();
  });

  it('reports its external dependencies as ready', async () => {
    assert.deepEqual((await call(inst.httpUrl, 'GET', '/readyz')).body, { status: 'ready' });
  });

  it('places, fills and cancels with exact balances, and keeps them across kill -9', async () => {
    const seller = await fundedAccount(inst, { BTC: '1' });
    const buyer = await fundedAccount(inst, { USDT: '10000' });
    const order = (key: string, params: Record<string, string>) =>
      call(inst.httpUrl, 'POST', '/api/v3/order', { key, params: { symbol: 'BTCUSDT', ...params } });
    const ask = await order(seller.key, {
      side: 'SELL',
      type: 'LIMIT',
      timeInForce: 'GTC',
      quantity: '0.3',
      price: '20000',
    });
    assert.equal(ask.status, 200, JSON.stringify(ask.body));
    const bid = await order(buyer.key, {
      side: 'BUY',
      type: 'LIMIT',
      timeInForce: 'GTC',
      quantity: '0.1',
      price: '20100',
    });
    assert.equal(bid.body.status, 'FILLED');
    await waitUntil(async () => (await balances(inst, seller.key)).USDT?.[0] === '1998.00000000', 10_000, 'settlement');
    assert.deepEqual((await balances(inst, buyer.key)).USDT, ['8000.00000000', '0.00000000']);
    for (let i = 0; i < 12; i++) {
      const r = await order(seller.key, {
        side: 'SELL',
        type: 'LIMIT',
        timeInForce: 'GTC',
        quantity: '0.01',
        price: String(21000 + i),
        newOrderRespType: 'ACK',
      });
      assert.equal(r.status, 200);
    }
    const cancel = await call(inst.httpUrl, 'DELETE', '/api/v3/order', {
      key: seller.key,
      params: { symbol: 'BTCUSDT', orderId: ask.body.orderId },
    });
    assert.equal(cancel.body.status, 'CANCELED');
    await waitUntil(
      async () => {
        const lag = (await call(inst.adminUrl, 'GET', '/admin/lag', { token: inst.adminToken })).body as {
          matchingLag: number;
          ledgerLag: number;
        }[];
        return lag.every((l) => l.matchingLag === 0 && l.ledgerLag === 0);
      },
      10_000,
      'all consumers to catch up',
    );
    const before = [
      await balances(inst, seller.key),
      await balances(inst, buyer.key),
      (await call(inst.httpUrl, 'GET', '/api/v3/depth', { params: { symbol: 'BTCUSDT' } })).body,
      (await call(inst.httpUrl, 'GET', '/api/v3/allOrders', { key: seller.key, params: { symbol: 'BTCUSDT' } })).body,
    ];
    await stop(inst, 'SIGKILL');
    inst = await startInstance(dataDir, args);
    const afterRestart = [
      await balances(inst, seller.key),
      await balances(inst, buyer.key),
      (await call(inst.httpUrl, 'GET', '/api/v3/depth', { params: { symbol: 'BTCUSDT' } })).body,
      (await call(inst.httpUrl, 'GET', '/api/v3/allOrders', { key: seller.key, params: { symbol: 'BTCUSDT' } })).body,
    ];
    assert.deepEqual(afterRestart, before);
    assert.deepEqual((await call(inst.adminUrl, 'GET', '/admin/ledger/verify', { token: inst.adminToken })).body, {
      ok: true,
      problems: [],
    });
  });
});
