import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { openSqlite } from '@ballast/state-sqlite';
import { sql } from 'kysely';
import { startCheckpointer } from '../src/checkpointer.ts';

const PAGE = 4096;
const walFrames = (path: string): number => Math.max(0, (statSync(`${path}-wal`).size - 32) / (PAGE + 24));
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 1));

describe('background WAL checkpointer', () => {
  it('keeps the WAL bounded under steady writes, and every committed row stays readable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ballast-ckpt-'));
    const path = join(dir, 'db');
    try {
      const db = new DatabaseSync(path);
      // As openSqlite sets it up: the writer checkpoints the remainder past a limit (64 pages here).
      db.exec(`PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 64; PRAGMA busy_timeout = 5000;
        CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`);
      const insert = db.prepare('INSERT INTO t (body) VALUES (?)');
      const cp = startCheckpointer({ path, intervalMs: 5 });
      const transactions = 400;
      for (let i = 0; i < transactions; i++) {
        db.exec('BEGIN');
        for (let j = 0; j < 10; j++) insert.run('x'.repeat(1000));
        db.exec('COMMIT');
        await tick();
      }
      // Without checkpoints every transaction adds its pages (about 3 each) to the WAL; with them
      // the WAL starts over past the limit.
      const frames = walFrames(path);
      cp.stop();
      assert.ok(frames < transactions, `WAL holds ${frames} frames after ${transactions} transactions`);
      db.close();
      const again = new DatabaseSync(path);
      assert.deepEqual({ ...again.prepare('SELECT count(*) AS n FROM t').get() }, { n: transactions * 10 });
      again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is refused together with exclusive locking (its thread needs a connection of its own)', () => {
    assert.throws(
      () => openSqlite({ path: join(tmpdir(), 'never-created.db'), backgroundCheckpoint: true, exclusive: true }),
      /backgroundCheckpoint needs exclusive: false/,
    );
  });

  it('runs with a Kysely database opened with backgroundCheckpoint and closes with it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ballast-ckpt-'));
    const path = join(dir, 'db');
    try {
      const db = openSqlite<unknown>({ path, backgroundCheckpoint: true });
      await sql`CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`.execute(db);
      for (let i = 0; i < 50; i++) await sql`INSERT INTO t (body) VALUES (${'y'.repeat(3000)})`.execute(db);
      const sizeBefore = statSync(path).size;
      // Far below the WAL limit the main connection never checkpoints: the thread copies the pages.
      const deadline = Date.now() + 5000;
      while (statSync(path).size <= sizeBefore && Date.now() < deadline) await tick();
      assert.ok(statSync(path).size > sizeBefore, 'the database file received the WAL pages');
      await db.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
