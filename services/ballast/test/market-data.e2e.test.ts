import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, fundedAccount, openWs, startInstance, stop, waitUntil, type Instance } from './harness.ts';

describe('market data over REST and WebSocket', () => {
  let inst: Instance;
  let maker: { key: string };
  let taker: { key: string };
  before(async () => {
    inst = await startInstance();
    maker = await fundedAccount(inst, { ETH: '100', USDT: '1000000' });
    taker = await fundedAccount(inst, { ETH: '100', USDT: '1000000' });
  });
  after(async () => {
    await stop(inst);
  });

  const place = (key: string, side: string, price: string, qty: string, type = 'LIMIT') =>
    call(inst.httpUrl, 'POST', '/api/v3/order', {
      key,
      params: {
        symbol: 'ETHUSDT',
        side,
        type,
        quantity: qty,
        newOrderRespType: 'ACK',
        ...(type === 'LIMIT' ? { price, timeInForce: 'GTC' } : {}),
      },
    });

  it('streams trades, aggregate trades and book tickers to subscribers (combined stream)', async () => {
    const { ws, messages } = await openWs(
      `${inst.httpUrl.replace('http', 'ws')}/stream?streams=ethusdt@trade/ethusdt@aggTrade/ethusdt@bookTicker`,
    );
    await place(maker.key, 'SELL', '2000', '0.5');
    await place(maker.key, 'SELL', '2000', '0.5');
    await place(taker.key, 'BUY', '', '0.7', 'MARKET');
    await waitUntil(async () => messages.filter((m) => m.stream === 'ethusdt@trade').length >= 2, 5000, 'two trades');
    const trades = messages.filter((m) => m.stream === 'ethusdt@trade').map((m) => m.data);
    assert.deepEqual(
      trades.map((t) => [t.e, t.s, t.p, t.q, t.m]),
      [
        ['trade', 'ETHUSDT', '2000.00000000', '0.50000000', false],
        ['trade', 'ETHUSDT', '2000.00000000', '0.20000000', false],
      ],
    );
    await waitUntil(async () => messages.some((m) => m.stream === 'ethusdt@aggTrade'), 5000, 'an aggregate trade');
    const agg = messages.find((m) => m.stream === 'ethusdt@aggTrade').data;
    assert.equal(agg.q, '0.70000000'); // one taker, one price: one aggregate
    assert.equal(agg.l - agg.f, 1);
    // The book ticker after the trades comes in a frame of its own, possibly after the others.
    await waitUntil(
      async () =>
        messages.some(
          (m) => m.stream === 'ethusdt@bookTicker' && m.data.a === '2000.00000000' && m.data.A === '0.30000000',
        ),
      5000,
      'the book ticker after the trades (best ask 2000, 0.3 left)',
    );
    ws.close();
  });

  it('lets a client sync a local book from the REST snapshot plus depth diffs, exactly', async () => {
    const { ws, messages } = await openWs(`${inst.httpUrl.replace('http', 'ws')}/ws/ethusdt@depth@100ms`);
    // Traffic before the snapshot...
    for (let i = 0; i < 10; i++)
      await place(maker.key, i % 2 ? 'SELL' : 'BUY', String(i % 2 ? 2010 + i : 1990 - i), '0.1');
    const snap = (await call(inst.httpUrl, 'GET', '/api/v3/depth', { params: { symbol: 'ETHUSDT', limit: 5000 } }))
      .body;
    // ...and after it, crossing and canceling.
    for (let i = 0; i < 30; i++) {
      const key = i % 3 === 0 ? taker.key : maker.key;
      await place(key, i % 2 ? 'BUY' : 'SELL', String(1995 + (i % 11) * 2), '0.05');
    }
    const final = await waitUntil(
      async () => {
        const d = (await call(inst.httpUrl, 'GET', '/api/v3/depth', { params: { symbol: 'ETHUSDT', limit: 5000 } }))
          .body;
        const last = messages.at(-1);
        return last !== undefined && last.u === d.lastUpdateId ? d : undefined;
      },
      5000,
      'the last diff to reach the client',
    );
    const book = { bids: new Map<string, string>(snap.bids), asks: new Map<string, string>(snap.asks) };
    let prevU = snap.lastUpdateId;
    let applied = 0;
    for (const d of messages) {
      if (d.e !== 'depthUpdate' || d.u <= snap.lastUpdateId) continue;
      if (applied === 0)
        assert.ok(d.U <= snap.lastUpdateId + 1 && d.u >= snap.lastUpdateId + 1, 'first diff straddles the snapshot');
      else assert.equal(d.U, prevU + 1, 'diffs are contiguous');
      for (const [p, q] of d.b) {
        if (q === '0.00000000') book.bids.delete(p);
        else book.bids.set(p, q);
      }
      for (const [p, q] of d.a) {
        if (q === '0.00000000') book.asks.delete(p);
        else book.asks.set(p, q);
      }
      prevU = d.u;
      applied++;
    }
    assert.ok(applied > 0);
    const sorted = (m: Map<string, string>, desc: boolean) =>
      [...m].sort((x, y) => (desc ? Number(y[0]) - Number(x[0]) : Number(x[0]) - Number(y[0])));
    assert.deepEqual(sorted(book.bids, true), final.bids);
    assert.deepEqual(sorted(book.asks, false), final.asks);
    ws.close();
  });

  it('serves partial depth, klines, aggTrades and tickers in Binance shapes', async () => {
    const { ws, messages } = await openWs(`${inst.httpUrl.replace('http', 'ws')}/ws`);
    ws.send(
      JSON.stringify({
        method: 'SUBSCRIBE',
        params: ['ethusdt@depth5@100ms', 'ethusdt@kline_1m', 'ethusdt@ticker'],
        id: 7,
      }),
    );
    await place(maker.key, 'SELL', '2100', '0.2');
    const bought = await call(inst.httpUrl, 'POST', '/api/v3/order', {
      key: taker.key,
      params: { symbol: 'ETHUSDT', side: 'BUY', type: 'MARKET', quantity: '0.1', newOrderRespType: 'FULL' },
    });
    const lastFill = bought.body.fills.at(-1).price;
    await waitUntil(
      async () => messages.some((m) => m.lastUpdateId !== undefined && m.asks?.length > 0),
      5000,
      'a partial depth',
    );
    await waitUntil(async () => messages.some((m) => m.e === 'kline'), 5000, 'a kline');
    await waitUntil(async () => messages.some((m) => m.e === '24hrTicker'), 5000, 'a ticker');
    const kline = messages.find((m) => m.e === 'kline');
    assert.equal(kline.k.i, '1m');
    const rest = (await call(inst.httpUrl, 'GET', '/api/v3/klines', { params: { symbol: 'ETHUSDT', interval: '1m' } }))
      .body;
    assert.equal(rest.at(-1).length, 12);
    assert.equal(rest.at(-1)[0] % 60000, 0);
    const aggs = (await call(inst.httpUrl, 'GET', '/api/v3/aggTrades', { params: { symbol: 'ETHUSDT', limit: 2 } }))
      .body;
    assert.deepEqual(Object.keys(aggs[0]), ['a', 'p', 'q', 'f', 'l', 'T', 'm', 'M']);
    const t = (await call(inst.httpUrl, 'GET', '/api/v3/ticker/24hr', { params: { symbol: 'ETHUSDT' } })).body;
    assert.equal(t.lastPrice, lastFill);
    const price = (await call(inst.httpUrl, 'GET', '/api/v3/ticker/price', { params: { symbol: 'ETHUSDT' } })).body;
    assert.deepEqual(price, { symbol: 'ETHUSDT', price: lastFill });
    const bt = (
      await call(inst.httpUrl, 'GET', '/api/v3/ticker/bookTicker', { params: { symbols: '["ETHUSDT","BTCUSDT"]' } })
    ).body;
    assert.deepEqual(
      bt.map((x: any) => x.symbol),
      ['ETHUSDT', 'BTCUSDT'],
    );
    ws.send(JSON.stringify({ method: 'LIST_SUBSCRIPTIONS', id: 8 }));
    await waitUntil(async () => messages.some((m) => m.id === 8), 3000, 'the subscription list');
    assert.deepEqual(messages.find((m) => m.id === 8).result.sort(), [
      'ethusdt@depth5@100ms',
      'ethusdt@kline_1m',
      'ethusdt@ticker',
    ]);
    ws.close();
  });
});
