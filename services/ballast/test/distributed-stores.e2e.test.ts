import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SERVICES, skipUnlessService } from '@ballast/testkit';
import {
  balances,
  call,
  checkDepositPastBalanceLimit,
  freshDataDir,
  fundedAccount,
  startInstance,
  stop,
  waitUntil,
  type Instance,
  privateStores,
  waitForCatchUp,
} from './harness.ts';

const skip =
  (await skipUnlessService('postgres')) ?? (await skipUnlessService('nats')) ?? (await skipUnlessService('redis'));
const stores = privateStores('e2e');

describe('the same roles on PostgreSQL + NATS JetStream + Redis', { skip: skip ?? false }, () => {
  const dataDir = freshDataDir();
  const args = [...stores.args(), '--redis', SERVICES.redis.url, '--snapshot-every', '10'];
  let inst: Instance;
  before(async () => {
    await stores.create();
    inst = await startInstance(dataDir, args);
  });
  after(async () => {
    if (inst !== undefined) await stop(inst);
    await stores.drop();
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
    await waitForCatchUp(inst);
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

  it("refuses a deposit that would take the venue's USDT beyond a 64-bit balance with -1130, and changes nothing", async () => {
    await checkDepositPastBalanceLimit(inst);
  });
});
