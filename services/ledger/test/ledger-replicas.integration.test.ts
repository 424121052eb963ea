import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createLedger, verifyLedger } from '@ballast/ledger';
import { createMemoryKeyValue, type EventLog } from '@ballast/state';
import { skipUnlessService } from '@ballast/testkit';
import { startTradingRig, waitFor, type TradingRig } from './trading-rig.ts';

const skip = await skipUnlessService('postgres');
const rigs: TradingRig[] = [];
after(async () => {
  for (const r of rigs) await r.close();
});
const rig = async (name: string): Promise<TradingRig> => {
  const r = await startTradingRig(`ballast_ledger_${name}_${process.pid}`);
  rigs.push(r);
  return r;
};
// 20 × 0.001 BTC bought at 20,000 = 400 USDT; the buyer took, so fees are in BTC and USDT.
const BTC_LEFT = 100_000_000n - 2_000_000n;
const USDT_LEFT = 1_000_000_000_000n - 40_000_000_000n;

describe('ledger replicas sharing one database', { skip: skip ?? false }, () => {
  it(
    'never moves the offset back when a replica behind the other settles an older batch, so nothing is settled twice',
    { timeout: 30_000 },
    async () => {
      const r = await rig('offset');
      const last = await r.trade(20);
      assert.ok(last > 5, `${last} event entries: the slow replica's first read must hold fewer than all`);
      // Replica A settles everything; replica B, started at the same time, sees its first read
      // only afterwards, and only the first 5 events (a slow replica with an older batch).
      let releaseB!: () => void;
      const bMayRead = new Promise<void>((res) => (releaseB = res));
      let firstRead = true;
      const slowLog: EventLog = {
        ...r.log,
        async read(name, fromSeq, limit, options) {
          if (name === 'evt.BTCUSDT' && firstRead) {
            firstRead = false;
            await bMayRead;
            return (await r.log.read(name, fromSeq, limit, options)).slice(0, 5);
          }
          return r.log.read(name, fromSeq, limit, options);
        },
      };
      const errors: unknown[] = [];
      const onError = (_m: string, err: unknown) => errors.push(err);
      const stop = new AbortController();
      const a = createLedger({ db: r.db, log: r.log, markets: r.markets, lockOffsets: true, onError });
      const b = createLedger({ db: r.db, log: slowLog, markets: r.markets, lockOffsets: true, onError });
      const loops = [b.run(stop.signal)];
      await new Promise((res) => setTimeout(res, 50)); // B has read its starting offset (0)
      loops.push(a.run(stop.signal));
      await waitFor('replica A to settle every event', async () => (await r.offset()) === last);
      releaseB();
      await new Promise((res) => setTimeout(res, 300)); // B settles its old batch, then follows
      const offsetAfter = await r.offset();
      stop.abort();
      await Promise.race([Promise.all(loops), new Promise((res) => setTimeout(res, 5000))]);
      assert.equal(offsetAfter, last, 'the offset stays at the last settled event');
      assert.deepEqual(errors, []);
      assert.deepEqual(await verifyLedger(r.db), []);
      assert.equal(await r.available(r.seller, 'BTC'), BTC_LEFT);
      assert.equal(await r.available(r.buyer, 'USDT'), USDT_LEFT);
    },
  );

  it(
    'shares the symbols as a consumer group: one replica settles each, the other takes over when it stops',
    {
      timeout: 30_000,
    },
    async () => {
      const r = await rig('group');
      const kv = createMemoryKeyValue();
      const ttlMs = 300;
      const settledBy = new Map<string, Set<string>>();
      const replica = (holder: string) =>
        createLedger({
          db: r.db,
          log: r.log,
          markets: r.markets,
          lockOffsets: true,
          partition: { kv, holder, ttlMs },
          onApplied: (symbol) => {
            const set = settledBy.get(symbol) ?? new Set<string>();
            set.add(holder);
            settledBy.set(symbol, set);
          },
        });
      const stopA = new AbortController();
      const stopB = new AbortController();
      const runA = replica('a').run(stopA.signal);
      await new Promise((res) => setTimeout(res, 100)); // A takes every lease first
      const runB = replica('b').run(stopB.signal);
      let last = await r.trade(10);
      await waitFor('the first half settled', async () => (await r.offset()) === last);
      assert.deepEqual([...(settledBy.get('BTCUSDT') ?? [])], ['a'], 'one replica settles a symbol');

      stopA.abort(); // A drains and releases its leases; B takes over
      await runA;
      last = await r.trade(10);
      await waitFor('B to take over and settle the rest', async () => (await r.offset()) === last);
      assert.deepEqual([...(settledBy.get('BTCUSDT') ?? [])].sort(), ['a', 'b']);
      stopB.abort();
      await runB;
      assert.deepEqual(await verifyLedger(r.db), []);
      assert.equal(await r.available(r.seller, 'BTC'), BTC_LEFT);
      assert.equal(await r.available(r.buyer, 'USDT'), USDT_LEFT);
    },
  );

  it('settles a read of many entries in several transactions, each with its offset, when it holds more than settleBatchChars', async () => {
    const r = await rig('chunks');
    const last = await r.trade(20);
    assert.ok(last > 1, `${last} event entries`);
    const reached: number[] = [];
    const stop = new AbortController();
    const ledger = createLedger({
      db: r.db,
      log: r.log,
      markets: r.markets,
      lockOffsets: true,
      settleBatchChars: 1, // every entry alone
      onApplied: (symbol, seq) => {
        if (symbol === 'BTCUSDT') reached.push(seq);
      },
    });
    const running = ledger.run(stop.signal);
    await waitFor('everything settled', async () => (await r.offset()) === last);
    stop.abort();
    await running;
    assert.deepEqual(
      reached,
      Array.from({ length: last }, (_, i) => i + 1),
    );
    assert.deepEqual(await verifyLedger(r.db), []);
    assert.equal(await r.available(r.seller, 'BTC'), BTC_LEFT);
    assert.equal(await r.available(r.buyer, 'USDT'), USDT_LEFT);
  });
});
