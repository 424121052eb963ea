import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parsePrometheusText } from '@ballast/autoscaler';
import { skipUnlessService } from '@ballast/testkit';
import {
  balances,
  call,
  freshDataDir,
  fundedAccount,
  runBallast,
  startInstance,
  stop,
  waitUntil,
  type Instance,
  privateStores,
  waitForCatchUp,
} from './harness.ts';

const skip = (await skipUnlessService('postgres')) ?? (await skipUnlessService('nats'));
const three = privateStores('roles');
const four = privateStores('balance');
const stores = three.args();

describe('roles in separate processes', () => {
  it('refuses a role subset on the embedded store, and a gateway without the oms', async () => {
    const a = await runBallast(['start', '--role', 'matching']);
    assert.equal(a.code, 2);
    assert.match(a.output, /needs --postgres and --nats/);
    const b = await runBallast(['start', '--role', 'gateway', ...stores]);
    assert.equal(b.code, 2);
    assert.match(b.output, /--internal-token is needed/);
  });
});

describe(
  'gateway+oms, matching and ledger as three processes on PostgreSQL + JetStream',
  { skip: skip ?? false },
  () => {
    let gateway: Instance;
    let matching: Instance;
    let ledger: Instance;
    const dirs = { gateway: freshDataDir(), matching: freshDataDir(), ledger: freshDataDir() };
    before(async () => {
      await three.create();
      matching = await startInstance(dirs.matching, [...stores, '--role', 'matching', '--snapshot-every', '10']);
      ledger = await startInstance(dirs.ledger, [...stores, '--role', 'ledger']);
      gateway = await startInstance(dirs.gateway, [...stores, '--role', 'gateway,oms']);
    });
    after(async () => {
      for (const i of [gateway, matching, ledger]) if (i !== undefined) await stop(i);
      await three.drop();
    });

    const lagZero = () => waitForCatchUp(gateway, 15_000);

    it('serves health on the processes without the API', async () => {
      assert.deepEqual((await call(matching.httpUrl, 'GET', '/readyz')).body, { status: 'ready' });
      assert.deepEqual((await call(ledger.httpUrl, 'GET', '/readyz')).body, { status: 'ready' });
      assert.match(await fetch(`${ledger.httpUrl}/metrics`).then((r) => r.text()), /ballast_event_loop_utilization/);
    });

    it('matches in another process and settles in a third; killing matching or the ledger loses nothing', async () => {
      const seller = await fundedAccount(gateway, { BTC: '1' });
      const buyer = await fundedAccount(gateway, { USDT: '100000' });
      const order = (key: string, params: Record<string, string>) =>
        call(gateway.httpUrl, 'POST', '/api/v3/order', {
          key,
          params: { symbol: 'BTCUSDT', selfTradePreventionMode: 'NONE', ...params },
        });
      await order(seller.key, { side: 'SELL', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.5', price: '20000' });
      const bid = await order(buyer.key, {
        side: 'BUY',
        type: 'LIMIT',
        timeInForce: 'GTC',
        quantity: '0.1',
        price: '20000',
      });
      assert.equal(bid.body.status, 'FILLED');

      await stop(ledger, 'SIGKILL');
      for (let i = 0; i < 5; i++)
        assert.equal(
          (
            await order(buyer.key, {
              side: 'BUY',
              type: 'LIMIT',
              timeInForce: 'GTC',
              quantity: '0.01',
              price: '20000',
              newOrderRespType: 'ACK',
            })
          ).status,
          200,
        );
      await stop(matching, 'SIGKILL');
      const acked: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await order(buyer.key, {
          side: 'BUY',
          type: 'LIMIT',
          timeInForce: 'GTC',
          quantity: '0.01',
          price: '20000',
          newOrderRespType: 'ACK',
        });
        assert.equal(r.status, 200); // acknowledged while matching is down: committed and in the log
        acked.push(r.body.orderId);
      }
      matching = await startInstance(dirs.matching, [...stores, '--role', 'matching', '--snapshot-every', '10']);
      ledger = await startInstance(dirs.ledger, [...stores, '--role', 'ledger']);
      await lagZero();
      // 0.1 + 5 × 0.01 + 5 × 0.01 = 0.2 BTC bought at 20000 = 4000 USDT, less the 0.1% fee in BTC.
      assert.deepEqual((await balances(gateway, buyer.key)).BTC, ['0.19980000', '0.00000000']);
      assert.deepEqual((await balances(gateway, buyer.key)).USDT, ['96000.00000000', '0.00000000']);
      const all = (
        await call(gateway.httpUrl, 'GET', '/api/v3/allOrders', { key: buyer.key, params: { symbol: 'BTCUSDT' } })
      ).body as { orderId: number; status: string }[];
      for (const id of acked) assert.equal(all.find((o) => o.orderId === id)?.status, 'FILLED');
      assert.deepEqual(
        (await call(gateway.adminUrl, 'GET', '/admin/ledger/verify', { token: gateway.adminToken })).body,
        { ok: true, problems: [] },
      );
    });
  },
);

describe('a gateway in front of two oms replicas found in the registry', { skip: skip ?? false }, () => {
  const stores2 = four.args();
  const token = ['--internal-token', 'internal-secret-0123456789'];
  let core: Instance;
  let omsA: Instance;
  let omsB: Instance;
  let gw: Instance;
  before(async () => {
    await four.create();
    core = await startInstance(freshDataDir(), [...stores2, '--role', 'matching,ledger']);
    omsA = await startInstance(freshDataDir(), [...stores2, ...token, '--role', 'oms']);
    omsB = await startInstance(freshDataDir(), [...stores2, ...token, '--role', 'oms']);
    gw = await startInstance(freshDataDir(), [...stores2, ...token, '--role', 'gateway']);
  });
  after(async () => {
    for (const i of [gw, omsA, omsB, core]) if (i !== undefined) await stop(i);
    await four.drop();
  });

  it('does not send an order whose client hung up while it waited for a busy oms, and sends the one whose client waits', async () => {
    const buyer = await fundedAccount(gw, { USDT: '100000' });
    const params = (id: string) => ({
      symbol: 'BTCUSDT',
      side: 'BUY',
      type: 'LIMIT',
      timeInForce: 'GTC',
      quantity: '0.01',
      price: '9000',
      newOrderRespType: 'ACK',
      newClientOrderId: id,
    });
    const place = (id: string) => call(gw.httpUrl, 'POST', '/api/v3/order', { key: buyer.key, params: params(id) });
    // What the gateway's batcher holds, from its metrics: each step waits for the state it needs.
    const gauge = async (name: string): Promise<number | undefined> =>
      parsePrometheusText(await (await fetch(`${gw.httpUrl}/metrics`)).text()).find((m) => m.name === name)?.value;
    // Orders stopped at the oms must be answered within order entry's 2 s timeout: the steps
    // below share 1.5 s of it, so a slow step fails here, named, not as a 503 further down.
    let t0 = 0;
    const until = (name: string, n: number) =>
      waitUntil(
        async () => (await gauge(name)) === n,
        Math.max(0, 1500 - (performance.now() - t0)),
        `${name} = ${n} within 1.5 s of the oms stopping`,
      );
    const OUT = 'ballast_oms_client_batches_in_flight';
    const QUEUED = 'ballast_oms_client_queued_requests';
    const logBefore = gw.output().length;
    // Both replicas stop answering: each takes one batch (its one slot), the next orders wait.
    omsA.child.kill('SIGSTOP');
    omsB.child.kill('SIGSTOP');
    t0 = performance.now();
    let sent: Promise<{ status: number; body: any }>[];
    try {
      const first = place('busy-1');
      await until(OUT, 1);
      const second = place('busy-2');
      await until(OUT, 2);
      const waiting = place('queued-kept');
      await until(QUEUED, 1);
      const client = new AbortController();
      const hungUp = fetch(`${gw.httpUrl}/api/v3/order`, {
        method: 'POST',
        headers: { 'x-mbx-apikey': buyer.key, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(params('queued-gone')).toString(),
        signal: client.signal,
      }).catch((err: unknown) => err as Error);
      await until(QUEUED, 2);
      client.abort(); // the client hangs up while its order waits
      assert.ok((await hungUp) instanceof Error, 'the client gave up before any answer');
      await until(QUEUED, 1); // its order left the queue, unsent
      sent = [first, second, waiting];
    } finally {
      omsA.child.kill('SIGCONT');
      omsB.child.kill('SIGCONT');
    }
    for (const r of await Promise.all(sent)) assert.equal(r.status, 200, JSON.stringify(r.body));
    const gone = await call(gw.httpUrl, 'GET', '/api/v3/order', {
      key: buyer.key,
      params: { symbol: 'BTCUSDT', origClientOrderId: 'queued-gone' },
    });
    assert.equal(gone.status, 400, JSON.stringify(gone.body));
    assert.equal(gone.body.code, -2013);
    const kept = await call(gw.httpUrl, 'GET', '/api/v3/order', {
      key: buyer.key,
      params: { symbol: 'BTCUSDT', origClientOrderId: 'queued-kept' },
    });
    assert.equal(kept.status, 200, JSON.stringify(kept.body));
    // Not an error of the gateway's: no error line; the closed request counts as a 499 and is no
    // longer in flight (the gauge the autoscaler reads).
    assert.doesNotMatch(gw.output().slice(logBefore), /request failed/);
    const metrics = await (await fetch(`${gw.httpUrl}/metrics`)).text();
    assert.match(metrics, /ballast_http_requests_total\{[^}]*route="\/api\/v3\/order"[^}]*status="499"[^}]*\} 1/);
    assert.match(metrics, /ballast_http_in_flight 1\n/); // this /metrics request alone
  });

  it('keeps taking orders when one oms replica is killed', async () => {
    const buyer = await fundedAccount(gw, { USDT: '100000' });
    const place = (i: number) =>
      call(gw.httpUrl, 'POST', '/api/v3/order', {
        key: buyer.key,
        params: {
          symbol: 'BTCUSDT',
          side: 'BUY',
          type: 'LIMIT',
          timeInForce: 'GTC',
          quantity: '0.01',
          price: String(10000 + i),
          newOrderRespType: 'ACK',
          newClientOrderId: `k-${i}`,
        },
      });
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await place(i);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      ids.push(r.body.orderId);
    }
    await stop(omsA, 'SIGKILL');
    for (let i = 10; i < 30; i++) {
      const r = await place(i);
      assert.equal(r.status, 200, JSON.stringify(r.body)); // retried on the live replica
      ids.push(r.body.orderId);
    }
    // A retry of an already-acknowledged order returns the original, whichever replica answers.
    assert.equal((await place(3)).body.orderId, ids[3]);
    await waitUntil(
      async () => {
        const open = (
          await call(gw.httpUrl, 'GET', '/api/v3/openOrders', { key: buyer.key, params: { symbol: 'BTCUSDT' } })
        ).body as unknown[];
        return open.length === 30;
      },
      15_000,
      'all 30 orders resting',
    );
    assert.deepEqual((await balances(gw, buyer.key)).USDT?.[1], '3004.35000000'); // Σ 0.01 × (10000 + i), i < 30
  });
});
