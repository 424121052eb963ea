import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { skipUnlessService } from '@ballast/testkit';
import {
  allOrders,
  call,
  checkOrdersSentTogether,
  fundedAccount,
  privateStores,
  runBallast,
  startCluster,
  startRetryingLoad,
  waitForCatchUp,
  waitUntil,
  type ClusterInstance,
  type LoadAnswer,
} from './harness.ts';

const skip = (await skipUnlessService('postgres')) ?? (await skipUnlessService('nats'));
/** A GTC limit buy of 0.01 BTC at `price` USDT: it rests (nothing here sells that low). */
const limitBuy = (price: string) =>
  ({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.01', price }) as const;
const stores = privateStores('cluster');

describe('ballast cluster: a supervised local cluster that heals itself', { skip: skip ?? false }, () => {
  let cl: ClusterInstance;
  before(async () => {
    await stores.create();
    cl = await startCluster([
      ...stores.args(),
      '--replicas',
      'gateway=2,oms=2,matching=1,ledger=2,marketdata=1',
      // The loads here are closed loops from one address: how many requests they make a minute
      // depends on how fast the cluster answers, so no per-client limit may answer them 429.
      '--orders-per-10s',
      '0',
      '--requests-per-minute',
      '0',
    ]);
  });
  after(async () => {
    if (cl !== undefined && cl.child.exitCode === null) {
      cl.child.kill('SIGKILL');
      await cl.exited;
    }
    await stores.drop();
  });

  it('refuses to start without external stores, naming them', async () => {
    const r = await runBallast(['cluster', '--state-dir', cl.stateDir]);
    assert.equal(r.code, 2);
    assert.match(r.output, /needs --postgres and --nats/);
  });

  it('refuses a second supervisor on the same state folder, naming the running one', async () => {
    const r = await runBallast(['cluster', ...stores.args(), '--control-port', '0', '--state-dir', cl.stateDir]);
    assert.equal(r.code, 2);
    assert.match(r.output, new RegExp(`another ballast cluster \\(pid ${cl.child.pid}\\)`));
  });

  it('shows every replica in `ballast cluster status`', async () => {
    const r = await runBallast(['cluster', 'status', '--state-dir', cl.stateDir]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /ROLE\s+REPLICA\s+PID\s+PORT\s+READY\s+STATE\s+RESTARTS\s+UPTIME/);
    const { replicas } = await cl.status();
    assert.deepEqual(
      replicas.map((x) => `${x.role}-${x.replica}`),
      ['gateway-0', 'gateway-1', 'oms-0', 'oms-1', 'matching-0', 'ledger-0', 'ledger-1', 'marketdata-0'],
    );
    assert.ok(replicas.every((x) => x.ready && x.pid !== null));
  });

  it('loses no acknowledged order while a gateway, an oms, a ledger and a marketdata replica are killed -9 under load; the supervisor brings each back', async () => {
    const { key } = await fundedAccount(cl, { USDT: '1000000', BTC: '100' });
    // A well-behaved client: retries a failed request with the same newClientOrderId.
    const load = startRetryingLoad(cl, key, { workers: 4, prefix: 'c', maxAttempts: 60 });
    const { acked } = load;

    for (const role of ['gateway', 'oms', 'ledger', 'marketdata']) {
      await waitUntil(async () => acked.size > load.started() / 2 && acked.size >= 20, 10_000, 'orders flowing');
      const before = (await cl.status()).replicas.filter((x) => x.role === role);
      const victim = before[0]!;
      process.kill(victim.pid!, 'SIGKILL');
      await waitUntil(
        async () => {
          const now = (await cl.status()).replicas.filter((x) => x.role === role);
          const back = now.find((x) => x.replica === victim.replica);
          return back !== undefined && back.pid !== victim.pid && back.ready && back.restarts === victim.restarts + 1;
        },
        30_000,
        `${role} replica ${victim.replica} restarted and ready`,
      );
      const countBefore = acked.size;
      await waitUntil(async () => acked.size > countBefore + 10, 15_000, `orders flowing after the ${role} restart`);
    }
    await load.stop();
    assert.ok(acked.size >= 80, `placed ${acked.size} orders`);

    await waitForCatchUp(cl, 30_000);
    const all = await allOrders(cl, key);
    const byClient = new Map(all.map((o) => [o.clientOrderId, o.orderId]));
    for (const [clientId, orderId] of acked) assert.equal(byClient.get(clientId), orderId, `${clientId} in history`);
    assert.equal(all.length, acked.size, 'no order twice, whatever the retries');
    assert.deepEqual((await call(cl.adminUrl, 'GET', '/admin/ledger/verify', { token: cl.adminToken })).body, {
      ok: true,
      problems: [],
    });
    assert.ok(load.attempts() >= acked.size);
  });

  it('answers an order sent to oms replicas that stopped answering 503 -1007 with its client order id; sent again with that id, it stands once', async () => {
    const { key } = await fundedAccount(cl, { USDT: '100000' });
    const order = { symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.01' };
    const omsReplicas = (await cl.status()).replicas.filter((x) => x.role === 'oms');
    // Frozen, not dead: connections are accepted and requests read by no one, so the 2 s
    // order-entry deadline passes while the order is out to an oms, with no way to know what
    // became of it.
    for (const o of omsReplicas) process.kill(o.pid!, 'SIGSTOP');
    let answer;
    try {
      answer = await call(cl.httpUrl, 'POST', '/api/v3/order', {
        key,
        params: { ...order, price: '10001', newOrderRespType: 'ACK' },
      });
    } finally {
      for (const o of omsReplicas) process.kill(o.pid!, 'SIGCONT');
    }
    assert.equal(answer.status, 503, JSON.stringify(answer.body));
    assert.equal(answer.body.code, -1007);
    assert.match(answer.body.msg, /execution status unknown/);
    const id = /newClientOrderId=([A-Za-z0-9._:-]+)/.exec(answer.body.msg)?.[1];
    assert.ok(id !== undefined && id.startsWith('x-'), answer.body.msg);
    // Sent again with the id the answer named: placed, or answered with the order the frozen oms
    // wrote once it ran again; never a second order.
    const again = await waitUntil(
      async () => {
        const r = await call(cl.httpUrl, 'POST', '/api/v3/order', {
          key,
          params: { ...order, price: '10001', newOrderRespType: 'ACK', newClientOrderId: id },
        });
        return r.status === 200 ? r : undefined;
      },
      20_000,
      'the order sent again',
    );
    assert.equal(again.body.clientOrderId, id);
    const mine = (await allOrders(cl, key)).filter((o) => o.clientOrderId === id);
    assert.deepEqual(
      mine.map((o) => o.orderId),
      [again.body.orderId],
    );
  });

  it('places every order while one of two oms replicas is frozen: an order sent to it is placed on the other before the deadline', async () => {
    const { key } = await fundedAccount(cl, { USDT: '100000' });
    const order = limitBuy('9001');
    const frozen = (await cl.status()).replicas.find((x) => x.role === 'oms')!;
    process.kill(frozen.pid!, 'SIGSTOP');
    const answers: { status: number; body: any }[] = [];
    try {
      // One at a time, so each gateway's pick lands on the frozen replica now and then (until its
      // breaker opens, or its registry entry expires).
      for (let i = 0; i < 12; i++)
        answers.push(
          await call(cl.httpUrl, 'POST', '/api/v3/order', {
            key,
            params: { ...order, newOrderRespType: 'ACK', newClientOrderId: `frozen-${i}` },
          }),
        );
    } finally {
      process.kill(frozen.pid!, 'SIGCONT');
    }
    assert.deepEqual(
      answers.filter((a) => a.status !== 200).map((a) => a.body),
      [],
      'every order placed',
    );
    const mine = (await allOrders(cl, key)).filter((o) => o.clientOrderId.startsWith('frozen-'));
    assert.equal(mine.length, 12, 'each once');
  });

  it('answers -1090 (nothing done) for a cancel still waiting for an oms slot at the deadline, and never carries it out; only the cancels sent to the frozen oms replicas are -1007', async () => {
    const { key } = await fundedAccount(cl, { USDT: '100000' });
    const order = limitBuy('9000');
    const ids: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await call(cl.httpUrl, 'POST', '/api/v3/order', { key, params: { ...order, newOrderRespType: 'ACK' } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      ids.push(r.body.orderId as number);
    }
    await waitForCatchUp(cl, 30_000);
    const omsReplicas = (await cl.status()).replicas.filter((x) => x.role === 'oms');
    for (const o of omsReplicas) process.kill(o.pid!, 'SIGSTOP');
    // Each gateway keeps one batch of cancels out per oms replica, and a cancel sent is not
    // retried: cancels arriving one at a time take the free slots (at most 2 gateways × 2
    // replicas), and the rest wait for a slot that frees only when a frozen replica answers.
    let answers: { status: number; body: any }[];
    try {
      const sent: Promise<{ status: number; body: any }>[] = [];
      for (const orderId of ids) {
        sent.push(call(cl.httpUrl, 'DELETE', '/api/v3/order', { key, params: { symbol: 'BTCUSDT', orderId } }));
        await new Promise((r) => setTimeout(r, 30));
      }
      answers = await Promise.all(sent);
    } finally {
      for (const o of omsReplicas) process.kill(o.pid!, 'SIGCONT');
    }
    const codes = answers.map((a) => a.body.code as number);
    assert.ok(
      answers.every((a) => a.status === 503 && (a.body.code === -1007 || a.body.code === -1090)),
      JSON.stringify(answers.map((a) => a.body)),
    );
    const notSent = ids.filter((_, i) => codes[i] === -1090);
    assert.ok(notSent.length >= 4, `at most 4 could be sent: ${codes.join(',')}`);
    assert.ok(codes[0] === -1007, `the first was sent: ${codes.join(',')}`);
    // Whatever the frozen replicas do with the cancels they took once they run again, an order
    // whose cancel was answered -1090 stays open.
    await new Promise((r) => setTimeout(r, 3000));
    await waitForCatchUp(cl, 30_000);
    const status = new Map((await allOrders(cl, key)).map((o) => [o.orderId, o.status]));
    assert.deepEqual(
      notSent.filter((id) => status.get(id) !== 'NEW'),
      [],
      'an order whose cancel was answered -1090 was cancelled',
    );
  });

  it('scales a role live with `ballast cluster scale` and keeps serving', async () => {
    const r = await runBallast(['cluster', 'scale', 'gateway', '3', '--state-dir', cl.stateDir]);
    assert.equal(r.code, 0, r.output);
    let gateways = (await cl.status()).replicas.filter((x) => x.role === 'gateway');
    assert.equal(gateways.length, 3);
    assert.ok(gateways.every((g) => g.ready));
    const down = await runBallast(['cluster', 'scale', 'gateway', '1', '--state-dir', cl.stateDir]);
    assert.equal(down.code, 0, down.output);
    gateways = (await cl.status()).replicas.filter((x) => x.role === 'gateway');
    assert.equal(gateways.length, 1);
    assert.equal((await call(cl.httpUrl, 'GET', '/api/v3/ping')).status, 200);
    const bad = await runBallast(['cluster', 'scale', 'router', '2', '--state-dir', cl.stateDir]);
    assert.equal(bad.code, 1);
    assert.match(bad.output, /role must be one of/);
  });

  it('scales the oms down and up under orders and cancels without a failed answer: a draining oms finishes what it took, and gateways go to the others', async () => {
    const { key } = await fundedAccount(cl, { USDT: '1000000', BTC: '100' });
    const answers: LoadAnswer[] = [];
    const load = startRetryingLoad(cl, key, { workers: 4, prefix: 'scale', onAnswer: (a) => answers.push(a) });
    // Cancels of placed orders meanwhile: unlike a new order, a cancel cut off mid-way is not
    // retried (-1007), so only a drain that finishes its requests keeps these whole.
    const cancels: { status: number; code?: number }[] = [];
    let cancelling = true;
    const canceller = (async () => {
      const done = new Set<number>();
      while (cancelling) {
        const id = [...load.acked.values()].find((x) => !done.has(x));
        if (id === undefined) {
          await new Promise((r) => setTimeout(r, 10));
          continue;
        }
        done.add(id);
        const r = await call(cl.httpUrl, 'DELETE', '/api/v3/order', {
          key,
          params: { symbol: 'BTCUSDT', orderId: id },
        });
        cancels.push({ status: r.status, code: r.body?.code });
      }
    })();
    try {
      await waitUntil(async () => load.acked.size >= 20, 10_000, 'orders flowing');
      for (const n of ['1', '2', '1', '2']) {
        const r = await runBallast(['cluster', 'scale', 'oms', n, '--state-dir', cl.stateDir]);
        assert.equal(r.code, 0, r.output);
        const before = load.acked.size;
        await waitUntil(async () => load.acked.size >= before + 20, 10_000, `orders flowing with ${n} oms`);
      }
    } finally {
      cancelling = false;
      await canceller;
      await load.stop();
    }
    const failed = answers.filter((a) => a.status !== 200);
    assert.deepEqual(failed, [], 'every order answered 200 at its first attempt');
    // Cancelled, or already filled (-2011, a 400): never a 5xx.
    assert.ok(cancels.length >= 20, `${cancels.length} cancels`);
    assert.deepEqual(
      cancels.filter((c) => c.status >= 500),
      [],
      'no cancel failed',
    );
    await waitForCatchUp(cl, 30_000);
    const all = await allOrders(cl, key);
    assert.equal(all.length, load.acked.size, 'each acknowledged order once');
  });

  it('answers orders sent together each with its own result, through the remote oms (entry and part on the wire)', async () => {
    await checkOrdersSentTogether(cl);
  });

  it('drains on SIGINT: every replica exits and the supervisor exits 0', async () => {
    const pids = (await cl.status()).replicas.map((x) => x.pid!);
    cl.child.kill('SIGINT');
    assert.equal(await cl.exited, 0);
    for (const pid of pids) {
      assert.throws(() => process.kill(pid, 0), /ESRCH/, `replica ${pid} is gone`);
    }
  });
});
