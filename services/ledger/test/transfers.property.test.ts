import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_MARKETS, compileMarkets } from '@ballast/contracts';
import { SystemAccount, migrateToLatest, type Database } from '@ballast/db';
import { MAX_BALANCE_MINOR, createLedger, verifyLedger } from '@ballast/ledger';
import { openPostgres } from '@ballast/state-postgres';
import { createSqliteEventLog, openSqlite } from '@ballast/state-sqlite';
import { SERVICES, skipUnlessService } from '@ballast/testkit';
import { sql, type Kysely } from 'kysely';

const markets = compileMarkets(DEFAULT_MARKETS);
const ACCOUNTS = 3;

/** Amounts from one minor unit to past what a 64-bit balance holds, the edges most often. */
const amount = fc.oneof(
  fc.bigInt({ min: 1n, max: 10n ** 12n }),
  fc.bigInt({ min: MAX_BALANCE_MINOR / 4n, max: MAX_BALANCE_MINOR }),
  fc.constantFrom(MAX_BALANCE_MINOR, MAX_BALANCE_MINOR + 1n, 2n ** 64n),
);
const op = fc.record({
  kind: fc.constantFrom('deposit' as const, 'withdraw' as const),
  account: fc.integer({ min: 0, max: ACCOUNTS - 1 }),
  amount,
});

/** One store to run the property on: a fresh database each run. */
interface Store {
  readonly name: string;
  readonly skip: string | undefined;
  open(run: number): Promise<{ db: Kysely<Database>; close(): Promise<void> }>;
}

const pgSkip = await skipUnlessService('postgres');
const stores: Store[] = [
  {
    name: 'SQLite',
    skip: undefined,
    async open() {
      const db = openSqlite<Database>({ path: ':memory:' });
      await migrateToLatest(db, 'sqlite');
      return { db, close: () => db.destroy() };
    },
  },
  {
    name: 'PostgreSQL',
    skip: pgSkip,
    async open(run) {
      const schema = `ballast_transfers_${process.pid}_${run}`;
      const db = await openPostgres<Database>({ url: SERVICES.postgres.url, schema });
      await migrateToLatest(db, 'postgres');
      return {
        db,
        close: async () => {
          await sql.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).execute(db);
          await db.destroy();
        },
      };
    },
  },
];

for (const store of stores) {
  describe(`deposits and withdrawals on ${store.name}`, { skip: store.skip ?? false }, () => {
    let runs = 0;
    const logDb = openSqlite<unknown>({ path: ':memory:' });
    after(() => logDb.destroy());

    it('move exact amounts, refuse what would overdraw an account or take the venue beyond a 64-bit balance, and keep the ledger balanced', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
          const { db, close } = await store.open(++runs);
          try {
            const ledger = createLedger({
              db,
              log: await createSqliteEventLog(logDb),
              markets,
              lockOffsets: store.name === 'PostgreSQL',
            });
            const ids: bigint[] = [];
            for (let i = 0; i < ACCOUNTS; i++) {
              const row = await db
                .insertInto('accounts')
                .values({ kind: 'user', created_ms: 0 })
                .returning('id')
                .executeTakeFirstOrThrow();
              ids.push(row.id);
            }
            // The model: each account's USDT, and the external account's (minus what was deposited).
            const model = ids.map(() => 0n);
            let external = 0n;
            for (const [i, o] of ops.entries()) {
              const id = ids[o.account]!;
              const r =
                o.kind === 'deposit'
                  ? await ledger.deposit(id, 'USDT', o.amount, `t${i}`)
                  : await ledger.withdraw(id, 'USDT', o.amount, `t${i}`);
              if (o.kind === 'deposit') {
                const fits = external - o.amount >= -MAX_BALANCE_MINOR;
                assert.deepEqual(r, fits ? { ok: true, duplicate: false } : { ok: false, reason: 'AmountOutOfRange' });
                if (fits) {
                  model[o.account]! += o.amount;
                  external -= o.amount;
                }
              } else {
                const covered = model[o.account]! >= o.amount;
                assert.deepEqual(
                  r,
                  covered ? { ok: true, duplicate: false } : { ok: false, reason: 'InsufficientFunds' },
                );
                if (covered) {
                  model[o.account]! -= o.amount;
                  external += o.amount;
                }
              }
            }
            const rows = await db
              .selectFrom('balances')
              .select(['account_id', 'available'])
              .where('asset', '=', 'USDT')
              .execute();
            const stored = new Map(rows.map((b) => [b.account_id, b.available]));
            // Exact integers: a balance past 64 bits would come back as a float, or not at all.
            assert.deepEqual(
              ids.map((id) => stored.get(id) ?? 0n),
              model,
            );
            assert.equal(stored.get(SystemAccount.External) ?? 0n, external);
            assert.deepEqual(await verifyLedger(db), []);
          } finally {
            await close();
          }
        }),
        { numRuns: store.name === 'SQLite' ? 60 : 20 },
      );
    });
  });
}
