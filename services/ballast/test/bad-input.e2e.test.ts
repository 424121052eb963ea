import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import {
  balances,
  call,
  checkDepositPastBalanceLimit,
  fundedAccount,
  openWs,
  runBallast,
  startInstance,
  stop,
  waitUntil,
  type Instance,
} from './harness.ts';

describe('bad settings', () => {
  it('exits 2 naming an unknown flag', async () => {
    const r = await runBallast(['start', '--htp-port', '1']);
    assert.equal(r.code, 2);
    assert.match(r.output, /unknown flag --htp-port/);
  });
  it('exits 2 naming an invalid value, from a flag or an environment variable', async () => {
    const r = await runBallast(['start', '--http-port', '99999']);
    assert.equal(r.code, 2);
    assert.match(r.output, /--http-port="99999"/);
    const e = await runBallast(['start'], { BALLAST_LOG_LEVEL: 'loud' });
    assert.equal(e.code, 2);
    assert.match(e.output, /BALLAST_LOG_LEVEL="loud"/);
  });
  it('exits 2 naming an unknown BALLAST_ variable and an unknown command', async () => {
    const r = await runBallast(['start'], { BALLAST_HTTP_PROT: '1' });
    assert.equal(r.code, 2);
    assert.match(r.output, /unknown environment variable BALLAST_HTTP_PROT/);
    const c = await runBallast(['launch']);
    assert.equal(c.code, 2);
    assert.match(c.output, /unknown command "launch"/);
  });
});

describe('bad input over HTTP and WebSocket gets a clear error and changes nothing', () => {
  let inst: Instance;
  let key: string;
  before(async () => {
    inst = await startInstance();
    key = (await fundedAccount(inst, { USDT: '1000', BTC: '1' })).key;
  });
  after(async () => {
    await stop(inst);
  });

  const good = { symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.001', price: '20000' };
  const cases: [string, { params?: Record<string, string>; body?: string; contentType?: string }, number, number][] = [
    ['malformed JSON', { body: '{"symbol": "BTCUSDT",', contentType: 'application/json' }, 400, -1098],
    ['a JSON array body', { body: '[1,2]', contentType: 'application/json' }, 400, -1098],
    [
      'a number where a string is expected',
      { body: JSON.stringify({ ...good, quantity: [1] }), contentType: 'application/json' },
      400,
      -1130,
    ],
    ['a missing side', { params: { ...good, side: '' } }, 400, -1102],
    ['an unknown side', { params: { ...good, side: 'LONG' } }, 400, -1117],
    ['an unknown order type', { params: { ...good, type: 'ICEBERG' } }, 400, -1116],
    ['a zero quantity', { params: { ...good, quantity: '0' } }, 400, -1130],
    ['a negative quantity', { params: { ...good, quantity: '-1' } }, 400, -1100],
    ['a quantity in exponent form', { params: { ...good, quantity: '1e-3' } }, 400, -1100],
    ['a quantity finer than the step', { params: { ...good, quantity: '0.000001' } }, 400, -1013],
    ['a price finer than the tick', { params: { ...good, price: '20000.001' } }, 400, -1013],
    ['a quantity below the minimum notional', { params: { ...good, quantity: '0.00001', price: '1' } }, 400, -1013],
    ['an unknown symbol', { params: { ...good, symbol: 'DOGEUSDT' } }, 400, -1121],
    ['an unknown parameter', { params: { ...good, leverage: '10' } }, 400, -1104],
    [
      'an oversized body',
      { body: `symbol=BTCUSDT&x=${'a'.repeat(40_000)}`, contentType: 'application/x-www-form-urlencoded' },
      413,
      -1099,
    ],
    ['an unsupported content type', { body: '<xml/>', contentType: 'application/xml' }, 415, -1098],
  ];

  for (const [what, req, status, code] of cases) {
    it(`rejects ${what} with ${status} and code ${code}`, async () => {
      const before = await balances(inst, key);
      const r = await call(inst.httpUrl, 'POST', '/api/v3/order', { key, ...req });
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(r.body.code, code, JSON.stringify(r.body));
      assert.equal(typeof r.body.msg, 'string');
      assert.deepEqual(await balances(inst, key), before);
      const open = await call(inst.httpUrl, 'GET', '/api/v3/openOrders', { key });
      assert.deepEqual(open.body, []);
    });
  }

  it('rejects a missing or unknown API key', async () => {
    assert.equal((await call(inst.httpUrl, 'GET', '/api/v3/account')).body.code, -2014);
    assert.equal((await call(inst.httpUrl, 'GET', '/api/v3/account', { key: 'a'.repeat(64) })).body.code, -2015);
    assert.equal((await call(inst.httpUrl, 'GET', '/api/v3/account', { key: 'a'.repeat(64) })).status, 401);
  });

  it('rejects bad market-data queries', async () => {
    assert.equal((await call(inst.httpUrl, 'GET', '/api/v3/depth', { params: { symbol: 'NOPE' } })).body.code, -1121);
    assert.equal(
      (await call(inst.httpUrl, 'GET', '/api/v3/depth', { params: { symbol: 'BTCUSDT', limit: '0' } })).body.code,
      -1130,
    );
    assert.equal(
      (await call(inst.httpUrl, 'GET', '/api/v3/klines', { params: { symbol: 'BTCUSDT', interval: '7m' } })).body.code,
      -1120,
    );
    assert.equal((await call(inst.httpUrl, 'GET', '/api/v3/nothing-here')).status, 404);
  });

  it('refuses an unknown stream name at connect time with 400', async () => {
    const ws = new WebSocket(`${inst.httpUrl.replace('http', 'ws')}/ws/btcusdt@nonsense`);
    const status = await new Promise<number>((res, rej) => {
      ws.on('unexpected-response', (_req, resp) => res(resp.statusCode ?? 0));
      ws.on('open', () => rej(new Error('connected to an unknown stream')));
      ws.on('error', () => undefined);
    });
    assert.equal(status, 400);
    assert.equal((await call(inst.httpUrl, 'GET', '/livez')).status, 200);
  });

  it('answers garbage WebSocket frames with an error and keeps the connection', async () => {
    const { ws, messages } = await openWs(`${inst.httpUrl.replace('http', 'ws')}/ws`);
    ws.send('not json');
    ws.send(JSON.stringify({ method: 'SUBSCRIBE', params: ['btcusdt@nonsense'], id: 1 }));
    ws.send(JSON.stringify({ method: 'FLY', id: 2 }));
    ws.send(JSON.stringify({ method: 'SUBSCRIBE', params: 'btcusdt@trade', id: 3 }));
    ws.send(Buffer.from([0, 1, 2, 3]), { binary: true });
    ws.send(JSON.stringify({ method: 'SUBSCRIBE', params: ['btcusdt@trade'], id: 4 }));
    await waitUntil(async () => messages.length >= 6, 3000, 'six replies');
    assert.deepEqual(
      messages.slice(0, 5).map((m) => m.error?.code),
      [2, 2, 2, 2, 2],
    );
    assert.match(messages[1].error.msg, /unknown stream name 'btcusdt@nonsense'/);
    assert.deepEqual(messages[5], { result: null, id: 4 });
    ws.close();
  });

  it('answers withdrawals over the admin API: paid once per transfer id, refused beyond the available balance or for an unknown account', async () => {
    const acct = await fundedAccount(inst, { USDT: '100' });
    const withdraw = (params: Record<string, string | number>) =>
      call(inst.adminUrl, 'POST', '/admin/withdrawals', { token: inst.adminToken, params });
    const paid = await withdraw({ accountId: acct.id, asset: 'USDT', amount: '60', transferId: `w-${acct.id}` });
    assert.deepEqual(paid.body, {
      accountId: acct.id,
      asset: 'USDT',
      amount: '60',
      transferId: `w-${acct.id}`,
      duplicate: false,
    });
    const again = await withdraw({ accountId: acct.id, asset: 'USDT', amount: '60', transferId: `w-${acct.id}` });
    assert.equal(again.body.duplicate, true);
    const beyond = await withdraw({ accountId: acct.id, asset: 'USDT', amount: '60', transferId: `w2-${acct.id}` });
    assert.deepEqual([beyond.status, beyond.body.code], [400, -2010]);
    assert.match(beyond.body.msg, /insufficient balance/);
    const nobody = await withdraw({ accountId: 999999, asset: 'USDT', amount: '1', transferId: 'w-nobody' });
    assert.deepEqual([nobody.status, nobody.body.code], [400, -1130]);
    assert.deepEqual((await balances(inst, acct.key))['USDT'], ['40.00000000', '0.00000000']);
  });

  it("refuses a deposit that would take the venue's USDT beyond a 64-bit balance with -1130, and changes nothing", async () => {
    await checkDepositPastBalanceLimit(inst);
  });
});

describe('rate limits', () => {
  it('refuses new orders beyond the per-account limit with 429, code -1015 and Retry-After, and changes nothing', async () => {
    const inst = await startInstance(undefined, ['--orders-per-10s', '3']);
    try {
      const { key } = await fundedAccount(inst, { USDT: '1000' });
      const params = {
        symbol: 'BTCUSDT',
        side: 'BUY',
        type: 'LIMIT',
        timeInForce: 'GTC',
        quantity: '0.001',
        price: '10000',
        newOrderRespType: 'ACK',
      };
      for (let i = 0; i < 3; i++)
        assert.equal((await call(inst.httpUrl, 'POST', '/api/v3/order', { key, params })).status, 200);
      const before = await balances(inst, key);
      const res = await fetch(`${inst.httpUrl}/api/v3/order`, {
        method: 'POST',
        headers: { 'x-mbx-apikey': key, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(params).toString(),
      });
      assert.equal(res.status, 429);
      assert.equal(Number(res.headers.get('retry-after')) >= 1, true);
      assert.equal(((await res.json()) as { code: number }).code, -1015);
      assert.deepEqual(await balances(inst, key), before);
    } finally {
      await stop(inst);
    }
  });

  it('refuses requests beyond the per-IP limit with 429 and code -1003', async () => {
    const inst = await startInstance(undefined, ['--requests-per-minute', '5']);
    try {
      const codes: number[] = [];
      for (let i = 0; i < 7; i++) codes.push((await call(inst.httpUrl, 'GET', '/api/v3/ping')).status);
      assert.deepEqual(codes, [200, 200, 200, 200, 200, 429, 429]);
      assert.equal((await call(inst.httpUrl, 'GET', '/api/v3/ping')).body.code, -1003);
      assert.equal((await call(inst.httpUrl, 'GET', '/livez')).status, 200); // health is never limited
    } finally {
      await stop(inst);
    }
  });
});
