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
