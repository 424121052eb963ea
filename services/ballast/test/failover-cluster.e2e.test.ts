import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { leaseKey } from '@ballast/matching';
import { connect, createNatsKeyValue, type NatsConnection } from '@ballast/state-nats';
import { SERVICES, skipUnlessService } from '@ballast/testkit';
import type { KeyValue } from '@ballast/state';
import {
  call,
  fundedAccount,
  privateStores,
  startCluster,
  waitForCatchUp,
  waitUntil,
  type ClusterInstance,
} from './harness.ts';

const skip = (await skipUnlessService('postgres')) ?? (await skipUnlessService('nats'));
const stores = privateStores('focluster');
const SHARDS = ['BTCUSDT', 'ETHUSDT', 'ETHBTC'];

describe('ballast cluster with two matching replicas (leader + hot standby)', { skip: skip ?? false }, () => {
  let cl: ClusterInstance;
  let nc: NatsConnection;
  let kv: KeyValue;
  before(async () => {
    await stores.create();
    cl = await startCluster([
      ...stores.args(),
      '--replicas',
      'gateway=1,oms=1,matching=2,ledger=1,marketdata=1',
      '--lease-ttl-ms',
      '1500',
      '--orders-per-10s',
      '0',
    ]);
    nc = await connect({ servers: SERVICES.nats.url });
    kv = await createNatsKeyValue(nc, `${stores.prefix}_registry`);
  });
  after(async () => {
    await nc?.close();
    if (cl !== undefined && cl.child.exitCode === null) {
      cl.child.kill('SIGKILL');
      await cl.exited;
    }
    await stores.drop();
  });

  /** Pid of the process holding each shard's lease. */
  const leaders = async (): Promise<(number | undefined)[]> =>
    Promise.all(
      SHARDS.map(async (s) => {
        const e = await kv.get(leaseKey(s));
        return e === undefined
          ? undefined
          : Number((JSON.parse(e.value) as { holder: string }).holder.split('-').at(-2));
      }),
    );

  it('spreads the shards over both replicas, and after kill -9 of a leader the standby matches on while the supervisor restarts it', async () => {
    const matchingPids = async () =>
      (await cl.status()).replicas.filter((r) => r.role === 'matching' && r.ready).map((r) => r.pid as number);
    const pids = await waitUntil(async () => {
      const p = await matchingPids();
      return p.length === 2 ? p : undefined;
    }, 20_000);
    // Three shards over two replicas: two and one.
    await waitUntil(
      async () => {
        const l = await leaders();
        return l.every((p) => p !== undefined && pids.includes(p)) && new Set(l).size === 2;
      },
      20_000,
      'leadership on both replicas',
    );
    const seller = await fundedAccount(cl, { BTC: '10' });
    const buyer = await fundedAccount(cl, { USDT: '1000000' });
    const order = (key: string, side: string) =>
      call(cl.httpUrl, 'POST', '/api/v3/order', {
        key,
        params: { symbol: 'BTCUSDT', side, type: 'LIMIT', timeInForce: 'GTC', quantity: '0.01', price: '20000' },
      });
    const first = await order(seller.key, 'SELL');
    assert.equal(first.status, 200, `${JSON.stringify(first.body)}\n${cl.warnings()}`);
    assert.equal((await order(buyer.key, 'BUY')).body.status, 'FILLED');

    const victim = (await leaders())[0] as number;
    process.kill(victim, 'SIGKILL');
    // Acknowledged while no one leads BTCUSDT; matched once the standby takes over.
    const sell = await order(seller.key, 'SELL');
    assert.equal(sell.status, 200);
    const buy = await order(buyer.key, 'BUY');
    assert.equal(buy.status, 200);
    await waitForCatchUp(cl, 15_000);
    const filled = (
      await call(cl.httpUrl, 'GET', '/api/v3/order', {
        key: buyer.key,
        params: { symbol: 'BTCUSDT', orderId: buy.body.orderId },
      })
    ).body as { status: string };
    assert.equal(filled.status, 'FILLED');
    const next = (await leaders())[0];
    assert.ok(next !== undefined && next !== victim);
    // The supervisor restarts the killed replica; it warms up and stands by (or takes a shard back).
    await waitUntil(
      async () => {
        const r = (await cl.status()).replicas.filter((x) => x.role === 'matching');
        return r.length === 2 && r.every((x) => x.ready) && r.some((x) => x.restarts >= 1);
      },
      30_000,
      'the killed matching replica back',
    );
    assert.deepEqual((await call(cl.adminUrl, 'GET', '/admin/ledger/verify', { token: cl.adminToken })).body, {
      ok: true,
      problems: [],
    });
  });
});
