import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DEFAULT_MARKETS, compileMarkets } from '@ballast/contracts';
import { CONFLICT_FUNCTION, migrateToLatest, type Database } from '@ballast/db';
import { createLedger, verifyLedger } from '@ballast/ledger';
import { classifyPostgresError, openPostgres } from '@ballast/state-postgres';
import { SERVICES, skipUnlessService } from '@ballast/testkit';
import { sql, type Kysely } from 'kysely';

const skip = await skipUnlessService('postgres');
const schema = `ballast_test_${process.pid}`;
const opened: Kysely<any>[] = [];
after(async () => {
  if (opened.length > 0) await sql.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).execute(opened[0]!);
  for (const db of opened) await db.destroy();
});
const open = async (): Promise<Kysely<Database>> => {
  const db = await openPostgres<Database>({ url: SERVICES.postgres.url, schema, maxConnections: 4 });
  opened.push(db);
  return db;
};

describe('PostgreSQL (same Kysely code as SQLite)', { skip: skip ?? false }, () => {
  it('migrates once when several replicas start at the same time', async () => {
    const replicas = await Promise.all([open(), open(), open()]);
    const results = await Promise.all(replicas.map((db) => migrateToLatest(db, 'postgres')));
    assert.deepEqual(results.flat(), ['0001_initial', '0002_marketdata_snapshots', '0003_conflict_function']); // exactly one replica applied them
    const accounts = await replicas[0]!.selectFrom('accounts').select(['id', 'kind']).orderBy('id').execute();
    assert.deepEqual(accounts, [
      { id: 1n, kind: 'external' },
      { id: 2n, kind: 'fees' },
    ]);
  });

  it('lets a statement abort itself, and all it wrote, as a retryable conflict', async () => {
    const db = await open();
    await migrateToLatest(db, 'postgres');
    const attempt = (fail: boolean) =>
      sql`with a as (insert into accounts (kind, created_ms) values ('user', 7) returning id)
          select case when ${fail} then ${sql.raw(CONFLICT_FUNCTION)}('what it read has changed') else 0 end as x from a`.execute(
        db,
      );
    await attempt(false);
    const err = await attempt(true).then(
      () => assert.fail('the statement should have aborted'),
      (e: unknown) => e,
    );
    assert.equal((err as { code?: string }).code, '40001');
    const classified = classifyPostgresError(err, 'test');
    assert.equal(classified.code, 'STATE_CONFLICT');
    assert.equal(classified.retryable, true);
    const rows = await db.selectFrom('accounts').select('id').where('created_ms', '=', 7n).execute();
    assert.equal(rows.length, 1); // the aborted statement's row is gone
  });

  it('runs its queries as named prepared statements: parsed once per connection, then reused', async () => {
    const db = await openPostgres<Database>({ url: SERVICES.postgres.url, schema, maxConnections: 1 });
    opened.push(db);
    const byId = (id: bigint) => db.selectFrom('accounts').select('kind').where('id', '=', id).executeTakeFirst();
    assert.deepEqual(await byId(1n), { kind: 'external' });
    assert.deepEqual(await byId(2n), { kind: 'fees' }); // same text, other parameters
    const prepared = await sql<{ statement: string }>`SELECT statement FROM pg_prepared_statements`.execute(db);
    const texts = prepared.rows.map((r) => r.statement);
    assert.equal(texts.filter((t) => t.startsWith('select "kind" from "accounts"')).length, 1);
    // Off (for poolers in transaction mode): nothing is prepared.
    const plain = await openPostgres<Database>({
      url: SERVICES.postgres.url,
      schema,
      maxConnections: 1,
      preparedStatements: false,
    });
    opened.push(plain);
    await plain.selectFrom('accounts').select('kind').where('id', '=', 1n).executeTakeFirst();
    const none = await sql<{ n: string }>`SELECT count(*)::text AS n FROM pg_prepared_statements`.execute(plain);
    assert.deepEqual(none.rows, [{ n: '0' }]);
  });

  it('runs the ledger: deposits and withdrawals are exact, idempotent and balanced', async () => {
    const db = (await open()) as Kysely<Database>;
    const acct = await db
      .insertInto('accounts')
      .values({ kind: 'user', created_ms: Date.now() })
      .returning('id')
      .executeTakeFirstOrThrow();
    assert.ok(acct.id > 1000n); // user ids start after the reserved range
    const noLog = {} as never; // transfers do not touch the event log
    const ledger = createLedger({ db, log: noLog, markets: compileMarkets(DEFAULT_MARKETS) });
    const big = 12_345_678_901_234_567_89n; // beyond 2^53: must stay exact
    assert.deepEqual(await ledger.deposit(acct.id, 'USDT', big, 'd-1'), { ok: true, duplicate: false });
    assert.deepEqual(await ledger.deposit(acct.id, 'USDT', big, 'd-1'), { ok: true, duplicate: true });
    assert.deepEqual(await ledger.withdraw(acct.id, 'USDT', big + 1n, 'w-1'), {
      ok: false,
      reason: 'InsufficientFunds',
    });
    assert.deepEqual(await ledger.withdraw(acct.id, 'USDT', 89n, 'w-2'), { ok: true, duplicate: false });
    const bal = await db
      .selectFrom('balances')
      .select(['available', 'reserved'])
      .where('account_id', '=', acct.id)
      .where('asset', '=', 'USDT')
      .executeTakeFirstOrThrow();
    assert.deepEqual(bal, { available: big - 89n, reserved: 0n });
    assert.deepEqual(await verifyLedger(db), []);
  });

  it('classifies driver errors: unique violation is a conflict, a refused connection is retryable', async () => {
    const db = await open();
    const err = await db
      .insertInto('accounts')
      .values({ id: 1, kind: 'user', created_ms: 0 } as never)
      .execute()
      .catch((e: unknown) => e);
    const c = classifyPostgresError(err, 'insert');
    assert.equal(c.code, 'STATE_CONFLICT');
    assert.equal(c.retryable, false);
    const down = await openPostgres({ url: 'postgres://postgres@127.0.0.1:1/test' });
    const e2 = await sql`SELECT 1`.execute(down).catch((e: unknown) => e);
    await down.destroy();
    assert.equal(classifyPostgresError(e2, 'select').retryable, true);
    // A host whose every address refused: Node's AggregateError, with an empty message.
    const refused = Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' });
    const all = new AggregateError([refused, { ...refused }], '');
    assert.deepEqual(
      [classifyPostgresError(all, 'select').code, classifyPostgresError(all, 'select').retryable],
      ['STATE_CONNECTION', true],
    );
    // Passing: a pool out of connections, a server out of them or read-only, a lock not free.
    const passing = [
      [new Error('timeout exceeded when trying to connect'), 'STATE_CONNECTION'],
      [Object.assign(new Error('sorry, too many clients already'), { code: '53300' }), 'STATE_CONNECTION'],
      [
        Object.assign(new Error('cannot execute INSERT in a read-only transaction'), { code: '25006' }),
        'STATE_CONNECTION',
      ],
      [Object.assign(new Error('could not obtain lock on row'), { code: '55P03' }), 'STATE_CONFLICT'],
    ] as const;
    for (const [e, code] of passing) {
      const c = classifyPostgresError(e, 'x');
      assert.deepEqual([c.code, c.retryable], [code, true], e.message);
    }
    // Not passing: a statement that is wrong.
    const bug = classifyPostgresError(Object.assign(new Error('column "x" does not exist'), { code: '42703' }), 'x');
    assert.deepEqual([bug.code, bug.retryable], ['STATE_INVALID', false]);
  });
});
