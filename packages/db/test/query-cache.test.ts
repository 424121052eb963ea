import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createQueryCache } from '@ballast/db';
import { openPostgres } from '@ballast/state-postgres';
import { openSqlite } from '@ballast/state-sqlite';
import { SERVICES, skipUnlessService } from '@ballast/testkit';
import { sql, type Kysely } from 'kysely';

interface Tables {
  items: { id: bigint; owner: string; qty: bigint; note: string | null };
}

const pgSkip = await skipUnlessService('postgres');
const schema = `ballast_qc_${process.pid}`;
const opened: Kysely<Tables>[] = [];
let pgOpened: Kysely<Tables> | undefined;
after(async () => {
  if (pgOpened !== undefined) await sql.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).execute(pgOpened);
  for (const db of opened) await db.destroy();
});

const stores: { name: string; skip: string | undefined; open: () => Promise<Kysely<Tables>> }[] = [
  { name: 'SQLite', skip: undefined, open: async () => openSqlite<Tables>({ path: ':memory:' }) },
  {
    name: 'PostgreSQL',
    skip: pgSkip,
    open: async () => {
      const db = await openPostgres<Tables>({ url: SERVICES.postgres.url, schema, maxConnections: 2 });
      await sql`DROP TABLE IF EXISTS items`.execute(db);
      pgOpened = db;
      return db;
    },
  },
];

for (const store of stores) {
  describe(`Query cache on ${store.name}`, { skip: store.skip ?? false }, () => {
    const setUp = async (): Promise<Kysely<Tables>> => {
      const db = await store.open();
      opened.push(db);
      await sql`CREATE TABLE items (id BIGINT PRIMARY KEY, owner TEXT NOT NULL, qty BIGINT NOT NULL, note TEXT)`.execute(
        db,
      );
      return db;
    };
    type Row = { id: bigint; owner: string; qty: bigint; note: string | null };
    const row = (id: number, owner: string, qty: number, note: string | null = null): Row => ({
      id: BigInt(id),
      owner,
      qty: BigInt(qty),
      note,
    });

    const plain = <T extends object>(rows: readonly T[]): T[] => rows.map((r) => ({ ...r }));

    it('runs a shape compiled once with each call’s own values, in inserts, selects and updates', async () => {
      const db = await setUp();
      const queries = createQueryCache();
      const insert = (rows: Row[]) =>
        queries.execute(db, `insert:${rows.length}`, rows, (list) => db.insertInto('items').values(list));
      await insert([row(1, 'a', 5), row(2, 'b', 7, 'x')]);
      await insert([row(3, 'a', 11, 'y'), row(4, 'c', 13)]); // same shape, other values (and a null now set)
      const byOwner = (owners: string[]) =>
        queries.execute(db, `by-owner:${owners.length}`, owners, (list) =>
          db.selectFrom('items').selectAll().where('owner', 'in', list).where('qty', '>', 6n).orderBy('id'),
        );
      assert.deepEqual(plain((await byOwner(['a', 'b'])).rows), [row(2, 'b', 7, 'x'), row(3, 'a', 11, 'y')]);
      assert.deepEqual(plain((await byOwner(['c', 'b'])).rows), [row(2, 'b', 7, 'x'), row(4, 'c', 13)]);
      const add = (owner: string, by: bigint) =>
        queries.execute(db, 'add', { owner, by }, (d) =>
          db
            .updateTable('items')
            .set({ qty: sql`qty + ${d.by}` })
            .where('owner', '=', d.owner),
        );
      assert.equal((await add('a', 100n)).numAffectedRows, 2n);
      assert.equal((await add('zzz', 1n)).numAffectedRows, 0n);
      const all = await db.selectFrom('items').select(['id', 'qty']).orderBy('id').execute();
      assert.deepEqual(plain(all), [
        { id: 1n, qty: 105n },
        { id: 2n, qty: 7n },
        { id: 3n, qty: 111n },
        { id: 4n, qty: 13n },
      ]);
      assert.equal(queries.size, 3); // insert:2, by-owner:2, add: each compiled once
    });

    it('refuses a value used in a comparison while building, and caches nothing for it', async () => {
      const db = await setUp();
      const queries = createQueryCache();
      const misuse = queries.execute(db, 'misuse', { qty: 5n }, (d) =>
        db
          .selectFrom('items')
          .selectAll()
          .where('qty', '=', (d.qty as bigint) > 3n ? 1n : 0n),
      );
      await assert.rejects(misuse, /value at qty was used in a comparison or as text/);
      assert.equal(queries.size, 0);
    });

    it('refuses undefined in the data, and data that lacks a value its shape has', async () => {
      const db = await setUp();
      const queries = createQueryCache();
      const build = (list: readonly { owner: string | undefined }[]) =>
        db
          .selectFrom('items')
          .selectAll()
          .where(
            'owner',
            'in',
            list.map((x) => x.owner as string),
          );
      await assert.rejects(queries.execute(db, 'owners', [{ owner: undefined }], build), /undefined at 0\.owner/);
      await queries.execute(db, 'owners', [{ owner: 'a' }, { owner: 'b' }], build);
      await assert.rejects(queries.execute(db, 'owners', [{ owner: 'a' }], build), /no value at 1\.owner/);
    });

    it('keeps running queries correctly, built every time, once it holds its most shapes', async () => {
      const db = await setUp();
      const queries = createQueryCache({ maxShapes: 1 });
      for (let n = 1; n <= 3; n++) {
        const rows = Array.from({ length: n }, (_, i) => row(10 * n + i, `o${n}`, i));
        await queries.execute(db, `insert:${n}`, rows, (list) => db.insertInto('items').values(list));
      }
      assert.equal(queries.size, 1);
      const { count } = await db
        .selectFrom('items')
        .select((eb) => eb.fn.countAll<bigint>().as('count'))
        .executeTakeFirstOrThrow();
      assert.equal(BigInt(count), 6n);
    });
  });
}
