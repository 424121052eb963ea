import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import {
  balances,
  call,
  freshDataDir,
  fundedAccount,
  LOCAL_FLAGS,
  openWs,
  runBallast,
  startInstance,
  stop,
  waitForCatchUp,
  waitUntil,
  type Instance,
} from './harness.ts';

/** Everything a user could see: open orders, all orders, balances, trades, depth. */
async function observable(inst: Instance, keys: string[]) {
  const out: unknown[] = [];
  for (const key of keys) {
    out.push(await balances(inst, key));
    out.push((await call(inst.httpUrl, 'GET', '/api/v3/allOrders', { key, params: { symbol: 'BTCUSDT' } })).body);
    out.push((await call(inst.httpUrl, 'GET', '/api/v3/myTrades', { key, params: { symbol: 'BTCUSDT' } })).body);
  }
  out.push((await call(inst.httpUrl, 'GET', '/api/v3/depth', { params: { symbol: 'BTCUSDT', limit: 1000 } })).body);
  out.push((await call(inst.httpUrl, 'GET', '/api/v3/trades', { params: { symbol: 'BTCUSDT' } })).body);
  return out;
}

describe('durability', () => {
  it('loses nothing acknowledged across kill -9 and restart; the book is rebuilt from snapshot + log', async () => {
    const dataDir = freshDataDir();
    // Snapshot every 10 commands, so the restart uses a snapshot and replays the tail.
    let inst = await startInstance(dataDir, ['--snapshot-every', '10']);
    const a = await fundedAccount(inst, { BTC: '5', USDT: '500000' });
    const b = await fundedAccount(inst, { BTC: '5', USDT: '500000' });
    const acked: number[] = [];
    for (let i = 0; i < 40; i++) {
      const side = i % 2 === 0 ? 'SELL' : 'BUY';
      const price = String(30000 + ((i * 7) % 13) * 10);
      const r = await call(inst.httpUrl, 'POST', '/api/v3/order', {
        key: i % 3 === 0 ? a.key : b.key,
        params: {
          symbol: 'BTCUSDT',
          side,
          type: 'LIMIT',
          timeInForce: 'GTC',
          quantity: '0.013',
          price,
          newOrderRespType: 'ACK',
          selfTradePreventionMode: 'NONE',
        },
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      acked.push(r.body.orderId);
    }
    // Let matching and the ledger catch up (an order still NEW in the picture but filled after
    // the restart was only late, not lost), then take the picture once market data, which has no
    // lag gauge, gives the same one twice in a row.
    await waitForCatchUp(inst);
    let before = await observable(inst, [a.key, b.key]);
    await waitUntil(
      async () => {
        const again = await observable(inst, [a.key, b.key]);
        const same = isDeepStrictEqual(again, before);
        before = again;
        return same;
      },
      5000,
      'market data to settle',
    );
    assert.equal(await stop(inst, 'SIGKILL'), null);

    // The killed process left its pid file behind: a stale one, replaced on restart.
    inst = await startInstance(dataDir, ['--snapshot-every', '10']);
    try {
      const after = await observable(inst, [a.key, b.key]);
      assert.deepEqual(after, before);
      const ids = new Set<number>();
      for (const key of [a.key, b.key]) {
        for (const o of (await call(inst.httpUrl, 'GET', '/api/v3/allOrders', { key, params: { symbol: 'BTCUSDT' } }))
          .body)
          ids.add(o.orderId);
      }
      for (const id of acked) assert.ok(ids.has(id), `acknowledged order ${id} survived`);
      // The rebuilt book keeps matching: a crossing order trades against what rested before the kill.
      const depth = (await call(inst.httpUrl, 'GET', '/api/v3/depth', { params: { symbol: 'BTCUSDT' } })).body;
      if (depth.asks.length > 0) {
        const r = await call(inst.httpUrl, 'POST', '/api/v3/order', {
          key: a.key,
          params: {
            symbol: 'BTCUSDT',
            side: 'BUY',
            type: 'LIMIT',
            timeInForce: 'IOC',
            quantity: '0.001',
            price: depth.asks[0][0],
            selfTradePreventionMode: 'NONE',
          },
        });
        assert.equal(r.body.status, 'FILLED');
      }
      const v = await call(inst.adminUrl, 'GET', '/admin/ledger/verify', { token: inst.adminToken });
      assert.deepEqual(v.body, { ok: true, problems: [] });
    } finally {
      await stop(inst);
    }
  });

  it('refuses a second process on a data folder in use, naming the process that holds it', async () => {
    const inst = await startInstance();
    try {
      const second = await runBallast(['start', ...LOCAL_FLAGS, '--data-dir', inst.dataDir]);
      assert.notEqual(second.code, 0);
      assert.match(second.output, new RegExp(`in use by another ballast \\(pid ${inst.child.pid}\\)`));
      // The first one still serves.
      assert.equal((await call(inst.httpUrl, 'GET', '/api/v3/ping')).status, 200);
    } finally {
      await stop(inst);
    }
  });

  it('drains on SIGTERM: readiness goes away, WebSockets get a close frame, exit code 0', async () => {
    const inst = await startInstance();
    const { closed } = await openWs(`${inst.httpUrl.replace('http', 'ws')}/ws/btcusdt@trade`);
    inst.child.kill('SIGTERM');
    const frame = await closed;
    assert.equal(frame.code, 1001);
    assert.equal(await inst.exited, 0);
    assert.match(inst.output(), /"drained; exiting"/);
  });
});
