import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DEFAULT_MARKETS, compileMarkets } from '@ballast/contracts';
import { migrateToLatest, type Database } from '@ballast/db';
import { decodeCommandResults, encodeCommandResults } from '@ballast/engine';
import { createMatching, createSymbolReplica, verifySymbolLog, type Matching } from '@ballast/matching';
import { createMemoryKeyValue, type EventLog, type KeyValue } from '@ballast/state';
import { createSqliteEventLog, openSqlite } from '@ballast/state-sqlite';
import type { Kysely } from 'kysely';

// In-process replicas on one SQLite log and one in-memory KeyValue. Log waits are woken by
// appends; lease timing runs on real time with a short TTL (a few hundred ms per test).

const markets = compileMarkets({
  ...DEFAULT_MARKETS,
  markets: DEFAULT_MARKETS.markets.filter((m) => m.symbol !== 'ETHBTC'),
});

const open = async (): Promise<{ db: Kysely<Database>; log: EventLog }> => {
  const db = openSqlite<Database>({ path: ':memory:' });
  await migrateToLatest(db, 'sqlite');
  return { db, log: await createSqliteEventLog(db) };
};

let nextOrder = 1;
/** Appends `n` limit orders alternating buy/sell at one price (so about half of them trade). */
const placeOrders = async (log: EventLog, symbol: string, n: number): Promise<void> => {
  const entries = Array.from({ length: n }, () => {
    const orderId = nextOrder++;
    return {
      key: `o${orderId}`,
      payload: JSON.stringify({
        type: 'place',
        orderId,
        account: orderId % 2 === 0 ? 10 : 11,
        side: orderId % 2 === 0 ? 'buy' : 'sell',
        orderType: 'limit',
        priceTicks: 1000 + (orderId % 3),
        qtyLots: 1 + (orderId % 4),
        timeMs: orderId,
      }),
    };
  });
  await log.append(`cmd.${symbol}`, entries);
};

/**
 * A resting buy of account 10 at its own price level: the book answers it with two events
 * (accepted, level), about 816 estimated bytes of results.
 */
const restingBuy = (orderId: number, priceTicks: number, timeMs: number) => ({
  type: 'place',
  orderId,
  account: 10,
  side: 'buy',
  orderType: 'limit',
  priceTicks,
  qtyLots: 1,
  timeMs,
});

const until = async <T>(f: () => Promise<T | undefined | false> | T | undefined | false, what: string): Promise<T> => {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** The last command whose events are in `symbol`'s event log. */
const lastMatched = async (log: EventLog, symbol: string): Promise<number> => {
  const last = await log.lastSeq(`evt.${symbol}`);
  const entry = last === 0 ? undefined : (await log.read(`evt.${symbol}`, last, 1))[0];
  return entry === undefined ? 0 : (decodeCommandResults(entry.payload)?.at(-1)?.cmdSeq ?? 0);
};

const matched = (log: EventLog, symbol: string) => async () =>
  (await lastMatched(log, symbol)) === (await log.lastSeq(`cmd.${symbol}`));

describe('fencing between two writers of one symbol', () => {
  it('two replicas both believing they lead: each refused append rebuilds that book, and the log stays gap-free and identical to a clean replay', async () => {
    const { db, log } = await open();
    const stop = new AbortController();
    const valid = { valid: () => true };
    const errors: string[] = [];
    const leadForever = async () => {
      const r = createSymbolReplica({
        symbol: 'BTCUSDT',
        db,
        log,
        snapshotEveryCommands: 25,
        onError: (m) => errors.push(m),
      });
      while (!stop.signal.aborted) {
        await r.warm(stop.signal).catch(() => undefined);
        await r.lead(valid, stop.signal).catch(() => undefined);
      }
    };
    const both = Promise.all([leadForever(), leadForever()]);
    for (let i = 0; i < 10; i++) {
      await placeOrders(log, 'BTCUSDT', 20);
      await until(matched(log, 'BTCUSDT'), 'both writers to settle');
    }
    stop.abort();
    await both;
    const report = await verifySymbolLog(log, 'BTCUSDT');
    assert.deepEqual(report.problems, []);
    assert.equal(report.matched, 200);
    assert.ok(report.events < 200, `${report.events} entries: the commands of a batch share one`);
    assert.ok(report.trades > 20);
    await db.destroy();
  });
});

describe('a hot standby following a log of batched entries', () => {
  it('re-computes each entry (a run of commands) byte for byte, and reports an entry that differs', async () => {
    const { db, log } = await open();
    const stop = new AbortController();
    const errors: string[] = [];
    const leader = createSymbolReplica({ symbol: 'BTCUSDT', db, log, onError: (m) => errors.push(m) });
    const standby = createSymbolReplica({ symbol: 'BTCUSDT', db, log, onError: (m) => errors.push(m) });
    await leader.warm(stop.signal);
    await standby.warm(stop.signal);
    const leading = leader.lead({ valid: () => true }, stop.signal);
    const following = standby.follow(stop.signal);
    for (let i = 0; i < 3; i++) await placeOrders(log, 'BTCUSDT', 30);
    const commands = await log.lastSeq('cmd.BTCUSDT');
    await until(() => standby.position().cmdSeq === commands, 'the standby to catch up');
    assert.ok((await log.lastSeq('evt.BTCUSDT')) < commands, 'fewer entries than commands');
    assert.equal(standby.divergences(), 0);
    assert.deepEqual(standby.book().snapshot(), leader.book().snapshot());
    assert.deepEqual(errors, []);

    // An entry for the next command whose events are not what the engine produces.
    stop.abort();
    await Promise.all([leading, following]);
    const again = new AbortController();
    await placeOrders(log, 'BTCUSDT', 1);
    const forged = await log.append('evt.BTCUSDT', [
      { key: 'forged', payload: encodeCommandResults([{ cmdSeq: commands + 1, events: [] }]) },
    ]);
    assert.equal(forged[0]?.duplicate, false);
    // And a run of two commands whose second one's events are not the engine's.
    await placeOrders(log, 'BTCUSDT', 2);
    await log.append('evt.BTCUSDT', [
      {
        key: 'forged-run',
        payload: encodeCommandResults([
          { cmdSeq: commands + 2, events: [] },
          { cmdSeq: commands + 3, events: [] },
        ]),
      },
    ]);
    const followingAgain = standby.follow(again.signal);
    await until(() => standby.position().cmdSeq === commands + 3, 'the standby to apply them');
    again.abort();
    await followingAgain;
    assert.equal(standby.divergences(), 2);
    assert.match(errors.join('\n'), /commands \d+\.\.\d+ differ from the leader's/);
    await db.destroy();
  });

  it('ends a run before the command that would take its entry past MAX_ENTRY_BYTES (estimated), so a large batch is several entries', async () => {
    const { db, log } = await open();
    const stop = new AbortController();
    const leader = createSymbolReplica({ symbol: 'BTCUSDT', db, log });
    await leader.warm(stop.signal);
    // 500 orders in one append: the leader reads them as one batch (its tail reads up to 500).
    const entries = Array.from({ length: 500 }, (_, i) => ({
      key: `r${i}`,
      payload: JSON.stringify(restingBuy(100_000 + i, 100 + i, i)),
    }));
    await log.append('cmd.BTCUSDT', entries);
    const leading = leader.lead({ valid: () => true }, stop.signal);
    await until(async () => (await lastMatched(log, 'BTCUSDT')) === 500, 'all matched');
    stop.abort();
    await leading;
    // About 816 estimated bytes a command: 256 KiB hold 321 of them.
    assert.equal(await log.lastSeq('evt.BTCUSDT'), 2);
    const [firstEntry] = await log.read('evt.BTCUSDT', 1, 1);
    assert.equal(decodeCommandResults(firstEntry?.payload ?? '')?.length, 321);
    const report = await verifySymbolLog(log, 'BTCUSDT');
    assert.deepEqual(report.problems, []);
    assert.equal(report.matched, 500);
    await db.destroy();
  });
});

/** A limit order command (payload object) alternating buy/sell at one price, as `placeOrders`. */
const orderCommand = () => {
  const orderId = nextOrder++;
  return {
    type: 'place',
    orderId,
    account: orderId % 2 === 0 ? 10 : 11,
    side: orderId % 2 === 0 ? 'buy' : 'sell',
    orderType: 'limit',
    priceTicks: 1000 + (orderId % 3),
    qtyLots: 1 + (orderId % 4),
    timeMs: orderId,
  };
};

describe('command-log entries of several commands (oms batches)', () => {
  it('leader and standby apply every command of each entry in order; the standby agrees byte for byte and the log verifies', async () => {
    const { db, log } = await open();
    const stop = new AbortController();
    const errors: string[] = [];
    const applied: number[] = [];
    const leader = createSymbolReplica({
      symbol: 'BTCUSDT',
      db,
      log,
      onError: (m) => errors.push(m),
      onApplied: (_s, n) => applied.push(n),
    });
    const standby = createSymbolReplica({ symbol: 'BTCUSDT', db, log, onError: (m) => errors.push(m) });
    await leader.warm(stop.signal);
    await standby.warm(stop.signal);
    const leading = leader.lead({ valid: () => true }, stop.signal);
    const following = standby.follow(stop.signal);
    // Entries of 1 to 7 commands, some alone (an object), some batches (an array).
    let commands = 0;
    for (let i = 0; i < 30; i++) {
      const n = 1 + (i % 7);
      const cmds = Array.from({ length: n }, orderCommand);
      commands += n;
      await log.append('cmd.BTCUSDT', [
        { key: `b${cmds[0]!.orderId}-${n}`, payload: JSON.stringify(n === 1 ? cmds[0] : cmds) },
      ]);
    }
    await until(() => standby.position().cmdSeq === 30, 'the standby to catch up');
    stop.abort();
    await Promise.all([leading, following]);
    assert.deepEqual(errors, []);
    assert.equal(standby.divergences(), 0);
    assert.deepEqual(standby.book().snapshot(), leader.book().snapshot());
    assert.equal(
      applied.reduce((a, b) => a + b, 0),
      commands,
      'commands counted, not entries',
    );
    const report = await verifySymbolLog(log, 'BTCUSDT');
    assert.deepEqual(report.problems, []);
    assert.equal(report.matched, 30);
    assert.ok(report.trades > 10);
    // Every order of every entry was seen by the engine: accepted (or rejected) once.
    assert.equal(report.orderIds.size, commands);

    // A replica rebuilt from the log alone (no snapshot yet) reaches the same book.
    const fresh = createSymbolReplica({ symbol: 'BTCUSDT', db, log });
    await fresh.warm(new AbortController().signal);
    assert.deepEqual(fresh.book().snapshot(), leader.book().snapshot());
    await db.destroy();
  });

  it("keeps an entry's commands in one event entry when they fit: a run ends before an entry that would take it past MAX_ENTRY_BYTES", async () => {
    const { db, log } = await open();
    const stop = new AbortController();
    const leader = createSymbolReplica({ symbol: 'BTCUSDT', db, log });
    await leader.warm(stop.signal);
    // Three entries of 150 commands (two events each, about 816 estimated bytes a command): 321 fit
    // in a run, so the third entry starts the second event entry.
    const entries = Array.from({ length: 3 }, (_, e) => ({
      key: `b${200_000 + e * 150}-150`,
      payload: JSON.stringify(
        Array.from({ length: 150 }, (_, i) => restingBuy(200_000 + e * 150 + i, 100 + e * 150 + i, i)),
      ),
    }));
    await log.append('cmd.BTCUSDT', entries);
    const leading = leader.lead({ valid: () => true }, stop.signal);
    await until(async () => (await lastMatched(log, 'BTCUSDT')) === 3, 'all matched');
    stop.abort();
    await leading;
    const evts = await log.read('evt.BTCUSDT', 1, 10);
    assert.deepEqual(
      evts.map((e) => {
        const r = decodeCommandResults(e.payload) ?? [];
        return [r[0]?.cmdSeq, r.at(-1)?.cmdSeq, r.length];
      }),
      [
        [1, 2, 300],
        [3, 3, 150],
      ],
    );
    const report = await verifySymbolLog(log, 'BTCUSDT');
    assert.deepEqual(report.problems, []);
    await db.destroy();
  });
});

describe('an entry whose events exceed MAX_ENTRY_BYTES', () => {
  /** One command-log entry of 400 limit orders at 400 prices (two events each: about 326 KB estimated). */
  const bigEntry = () => ({
    key: 'b300000-400',
    payload: JSON.stringify(Array.from({ length: 400 }, (_, i) => restingBuy(300_000 + i, 100 + i, i))),
  });
  const shape = async (log: EventLog) =>
    (await log.read('evt.BTCUSDT', 1, 10)).map((e) => {
      const r = decodeCommandResults(e.payload) ?? [];
      return [e.key, r[0]?.part, r.at(-1)?.part];
    });

  /**
   * `log`, except that its first event append of two or more entries stores only the first, then
   * fails: as a leader killed between two pipelined publishes.
   */
  const cutAfterFirst = (log: EventLog): EventLog => {
    let cutNext = true;
    return {
      ...log,
      append: async (name, entries, opts) => {
        if (!cutNext || name !== 'evt.BTCUSDT' || entries.length < 2) return log.append(name, entries, opts);
        cutNext = false;
        await log.append(name, entries.slice(0, 1), opts);
        throw Object.assign(new Error('connection lost'), { code: 'STATE_CONNECTION' });
      },
    };
  };

  it('splits its parts over consecutive event entries under distinct keys; a standby agrees and the log verifies', async () => {
    const { db, log } = await open();
    const stop = new AbortController();
    const errors: string[] = [];
    const leader = createSymbolReplica({ symbol: 'BTCUSDT', db, log, onError: (m) => errors.push(m) });
    const standby = createSymbolReplica({ symbol: 'BTCUSDT', db, log, onError: (m) => errors.push(m) });
    await leader.warm(stop.signal);
    await standby.warm(stop.signal);
    await log.append('cmd.BTCUSDT', [bigEntry()]);
    const leading = leader.lead({ valid: () => true }, stop.signal);
    const following = standby.follow(stop.signal);
    await until(() => standby.position().cmdSeq === 1 && standby.position().evtSeq === 2, 'the standby to follow');
    stop.abort();
    await Promise.all([leading, following]);
    // 321 parts (about 816 estimated bytes each) fill 256 KiB.
    assert.deepEqual(await shape(log), [
      ['c1-1.320', 0, 320],
      ['c1.321-1', 321, 399],
    ]);
    assert.deepEqual(errors, []);
    assert.equal(standby.divergences(), 0);
    const report = await verifySymbolLog(log, 'BTCUSDT');
    assert.deepEqual(report.problems, []);
    assert.equal(report.matched, 1);
    assert.equal(report.orderIds.size, 400);
    await db.destroy();
  });

  it('a standby that followed the first of them and is promoted holds the rest pending and appends it first', async () => {
    const { db, log } = await open();
    const stop = new AbortController();
    const cutting = cutAfterFirst(log);
    const errors: string[] = [];
    const first = createSymbolReplica({ symbol: 'BTCUSDT', db, log: cutting, onError: () => undefined });
    const standby = createSymbolReplica({ symbol: 'BTCUSDT', db, log, onError: (m) => errors.push(m) });
    await first.warm(stop.signal);
    await standby.warm(stop.signal);
    const following = standby.follow(stop.signal);
    await log.append('cmd.BTCUSDT', [bigEntry()]);
    assert.equal(await first.lead({ valid: () => true }, stop.signal), 'fenced');
    // The standby applied the whole entry, compared the first event entry, and holds the rest.
    await until(() => standby.position().evtSeq === 1, 'the standby to follow the first event entry');
    assert.deepEqual(standby.position(), { cmdSeq: 1, evtSeq: 1 });
    const promoted = new AbortController();
    stop.abort();
    await following;
    const leading = standby.lead({ valid: () => true }, promoted.signal);
    await until(async () => (await log.lastSeq('evt.BTCUSDT')) === 2, 'the rest of the entry');
    promoted.abort();
    await leading;
    assert.deepEqual(errors, []);
    assert.equal(standby.divergences(), 0);
    assert.deepEqual(await shape(log), [
      ['c1-1.320', 0, 320],
      ['c1.321-1', 321, 399],
    ]);
    const report = await verifySymbolLog(log, 'BTCUSDT');
    assert.deepEqual(report.problems, []);
    assert.equal(report.matched, 1);
    await db.destroy();
  });

  it('a leader that stopped after the first of them: the next leader appends the rest before any new command, nothing twice', async () => {
    const { db, log } = await open();
    const stop = new AbortController();
    const cutting = cutAfterFirst(log);
    const first = createSymbolReplica({ symbol: 'BTCUSDT', db, log: cutting, onError: () => undefined });
    await first.warm(stop.signal);
    await log.append('cmd.BTCUSDT', [bigEntry()]);
    // Its retry meets the stored first entry: fenced, it stops leading with its book dirty.
    assert.equal(await first.lead({ valid: () => true }, stop.signal), 'fenced');
    assert.equal(await log.lastSeq('evt.BTCUSDT'), 1);

    await log.append('cmd.BTCUSDT', [{ key: 'o9', payload: JSON.stringify(orderCommand()) }]);
    const errors: string[] = [];
    const next = createSymbolReplica({ symbol: 'BTCUSDT', db, log, onError: (m) => errors.push(m) });
    await next.warm(stop.signal);
    assert.deepEqual(next.position(), { cmdSeq: 1, evtSeq: 1 });
    const leading = next.lead({ valid: () => true }, stop.signal);
    await until(async () => (await log.lastSeq('evt.BTCUSDT')) === 3, 'the rest and the new command');
    stop.abort();
    await leading;
    assert.deepEqual(errors, []);
    assert.deepEqual(await shape(log), [
      ['c1-1.320', 0, 320],
      ['c1.321-1', 321, 399],
      ['c2', undefined, undefined],
    ]);
    const report = await verifySymbolLog(log, 'BTCUSDT');
    assert.deepEqual(report.problems, []);
    assert.equal(report.matched, 2);
    await db.destroy();
  });
});

describe('matching replicas with shard leases', () => {
  const runs: { m: Matching; ctl: AbortController; done: Promise<void> }[] = [];
  const start = (db: Kysely<Database>, log: EventLog, kv: KeyValue, id: string, errors: string[] = []) => {
    const m = createMatching({
      db,
      log,
      markets,
      kv,
      replicaId: id,
      leaseTtlMs: 300,
      snapshotEveryCommands: 30,
      onError: (msg) => errors.push(msg),
    });
    const ctl = new AbortController();
    const run = { m, ctl, done: m.run(ctl.signal) };
    runs.push(run);
    return run;
  };
  after(async () => {
    for (const r of runs) r.ctl.abort();
    await Promise.all(runs.map((r) => r.done));
  });

  it('one replica alone leads every shard at once (embedded mode)', async () => {
    const { db, log } = await open();
    const { m, ctl, done } = start(db, log, createMemoryKeyValue(), 'solo');
    await m.ready();
    await until(() => m.leading().length === 2, 'both shards led');
    await placeOrders(log, 'ETHUSDT', 10);
    await until(matched(log, 'ETHUSDT'), 'ETHUSDT matched');
    ctl.abort();
    await done;
  });

  it('a standby keeps a warm book, leadership spreads one shard each, and when the leader loses its store the standby takes over with nothing skipped or repeated', async () => {
    const { db, log } = await open();
    const kv = createMemoryKeyValue();
    let cut = false;
    const hanging = new Promise<never>(() => undefined);
    // m1's view of the store: all calls hang while `cut` (a partition, or a paused process).
    const kv1: KeyValue = {
      get: (...a) => (cut ? hanging : kv.get(...a)),
      put: (...a) => (cut ? hanging : kv.put(...a)),
      keys: (...a) => (cut ? hanging : kv.keys(...a)),
      delete: (...a) => (cut ? hanging : kv.delete(...a)),
    };
    const r1 = start(db, log, kv1, 'm1');
    await r1.m.ready();
    await until(() => r1.m.leading().length === 2, 'm1 leading both');
    await placeOrders(log, 'BTCUSDT', 40);
    await placeOrders(log, 'ETHUSDT', 40);
    const r2 = start(db, log, kv, 'm2');
    await r2.m.ready();
    await until(() => r1.m.leading().length === 1 && r2.m.leading().length === 1, 'one shard each');
    await placeOrders(log, 'BTCUSDT', 40);
    await placeOrders(log, 'ETHUSDT', 40);
    await until(async () => (await matched(log, 'BTCUSDT')()) && (await matched(log, 'ETHUSDT')()), 'matched');
    // The standby's book is the leader's, byte for byte.
    for (const symbol of ['BTCUSDT', 'ETHUSDT']) {
      await until(
        () => Buffer.from(r1.m.book(symbol)?.snapshot() ?? []).equals(Buffer.from(r2.m.book(symbol)?.snapshot() ?? [])),
        `warm standby of ${symbol}`,
      );
    }

    cut = true;
    await until(() => r2.m.leading().length === 2, 'm2 leading both');
    assert.deepEqual(r1.m.leading(), []);
    await placeOrders(log, 'BTCUSDT', 40);
    await placeOrders(log, 'ETHUSDT', 40);
    await until(
      async () => (await matched(log, 'BTCUSDT')()) && (await matched(log, 'ETHUSDT')()),
      'matched after failover',
    );

    cut = false; // m1 comes back as a follower and gets one shard back by rebalancing
    await until(() => r1.m.leading().length === 1 && r2.m.leading().length === 1, 'rebalanced');
    await placeOrders(log, 'BTCUSDT', 40);
    await placeOrders(log, 'ETHUSDT', 40);
    await until(
      async () => (await matched(log, 'BTCUSDT')()) && (await matched(log, 'ETHUSDT')()),
      'matched after rebalance',
    );
    for (const symbol of ['BTCUSDT', 'ETHUSDT']) {
      const report = await verifySymbolLog(log, symbol);
      assert.deepEqual(report.problems, []);
      assert.equal(report.matched, 160);
    }
    const snaps = await db.selectFrom('snapshots').select(['shard', 'cmd_seq']).execute();
    assert.ok(snaps.length > 0 && snaps.length <= 6, `${snaps.length} snapshots kept`);
  });
});

describe('snapshot cadence', () => {
  /** Appends `n` buys at distinct prices below every sell: each rests, none trades. */
  const placed: number[] = [];
  const restingBuys = async (log: EventLog, n: number): Promise<void> => {
    const entries = Array.from({ length: n }, () => {
      const orderId = nextOrder++;
      placed.push(orderId);
      const payload = { type: 'place', orderId, account: 10, side: 'buy', orderType: 'limit' } as const;
      return {
        key: `o${orderId}`,
        payload: JSON.stringify({ ...payload, priceTicks: 100 + (orderId % 500), qtyLots: 1, timeMs: orderId }),
      };
    });
    await log.append('cmd.BTCUSDT', entries);
  };

  it('a deep book is snapshotted after as many commands as it holds orders, not after every snapshotEveryCommands; once it empties, soon again', async () => {
    const { db, log } = await open();
    const replica = createSymbolReplica({ symbol: 'BTCUSDT', db, log, snapshotEveryCommands: 10, snapshotEveryMs: 0 });
    const stop = new AbortController();
    await replica.warm(stop.signal);
    const leading = replica.lead({ valid: () => true }, stop.signal);
    try {
      const snapshots = async (): Promise<number[]> =>
        (
          await db
            .selectFrom('snapshots')
            .select('cmd_seq')
            .where('shard', '=', 'BTCUSDT')
            .orderBy('cmd_seq', 'desc')
            .execute()
        ).map((r) => Number(r.cmd_seq));
      /** Appends `batches` batches of ten resting buys, each matched before the next. */
      const grow = async (batches: number): Promise<void> => {
        for (let i = 0; i < batches; i++) {
          await restingBuys(log, 10);
          await until(matched(log, 'BTCUSDT'), 'matched');
        }
        // A snapshot the last batch started is written off the hot path: let it land.
        await new Promise((r) => setTimeout(r, 100));
      };

      await restingBuys(log, 200);
      await until(matched(log, 'BTCUSDT'), 'matched');
      // Every command adds one resting order, so the book held `first` orders at that snapshot.
      const first = (await until(async () => (await snapshots())[0], 'a first snapshot')) as number;
      assert.ok(first > 10, `the first snapshot at command ${first}`);
      let commands = 200;

      // Up to as many commands after it as it held orders, in batches of ten: none, where the
      // plain cadence (every 10) would have snapshotted after each batch.
      const batches = Math.floor((2 * first - commands - 1) / 10);
      assert.ok(batches >= 5, `${batches} batches to check`);
      await grow(batches);
      commands += 10 * batches;
      assert.equal((await snapshots())[0], first, `no snapshot within ${commands - first} commands`);

      // Past that many: the next batch snapshots.
      await grow(2);
      const [second] = await snapshots();
      assert.ok(second !== undefined && second >= 2 * first, `a second snapshot (${first} → ${second})`);

      // The book empties (cancels, newest first): a snapshot comes once the commands since reach
      // what the book holds now, long before the `second` commands its last snapshot held.
      let third: number | undefined;
      while (third === undefined && placed.length > 0) {
        const cancels = placed.splice(-10).map((orderId) => ({
          key: `x${orderId}`,
          payload: JSON.stringify({ type: 'cancel', orderId, account: 10, timeMs: orderId }),
        }));
        await log.append('cmd.BTCUSDT', cancels);
        await until(matched(log, 'BTCUSDT'), 'matched');
        await new Promise((r) => setTimeout(r, 20));
        const [latest] = await snapshots();
        if (latest !== second) third = latest;
      }
      assert.ok(third !== undefined && third - second < second, `a third snapshot (${second} → ${third})`);
    } finally {
      stop.abort();
      await leading.catch(() => undefined);
      await db.destroy();
    }
  });
});
