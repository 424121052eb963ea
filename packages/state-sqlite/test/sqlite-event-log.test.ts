import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { eventLogConformance } from '@ballast/state/conformance';
import { createSqliteEventLog, openSqlite } from '@ballast/state-sqlite';

eventLogConformance('sqlite (in memory)', async () => {
  const db = openSqlite({ path: ':memory:' });
  return { subject: await createSqliteEventLog(db), close: () => db.destroy() };
});

describe('SQLite event log: the in-memory window of newest entries', () => {
  it('reads every entry in order, from the window or from the table, however often the window was trimmed', async () => {
    const db = openSqlite({ path: ':memory:' });
    try {
      const log = await createSqliteEventLog(db, { cacheEntries: 4 });
      for (let i = 1; i <= 23; i++) await log.append('l', [{ payload: `e${i}` }]);
      for (let from = 1; from <= 24; from++) {
        const entries = await log.read('l', from, 3);
        const expected = [from, from + 1, from + 2].filter((s) => s <= 23);
        assert.deepEqual(
          entries.map((e) => [e.seq, e.payload]),
          expected.map((s) => [s, `e${s}`]),
          `read from ${from}`,
        );
      }
    } finally {
      await db.destroy();
    }
  });
});

describe('SQLite event log memory window by size', () => {
  it('keeps about cacheChars of payload in memory, the newest entry always: older ones are read from the table', async () => {
    const db = openSqlite({ path: ':memory:' });
    try {
      const log = await createSqliteEventLog(db, { cacheEntries: 1000, cacheChars: 10 });
      for (let i = 1; i <= 5; i++) await log.append('l', [{ payload: `big-${i}` }]); // 5 characters each
      // Rows gone from the table: what is still read is what the window holds.
      await sql`DELETE FROM log_entries WHERE log = 'l'`.execute(db);
      assert.deepEqual(
        (await log.read('l', 4, 10)).map((e) => e.payload),
        ['big-4', 'big-5'],
      );
      assert.deepEqual(await log.read('l', 1, 10), [], 'entries 1–3 were dropped from the window');
      await log.append('l', [{ payload: 'x'.repeat(50) }]); // larger than the budget on its own
      assert.deepEqual(
        (await log.read('l', 6, 10)).map((e) => e.payload.length),
        [50],
      );
    } finally {
      await db.destroy();
    }
  });
});

describe('SQLite event log headers', () => {
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

  it('reads headers back from the table after a restart, not only from the in-memory tail', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ballast-log-'));
    const path = join(dir, 'log.db');
    try {
      const db1 = openSqlite({ path });
      await (
        await createSqliteEventLog(db1)
      ).append('l', [{ payload: 'a', headers: { traceparent } }, { payload: 'b' }]);
      await db1.destroy();
      const db2 = openSqlite({ path });
      const entries = await (await createSqliteEventLog(db2)).read('l', 1, 10);
      await db2.destroy();
      assert.deepEqual(
        entries.map((e) => [e.payload, e.headers]),
        [
          ['a', { traceparent }],
          ['b', undefined],
        ],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('adds the headers column to a table made before it existed, keeping its entries', async () => {
    const db = openSqlite({ path: ':memory:' });
    try {
      await sql`CREATE TABLE log_entries (log TEXT NOT NULL, seq INTEGER NOT NULL, key TEXT, payload TEXT NOT NULL,
        time_ms INTEGER NOT NULL, PRIMARY KEY (log, seq)) WITHOUT ROWID`.execute(db);
      await sql`INSERT INTO log_entries VALUES ('l', 1, NULL, 'old', 1)`.execute(db);
      const log = await createSqliteEventLog(db);
      await log.append('l', [{ payload: 'new', headers: { traceparent } }]);
      assert.deepEqual(
        (await log.read('l', 1, 10)).map((e) => [e.payload, e.headers?.['traceparent']]),
        [
          ['old', undefined],
          ['new', traceparent],
        ],
      );
    } finally {
      await db.destroy();
    }
  });
});

describe('SQLite event log: appending in the caller transaction', () => {
  const setup = async () => {
    const db = openSqlite<{ rows: { v: string } }>({ path: ':memory:' });
    await sql`CREATE TABLE rows (v TEXT NOT NULL)`.execute(db);
    // Each transaction gets its own time, so entries with equal times were written together.
    let clock = 0;
    const log = await createSqliteEventLog(db, { nowMs: () => ++clock });
    const rows = async () => (await db.selectFrom('rows').select('v').execute()).map((r) => r.v);
    // An append that is being written while the next requests queue: they then form one group.
    const occupy = () => log.append('busy', [{ payload: 'first group' }]);
    return { db, log, rows, occupy };
  };

  it("commits the caller's rows and the entries together, sharing the transaction with plain appends", async () => {
    const { db, log, rows, occupy } = await setup();
    try {
      const busy = occupy();
      const plain = log.append('a', [{ key: 'p1', payload: 'plain' }]);
      const inTx = log.appendInTransaction(['a', 'b'], async (trx) => {
        await trx.insertInto('rows').values({ v: 'order' }).execute();
        return {
          result: 'done',
          appends: [
            { log: 'a', entries: [{ key: 'k1', payload: 'cmd a' }] },
            { log: 'b', entries: [{ payload: 'cmd b' }] },
          ],
        };
      });
      const [, p, t] = await Promise.all([busy, plain, inTx]);
      assert.deepEqual(p, [{ seq: 1, duplicate: false }]);
      assert.equal(t.result, 'done');
      assert.deepEqual(t.appended, [[{ seq: 2, duplicate: false }], [{ seq: 1, duplicate: false }]]);
      assert.deepEqual(await rows(), ['order']);
      assert.deepEqual(
        (await log.read('a', 1, 10)).map((e) => e.payload),
        ['plain', 'cmd a'],
      );
      assert.equal(await log.lastSeq('b'), 1);
      const times = [...(await log.read('a', 1, 10)), ...(await log.read('b', 1, 10))].map((e) => e.timeMs);
      assert.equal(new Set(times).size, 1, 'one transaction for the plain append and the work');
    } finally {
      await db.destroy();
    }
  });

  it('keeps nothing of a failing work, and the appends around it still land', async () => {
    const { db, log, rows, occupy } = await setup();
    try {
      const busy = occupy();
      const before = log.append('a', [{ payload: 'before' }]);
      const failing = log.appendInTransaction(['a'], async (trx) => {
        await trx.insertInto('rows').values({ v: 'rolled back' }).execute();
        throw new Error('insufficient');
      });
      // Fails after its first append went in: that entry must be undone, in the table and in the
      // sequence the next append gets.
      const failingAppend = log.appendInTransaction(['a'], async (trx) => {
        await trx.insertInto('rows').values({ v: 'rolled back too' }).execute();
        return {
          result: 1,
          appends: [
            { log: 'a', entries: [{ key: 'undone', payload: 'undone' }] },
            { log: 'not-named', entries: [{ payload: 'x' }] },
          ],
        };
      });
      const after = log.append('a', [{ payload: 'after' }]);
      await busy;
      await assert.rejects(failing, /insufficient/);
      await assert.rejects(failingAppend, /not named/);
      assert.deepEqual(await before, [{ seq: 1, duplicate: false }]);
      assert.deepEqual(await after, [{ seq: 2, duplicate: false }]);
      assert.deepEqual(await rows(), []);
      const expected = [
        [1, 'before'],
        [2, 'after'],
      ];
      assert.deepEqual(
        (await log.read('a', 1, 10)).map((e) => [e.seq, e.payload]),
        expected,
      );
      // The table agrees with the in-memory tail (a fresh log reads the table).
      const fromTable = await createSqliteEventLog(db);
      assert.deepEqual(
        (await fromTable.read('a', 1, 10)).map((e) => [e.seq, e.payload]),
        expected,
      );
      const again = await log.append('a', [{ key: 'undone', payload: 'now kept' }]);
      assert.deepEqual(again, [{ seq: 3, duplicate: false }]);
    } finally {
      await db.destroy();
    }
  });

  it('keeps nothing of a failing work alone in its transaction, rejects with its own error, and the log goes on', async () => {
    const { db, log, rows } = await setup();
    try {
      // One request at a time: each is alone in its transaction.
      const kept = await log.appendInTransaction(['a'], async (trx) => {
        await trx.insertInto('rows').values({ v: 'kept' }).execute();
        return { result: 1, appends: [{ log: 'a', entries: [{ key: 'k', payload: 'kept' }] }] };
      });
      assert.deepEqual(kept.appended, [[{ seq: 1, duplicate: false }]]);
      const conflict = Object.assign(new Error('balance changed'), { code: 'STATE_CONFLICT', retryable: true });
      const failing = log.appendInTransaction(['a'], async (trx) => {
        await trx.insertInto('rows').values({ v: 'rolled back' }).execute();
        throw conflict;
      });
      await assert.rejects(failing, (err) => err === conflict);
      const failingAppend = log.appendInTransaction(['a'], async (trx) => {
        await trx.insertInto('rows').values({ v: 'rolled back too' }).execute();
        return {
          result: 2,
          appends: [
            { log: 'a', entries: [{ key: 'undone', payload: 'undone' }] },
            { log: 'not-named', entries: [{ payload: 'x' }] },
          ],
        };
      });
      await assert.rejects(failingAppend, /not named/);
      assert.deepEqual(await rows(), ['kept']);
      assert.deepEqual(await log.append('a', [{ key: 'undone', payload: 'next' }]), [{ seq: 2, duplicate: false }]);
      const fromTable = await createSqliteEventLog(db);
      assert.deepEqual(
        (await fromTable.read('a', 1, 10)).map((e) => [e.seq, e.payload]),
        [
          [1, 'kept'],
          [2, 'next'],
        ],
      );
    } finally {
      await db.destroy();
    }
  });

  it('reports an entry whose key is already in the log as a duplicate, as append does', async () => {
    const { db, log } = await setup();
    try {
      await log.append('a', [{ key: 'o1', payload: 'first' }]);
      const t = await log.appendInTransaction(['a'], async () => ({
        result: null,
        appends: [
          {
            log: 'a',
            entries: [
              { key: 'o1', payload: 'again' },
              { key: 'o2', payload: 'new' },
            ],
          },
        ],
      }));
      assert.deepEqual(t.appended, [
        [
          { seq: 1, duplicate: true },
          { seq: 2, duplicate: false },
        ],
      ]);
    } finally {
      await db.destroy();
    }
  });
});
