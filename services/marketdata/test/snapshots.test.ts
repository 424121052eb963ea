import assert from 'node:assert/strict';
import { after, describe, it, mock } from 'node:test';
import { DEFAULT_MARKETS, compileMarkets } from '@ballast/contracts';
import { migrateToLatest, type Database } from '@ballast/db';
import { OrderBook } from '@ballast/engine';
import {
  createMarketData,
  createSqlMarketDataSnapshots,
  type MarketData,
  type MarketDataSnapshotStore,
} from '@ballast/marketdata';
import type { EventLog } from '@ballast/state';
import { openPostgres } from '@ballast/state-postgres';
import { createSqliteEventLog, openSqlite } from '@ballast/state-sqlite';
import { SERVICES, skipUnlessService } from '@ballast/testkit';
import { sql, type Kysely } from 'kysely';

// Real stores: one in-memory SQLite database holds the event log and the snapshot table.

const markets = compileMarkets({
  ...DEFAULT_MARKETS,
  markets: DEFAULT_MARKETS.markets.filter((m) => m.symbol === 'BTCUSDT'),
});
const LOG = 'evt.BTCUSDT';

const open = async (): Promise<{ db: Kysely<Database>; log: EventLog }> => {
  const db = openSqlite<Database>({ path: ':memory:' });
  await migrateToLatest(db, 'sqlite');
  return { db, log: await createSqliteEventLog(db) };
};

/** Runs orders through a real book and appends its events, one log entry per command. */
const trade = async (log: EventLog, book: OrderBook, from: number, n: number): Promise<void> => {
  const entries = [];
  for (let i = from; i < from + n; i++) {
    const events = book.apply({
      type: 'place',
      orderId: i,
      account: i % 5,
      side: i % 2 === 0 ? 'buy' : 'sell',
      orderType: 'limit',
      priceTicks: 1000 + ((i * 7) % 11) - 5,
      qtyLots: 1 + (i % 4),
      timeMs: 1_700_000_000_000 + i * 1500,
    });
    entries.push({ key: `e${i}`, payload: JSON.stringify({ cmdSeq: i, events }) });
  }
  await log.append(LOG, entries);
};

/** Counts the entries market data reads from the log. */
const counting = (log: EventLog): { log: EventLog; read: () => number } => {
  let read = 0;
  return {
    log: new Proxy(log, {
      get(target, prop, receiver) {
        if (prop === 'read') {
          return async (...args: Parameters<EventLog['read']>) => {
            const entries = await target.read(...args);
            read += entries.length;
            return entries;
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }),
    read: () => read,
  };
};

const view = (md: MarketData) => ({
  depth: md.depth('BTCUSDT', 100),
  trades: md.recentTrades('BTCUSDT', 1000),
  aggs: md.aggTrades('BTCUSDT', { limit: 1000 }),
  klines1s: md.klines('BTCUSDT', '1s', { limit: 1500 }),
  klines1m: md.klines('BTCUSDT', '1m', { limit: 1500 }),
  klines1h: md.klines('BTCUSDT', '1h', { limit: 1500 }),
  bookTicker: md.bookTicker('BTCUSDT'),
  ticker24h: md.ticker24h('BTCUSDT'),
});

/** Starts market data, waits until it has caught up, and returns it with its stopper. */
const start = async (
  log: EventLog,
  extra: Partial<Parameters<typeof createMarketData>[0]> = {},
): Promise<{ md: MarketData; stop: () => Promise<void> }> => {
  const ac = new AbortController();
  const md = createMarketData({ log, markets, nowMs: () => 1_800_000_000_000, ...extra });
  const running = md.run(ac.signal);
  await md.ready();
  return {
    md,
    stop: async () => {
      ac.abort();
      await running;
    },
  };
};

describe('market data snapshots', () => {
  it('a restart from a snapshot reads only the entries after it and shows what a full replay shows', async () => {
    const { db, log } = await open();
    const book = new OrderBook();
    const snapshots = createSqlMarketDataSnapshots(db);
    await trade(log, book, 1, 1200);
    // the first run replays everything, saving a snapshot every 500 entries and a last one on stop
    const first = await start(log, { snapshots, snapshotEveryEntries: 500 });
    await first.stop();
    const saved = await snapshots.load('BTCUSDT', new AbortController().signal);
    assert.equal(saved?.logSeq, 1200);
    await trade(log, book, 1201, 300);

    const full = await start(log);
    const counted = counting(log);
    const resumed = await start(counted.log, { snapshots, saveSnapshots: false });
    assert.equal(counted.read(), 300, 'only the entries after the snapshot were read');
    assert.deepEqual(view(resumed.md), view(full.md));
    assert.ok(view(full.md).trades.length > 0 && view(full.md).klines1m.length > 1, 'the workload traded');
    assert.ok(view(full.md).klines1s.length > 500, 'more 1s candles than one serialization slice');
    await full.stop();
    await resumed.stop();
    await db.destroy();
  });

  it('an older snapshot never replaces a newer one (replicas saving at once)', async () => {
    const { db } = await open();
    const store = createSqlMarketDataSnapshots(db);
    await store.save('BTCUSDT', 900, 'new');
    await store.save('BTCUSDT', 500, 'old');
    assert.deepEqual(await store.load('BTCUSDT', new AbortController().signal), { logSeq: 900, body: 'new' });
    await store.save('BTCUSDT', 901, 'newer');
    assert.deepEqual(await store.load('BTCUSDT', new AbortController().signal), { logSeq: 901, body: 'newer' });
    await db.destroy();
  });

  it('a snapshot it cannot use is reported and ignored: the whole log is replayed', async () => {
    const { db, log } = await open();
    await trade(log, new OrderBook(), 1, 300);
    const errors: string[] = [];
    const broken: MarketDataSnapshotStore = {
      load: async () => ({ logSeq: 250, body: '{"v":1,"logSeq":250,"lastUpdateId":3,"bids":"x"}' }),
      save: async () => {},
    };
    const counted = counting(log);
    const md = await start(counted.log, { snapshots: broken, onError: (m) => errors.push(m) });
    assert.equal(counted.read(), 300);
    assert.ok(
      errors.some((m) => /snapshot at 250 unusable; replaying the whole log/.test(m)),
      errors.join('\n'),
    );
    const full = await start(log);
    assert.deepEqual(view(md.md), view(full.md));
    await md.stop();
    await full.stop();
    await db.destroy();
  });

  it('a snapshot beyond the end of the log (another or a recreated log) is reported and not used', async () => {
    const { db, log } = await open();
    const book = new OrderBook();
    await trade(log, book, 1, 100);
    // a snapshot of a longer log of the same symbol, e.g. before its stream was recreated
    const other = await open();
    await trade(other.log, new OrderBook(), 1, 400);
    const snapshots = createSqlMarketDataSnapshots(db);
    const first = await start(other.log, { snapshots });
    await first.stop();
    assert.equal((await snapshots.load('BTCUSDT', new AbortController().signal))?.logSeq, 400);
    const errors: string[] = [];
    const counted = counting(log);
    const md = await start(counted.log, { snapshots, saveSnapshots: false, onError: (m) => errors.push(m) });
    assert.equal(counted.read(), 100, 'the whole (shorter) log was replayed');
    assert.ok(
      errors.some((m) => /snapshot at 400 is beyond the log's last entry 100/.test(m)),
      errors.join('\n'),
    );
    const full = await start(log);
    assert.deepEqual(view(md.md), view(full.md));
    await md.stop();
    await full.stop();
    await other.db.destroy();
    await db.destroy();
  });

  it('stops within finalSnapshotMs when the store does not answer', async () => {
    const { db, log } = await open();
    await trade(log, new OrderBook(), 1, 50);
    const hanging: MarketDataSnapshotStore = {
      load: async () => undefined,
      save: () => new Promise(() => {}),
    };
    const md = await start(log, { snapshots: hanging, finalSnapshotMs: 50 });
    const t0 = performance.now();
    await md.stop();
    assert.ok(performance.now() - t0 < 1000, `stopped in ${Math.round(performance.now() - t0)} ms`);
    await db.destroy();
  });

  it('saves after snapshotEveryMs when entries arrived, and not while the log is idle', async () => {
    const { db, log } = await open();
    await trade(log, new OrderBook(), 1, 10);
    const saves: number[] = [];
    const store: MarketDataSnapshotStore = {
      load: async () => undefined,
      save: async (_symbol, logSeq) => void saves.push(logSeq),
    };
    let nowMs = 0;
    /** Lets the background serialization (it yields between slices) and the save finish. */
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 200; i++) await new Promise((r) => setImmediate(r));
    };
    // market data's 100 ms / 1 s ticks run on a fake interval timer
    mock.timers.enable({ apis: ['setInterval'] });
    const md = await start(log, { snapshots: store, snapshotEveryMs: 5000, nowMs: () => nowMs });
    try {
      await settle();
      assert.deepEqual(saves, [], 'fewer entries than snapshotEveryEntries, and no time has passed');
      nowMs = 6000;
      mock.timers.tick(1000); // the 1 s tick checks the time trigger
      await settle();
      assert.deepEqual(saves, [10]);
      nowMs = 20_000;
      mock.timers.tick(1000);
      await settle();
      assert.deepEqual(saves, [10], 'nothing new, nothing saved');
    } finally {
      await md.stop();
      mock.timers.reset();
    }
    assert.deepEqual(saves, [10], 'nothing new on stop either');
    await db.destroy();
  });
});

const skipPostgres = await skipUnlessService('postgres');

describe('followers of the live log', () => {
  it('hands a follower every entry after the log end at start, once and in order, and none before; an entry it cannot apply is skipped, not retried forever', async () => {
    const { log } = await open();
    const book = new OrderBook();
    await trade(log, book, 1, 300);
    // Twenty more entries land just after the view reads the log's end (300), so its first
    // catch-up batch spans the start point.
    let raced = false;
    const racing = new Proxy(log, {
      get(target, prop, receiver) {
        if (prop === 'lastSeq') {
          return async (...args: Parameters<EventLog['lastSeq']>) => {
            const seq = await target.lastSeq(...args);
            if (!raced) {
              raced = true;
              await trade(target, book, seq + 1, 20);
            }
            return seq;
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const handed: number[] = [];
    const errors: string[] = [];
    const ac = new AbortController();
    const md = createMarketData({
      log: racing,
      markets,
      nowMs: () => 1_800_000_000_000,
      onError: (m) => errors.push(m),
      onLiveEntries: (symbol, entries) => {
        assert.equal(symbol, 'BTCUSDT');
        handed.push(...entries.map((e) => e.seq));
      },
    });
    const running = md.run(ac.signal);
    await md.ready();
    // Entry 321 parses but its events cannot be applied (a writer of another version).
    await log.append(LOG, [{ key: 'bad', payload: JSON.stringify({ cmdSeq: 321, events: [null] }) }]);
    await trade(log, book, 322, 50);
    const deadline = Date.now() + 10_000;
    while (handed.length < 71 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    await running;
    assert.deepEqual(
      handed,
      Array.from({ length: 71 }, (_, i) => 301 + i),
    );
    assert.deepEqual(errors, ['market data: entry 321 of BTCUSDT could not be applied; skipped']);
    assert.equal(md.recentTrades('BTCUSDT', 1000).at(-1)?.id, book.stats().trades, 'the view went on after it');
  });
});

describe('market data snapshots on PostgreSQL (the same Kysely code)', { skip: skipPostgres ?? false }, () => {
  const schema = `ballast_md_snap_${process.pid}`;
  let db: Kysely<Database> | undefined;
  after(async () => {
    if (db === undefined) return;
    await sql.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).execute(db);
    await db.destroy();
  });

  it('keeps the newest snapshot per symbol when replicas save at once', async () => {
    db = await openPostgres<Database>({ url: SERVICES.postgres.url, schema, maxConnections: 4 });
    await migrateToLatest(db, 'postgres');
    const store = createSqlMarketDataSnapshots(db);
    const signal = new AbortController().signal;
    assert.equal(await store.load('BTCUSDT', signal), undefined);
    // out of order, concurrently: whatever order they land in, 40 wins
    await Promise.all([10, 40, 20, 30].map((seq) => store.save('BTCUSDT', seq, `body ${seq}`)));
    assert.deepEqual(await store.load('BTCUSDT', signal), { logSeq: 40, body: 'body 40' });
    await store.save('ETHUSDT', 5, 'eth');
    assert.deepEqual(await store.load('ETHUSDT', signal), { logSeq: 5, body: 'eth' });
    assert.deepEqual(await store.load('BTCUSDT', signal), { logSeq: 40, body: 'body 40' });
  });
});
