import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { formatMinor } from '@ballast/contracts';
import {
  balances,
  call,
  checkOrdersSentTogether,
  fundedAccount,
  startInstance,
  stop,
  waitUntil,
  type Instance,
} from './harness.ts';

describe('order flow over HTTP (ballast start, embedded)', () => {
  let inst: Instance;
  before(async () => {
    inst = await startInstance();
  });
  after(async () => {
    await stop(inst);
  });

  const order = (key: string, params: Record<string, string | number>) =>
    call(inst.httpUrl, 'POST', '/api/v3/order', { key, params: { symbol: 'BTCUSDT', ...params } });

  it('answers ping, time and exchangeInfo in Binance shapes', async () => {
    assert.deepEqual((await call(inst.httpUrl, 'GET', '/api/v3/ping')).body, {});
    assert.equal(typeof (await call(inst.httpUrl, 'GET', '/api/v3/time')).body.serverTime, 'number');
    const info = (await call(inst.httpUrl, 'GET', '/api/v3/exchangeInfo', { params: { symbol: 'BTCUSDT' } })).body;
    const filters = Object.fromEntries(info.symbols[0].filters.map((f: any) => [f.filterType, f]));
    assert.equal(filters.PRICE_FILTER.tickSize, '0.01000000');
    assert.equal(filters.LOT_SIZE.stepSize, '0.00001000');
    assert.deepEqual(
      info.symbols.map((s: any) => s.symbol),
      ['BTCUSDT'],
    );
  });

  it('places, partially fills, fills and cancels, with exact balances and fees', async () => {
    const seller = await fundedAccount(inst, { BTC: '1' });
    const buyer = await fundedAccount(inst, { USDT: '10000' });
    const ask = await order(seller.key, {
      side: 'SELL',
      type: 'LIMIT',
      timeInForce: 'GTC',
      quantity: '0.3',
      price: '20000',
    });
    assert.equal(ask.status, 200);
    assert.equal(ask.body.status, 'NEW');
    // Buy 0.1 at 20100: fills at the maker's 20000; 0.1 × 100 of price improvement is released.
    const bid = await order(buyer.key, {
      side: 'BUY',
      type: 'LIMIT',
      timeInForce: 'GTC',
      quantity: '0.1',
      price: '20100',
    });
    assert.equal(bid.body.status, 'FILLED');
    assert.equal(bid.body.cummulativeQuoteQty, '2000.00000000');
    assert.deepEqual(bid.body.fills, [
      {
        price: '20000.00000000',
        qty: '0.10000000',
        commission: '0.00010000',
        commissionAsset: 'BTC',
        tradeId: bid.body.fills[0].tradeId,
      },
    ]);
    await waitUntil(
      async () => {
        const o = await call(inst.httpUrl, 'GET', '/api/v3/order', {
          key: seller.key,
          params: { symbol: 'BTCUSDT', orderId: ask.body.orderId },
        });
        return o.body.status === 'PARTIALLY_FILLED' && o.body.executedQty === '0.10000000';
      },
      5000,
      'the maker to show its partial fill',
    );
    assert.deepEqual((await balances(inst, buyer.key)).USDT, ['8000.00000000', '0.00000000']);
    assert.deepEqual((await balances(inst, buyer.key)).BTC, ['0.09990000', '0.00000000']);
    const sellerBal = await balances(inst, seller.key);
    assert.deepEqual(sellerBal.BTC, ['0.70000000', '0.20000000']);
    assert.deepEqual(sellerBal.USDT, ['1998.00000000', '0.00000000']); // 2000 − 0.1% maker fee

    const open = await call(inst.httpUrl, 'GET', '/api/v3/openOrders', {
      key: seller.key,
      params: { symbol: 'BTCUSDT' },
    });
    assert.deepEqual(
      open.body.map((o: any) => o.orderId),
      [ask.body.orderId],
    );
    const canceled = await call(inst.httpUrl, 'DELETE', '/api/v3/order', {
      key: seller.key,
      params: { symbol: 'BTCUSDT', orderId: ask.body.orderId },
    });
    assert.equal(canceled.status, 200);
    assert.equal(canceled.body.status, 'CANCELED');
    assert.equal(canceled.body.executedQty, '0.10000000');
    await waitUntil(
      async () => (await balances(inst, seller.key)).BTC?.[1] === '0.00000000',
      5000,
      'the reservation to be released',
    );
    assert.deepEqual((await balances(inst, seller.key)).BTC, ['0.90000000', '0.00000000']);
    const again = await call(inst.httpUrl, 'DELETE', '/api/v3/order', {
      key: seller.key,
      params: { symbol: 'BTCUSDT', orderId: ask.body.orderId },
    });
    assert.equal(again.status, 400);
    assert.equal(again.body.code, -2011);
    const trades = await call(inst.httpUrl, 'GET', '/api/v3/myTrades', {
      key: buyer.key,
      params: { symbol: 'BTCUSDT' },
    });
    assert.equal(trades.body.length, 1);
    assert.equal(trades.body[0].isBuyer, true);
    assert.equal(trades.body[0].isMaker, false);
  });

  it('returns the original order when a client retries with the same newClientOrderId', async () => {
    const a = await fundedAccount(inst, { USDT: '1000' });
    const params = {
      side: 'BUY',
      type: 'LIMIT',
      timeInForce: 'GTC',
      quantity: '0.01',
      price: '10000',
      newClientOrderId: 'retry-me-1',
      newOrderRespType: 'ACK',
    };
    const first = await order(a.key, params);
    const second = await order(a.key, params);
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    assert.equal(second.body.orderId, first.body.orderId);
    const all = await call(inst.httpUrl, 'GET', '/api/v3/allOrders', { key: a.key, params: { symbol: 'BTCUSDT' } });
    assert.equal(all.body.length, 1);
    assert.deepEqual((await balances(inst, a.key)).USDT, ['900.00000000', '100.00000000']);
  });

  it('rejects an order the account cannot pay for, and changes nothing', async () => {
    const a = await fundedAccount(inst, { USDT: '50' });
    const r = await order(a.key, { side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.01', price: '10000' });
    assert.equal(r.status, 400);
    assert.equal(r.body.code, -2010);
    assert.deepEqual((await balances(inst, a.key)).USDT, ['50.00000000', '0.00000000']);
    const all = await call(inst.httpUrl, 'GET', '/api/v3/allOrders', { key: a.key, params: { symbol: 'BTCUSDT' } });
    assert.deepEqual(all.body, []);
  });

  it('buys at market by quote amount and releases what it did not spend', async () => {
    const seller = await fundedAccount(inst, { BTC: '1' });
    const buyer = await fundedAccount(inst, { USDT: '1000' });
    await order(seller.key, {
      symbol: 'BTCUSDT',
      side: 'SELL',
      type: 'LIMIT',
      timeInForce: 'GTC',
      quantity: '0.01',
      price: '30000',
    });
    const r = await order(buyer.key, { side: 'BUY', type: 'MARKET', quoteOrderQty: '600' });
    assert.equal(r.status, 200);
    assert.equal(r.body.executedQty, '0.01000000');
    assert.equal(r.body.cummulativeQuoteQty, '300.00000000');
    assert.equal(r.body.status, 'EXPIRED'); // the book ran out before the budget
    await waitUntil(
      async () => (await balances(inst, buyer.key)).USDT?.[0] === '700.00000000',
      5000,
      'unspent quote released',
    );
  });

  it('rejects a LIMIT_MAKER that would take', async () => {
    const seller = await fundedAccount(inst, { ETH: '5' });
    const buyer = await fundedAccount(inst, { USDT: '10000' });
    await call(inst.httpUrl, 'POST', '/api/v3/order', {
      key: seller.key,
      params: { symbol: 'ETHUSDT', side: 'SELL', type: 'LIMIT', timeInForce: 'GTC', quantity: '1', price: '2000' },
    });
    const r = await call(inst.httpUrl, 'POST', '/api/v3/order', {
      key: buyer.key,
      params: {
        symbol: 'ETHUSDT',
        side: 'BUY',
        type: 'LIMIT_MAKER',
        quantity: '1',
        price: '2000',
        newOrderRespType: 'RESULT',
      },
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.code, -2010);
    assert.match(r.body.msg, /immediately match and take/);
    // Read your writes: the very next reads show the reservation released and nothing open.
    assert.deepEqual((await balances(inst, buyer.key)).USDT, ['10000.00000000', '0.00000000']);
    const open = await call(inst.httpUrl, 'GET', '/api/v3/openOrders', {
      key: buyer.key,
      params: { symbol: 'ETHUSDT' },
    });
    assert.deepEqual(open.body, []);
  });

  it('shows a fill in the very next read: the trade, the balances and the order status (read your writes)', async () => {
    // ETHBTC: a book no other test here trades, so each bid meets only the ask before it.
    const seller = await fundedAccount(inst, { ETH: '1' });
    const buyer = await fundedAccount(inst, { BTC: '1' });
    const ethBtc = { symbol: 'ETHBTC', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.01', price: '0.05' };
    for (let i = 1; i <= 10; i++) {
      const ask = await order(seller.key, { ...ethBtc, side: 'SELL' });
      assert.equal(ask.status, 200);
      const bid = await order(buyer.key, { ...ethBtc, side: 'BUY', newOrderRespType: 'FULL' });
      assert.equal(bid.body.status, 'FILLED');
      // No pause: each read must already show what the FILLED answer said.
      const [trades, mine, account] = await Promise.all([
        call(inst.httpUrl, 'GET', '/api/v3/myTrades', { key: buyer.key, params: { symbol: 'ETHBTC' } }),
        call(inst.httpUrl, 'GET', '/api/v3/order', {
          key: buyer.key,
          params: { symbol: 'ETHBTC', orderId: bid.body.orderId },
        }),
        balances(inst, buyer.key),
      ]);
      assert.equal(trades.body.length, i);
      assert.equal(mine.body.status, 'FILLED');
      // 0.01 ETH less the 0.1% taker fee, each; 0.0005 BTC paid, each.
      assert.equal(account['ETH']![0], formatMinor(999_000n * BigInt(i), 8));
      assert.equal(account['BTC']![0], formatMinor(100_000_000n - 50_000n * BigInt(i), 8));
      const sellerOrder = await call(inst.httpUrl, 'GET', '/api/v3/order', {
        key: seller.key,
        params: { symbol: 'ETHBTC', orderId: ask.body.orderId },
      });
      assert.equal(sellerOrder.body.status, 'FILLED');
      // 0.0005 BTC less the 0.1% maker fee, each.
      assert.equal((await balances(inst, seller.key))['BTC']![0], formatMinor(49_950n * BigInt(i), 8));
    }
  });

  it('answers orders sent together (one command-log entry) each with its own result', async () => {
    await checkOrdersSentTogether(inst);
  });

  it('cancels every open order of a symbol with DELETE /api/v3/openOrders and releases their reservations', async () => {
    const buyer = await fundedAccount(inst, { USDT: '10000' });
    const ids: number[] = [];
    for (const price of ['1000', '1001', '1002']) {
      const r = await order(buyer.key, { side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.1', price });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      ids.push(r.body.orderId as number);
    }
    assert.deepEqual((await balances(inst, buyer.key)).USDT, ['9699.70000000', '300.30000000']);
    const r = await call(inst.httpUrl, 'DELETE', '/api/v3/openOrders', {
      key: buyer.key,
      params: { symbol: 'BTCUSDT' },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(
      r.body.map((o: any) => [o.orderId, o.status, o.origQty, o.executedQty]),
      ids.map((id) => [id, 'CANCELED', '0.10000000', '0.00000000']),
    );
    const open = await call(inst.httpUrl, 'GET', '/api/v3/openOrders', {
      key: buyer.key,
      params: { symbol: 'BTCUSDT' },
    });
    assert.deepEqual(open.body, []);
    assert.deepEqual((await balances(inst, buyer.key)).USDT, ['10000.00000000', '0.00000000']);
    // Nothing left: an empty list.
    const again = await call(inst.httpUrl, 'DELETE', '/api/v3/openOrders', {
      key: buyer.key,
      params: { symbol: 'BTCUSDT' },
    });
    assert.deepEqual([again.status, again.body], [200, []]);
  });

  it('keeps the ledger balanced: every invariant holds', async () => {
    const v = await call(inst.adminUrl, 'GET', '/admin/ledger/verify', { token: inst.adminToken });
    assert.deepEqual(v.body, { ok: true, problems: [] });
  });

  it('serves health and Prometheus metrics', async () => {
    assert.equal((await call(inst.httpUrl, 'GET', '/livez')).status, 200);
    assert.deepEqual((await call(inst.httpUrl, 'GET', '/readyz')).body, { status: 'ready' });
    const m = await fetch(`${inst.httpUrl}/metrics`).then((r) => r.text());
    for (const name of [
      'ballast_http_requests_total',
      'ballast_event_loop_utilization',
      'ballast_http_in_flight',
      'ballast_orders_accepted_total',
      'ballast_trades_total',
      'ballast_ws_connections',
    ]) {
      assert.ok(m.includes(name), `metrics include ${name}`);
    }
    // one process: it leads every matching shard
    const leading = m.split('\n').filter((l) => l.startsWith('ballast_matching_leader{'));
    assert.ok(leading.length > 0 && leading.every((l) => l.endsWith(' 1')), leading.join('\n'));
  });
});
