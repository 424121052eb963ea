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
    const log = await createSqliteEventLog(db);
    const rows = async () => (await db.selectFrom('rows').select('v').execute()).map((r) => r.v);
    return { db, log, rows };
  };

  it("commits the caller's rows and the entries together, sharing the transaction with plain appends", async () => {
    const { db, log, rows } = await setup();
    try {
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
      const [p, t] = await Promise.all([plain, inTx]);
      assert.deepEqual(p, [{ seq: 1, duplicate: false }]);
      assert.equal(t.result, 'done');
      assert.deepEqual(t.appended, [[{ seq: 2, duplicate: false }], [{ seq: 1, duplicate: false }]]);
      assert.deepEqual(await rows(), ['order']);
      assert.deepEqual(
        (await log.read('a', 1, 10)).map((e) => e.payload),
        ['plain', 'cmd a'],
      );
      assert.equal(await log.lastSeq('b'), 1);
    } finally {
      await db.destroy();
    }
  });

  it('keeps nothing of a failing work, and the appends around it still land', async () => {
    const { db, log, rows } = await setup();
    try {
      const before = log.append('a', [{ payload: 'before' }]);
      const failing = log.appendInTransaction(['a'], async (trx) => {
        await trx.insertInto('rows').values({ v: 'rolled back' }).execute();
        throw new Error('insufficient');
      });
      const failingAppend = log.appendInTransaction(['a'], async (trx) => {
        await trx.insertInto('rows').values({ v: 'rolled back too' }).execute();
        return { result: 1, appends: [{ log: 'not-named', entries: [{ payload: 'x' }] }] };
      });
      const after = log.append('a', [{ payload: 'after' }]);
      await assert.rejects(failing, /insufficient/);
      await assert.rejects(failingAppend, /not named/);
      assert.deepEqual(await before, [{ seq: 1, duplicate: false }]);
      assert.deepEqual(await after, [{ seq: 2, duplicate: false }]);
      assert.deepEqual(await rows(), []);
      assert.deepEqual(
        (await log.read('a', 1, 10)).map((e) => [e.seq, e.payload]),
        [
          [1, 'before'],
          [2, 'after'],
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
