/**
 * Ledger invariants, checked from the database alone (used by tests, the chaos verifier and the
 * admin API):
 * - every journal entry's postings sum to zero per asset;
 * - per asset, all balances (users, fees and the external account) sum to zero — users + fees
 *   hold exactly deposits − withdrawals (I3);
 * - every balance equals the sum of its postings;
 * - no user or fee balance is negative (I4);
 * - each trade appears in the journal once (I2, by the unique event key).
 *
 * @module
 */
import { SystemAccount, type Database } from '@ballast/db';
import { sql, type Kysely } from 'kysely';

/** What {@link verifyLedger} found: an empty list means every invariant holds. */
export async function verifyLedger(db: Kysely<Database>): Promise<string[]> {
  const problems: string[] = [];
  const unbalanced = await sql<{ journal_id: bigint; asset: string; total: bigint }>`
    SELECT journal_id, asset, SUM(amount) AS total FROM postings GROUP BY journal_id, asset HAVING SUM(amount) <> 0`.execute(
    db,
  );
  for (const r of unbalanced.rows) problems.push(`journal ${r.journal_id} ${r.asset} sums to ${r.total}`);
  const perAsset = await sql<{ asset: string; total: bigint }>`
    SELECT asset, SUM(available + reserved) AS total FROM balances GROUP BY asset`.execute(db);
  for (const r of perAsset.rows)
    if (BigInt(r.total) !== 0n) problems.push(`asset ${r.asset}: balances sum to ${r.total}`);
  const drift = await sql<{ account_id: bigint; asset: string }>`
    SELECT b.account_id, b.asset FROM balances b
    LEFT JOIN (SELECT account_id, asset,
                 SUM(CASE WHEN bucket = 'available' THEN amount ELSE 0 END) AS av,
                 SUM(CASE WHEN bucket = 'reserved' THEN amount ELSE 0 END) AS re
               FROM postings GROUP BY account_id, asset) p
      ON p.account_id = b.account_id AND p.asset = b.asset
    WHERE b.available <> COALESCE(p.av, 0) OR b.reserved <> COALESCE(p.re, 0)`.execute(db);
  for (const r of drift.rows) problems.push(`balance ${r.account_id}/${r.asset} differs from its postings`);
  const negative = await db
    .selectFrom('balances')
    .select(['account_id', 'asset', 'available', 'reserved'])
    .where('account_id', '<>', SystemAccount.External)
    .where((eb) => eb.or([eb('available', '<', 0n), eb('reserved', '<', 0n)]))
    .execute();
  for (const r of negative)
    problems.push(`balance ${r.account_id}/${r.asset} is negative (${r.available}/${r.reserved})`);
  return problems;
}
