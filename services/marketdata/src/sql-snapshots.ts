/**
 * Market-data snapshots in the SQL database (SQLite or PostgreSQL, the same Kysely code): one
 * row per symbol, replaced only by a newer snapshot, so replicas saving at once never move it back.
 * Bodies are gzipped on libuv's thread pool (a full state of candles is megabytes of JSON, about a
 * tenth of that compressed), so the write stays small and the compression off the event loop.
 *
 * @module
 */
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { Database } from '@ballast/db';
import type { Kysely } from 'kysely';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);
import type { MarketDataSnapshotStore } from './market-data.ts';

/** The `marketdata_snapshots` table as a {@link MarketDataSnapshotStore}; `nowMs` stamps rows. */
export function createSqlMarketDataSnapshots(
  db: Kysely<Database>,
  nowMs: () => number = Date.now,
): MarketDataSnapshotStore {
  return {
    async load(symbol, signal) {
      const row = await db
        .selectFrom('marketdata_snapshots')
        .select(['evt_seq', 'body_gz'])
        .where('symbol', '=', symbol)
        .executeTakeFirst();
      signal.throwIfAborted();
      if (row === undefined) return undefined;
      return { logSeq: Number(row.evt_seq), body: (await gunzipAsync(row.body_gz)).toString('utf8') };
    },
    async save(symbol, logSeq, body) {
      const bodyGz = await gzipAsync(body, { level: 6 });
      await db
        .insertInto('marketdata_snapshots')
        .values({ symbol, evt_seq: logSeq, body_gz: bodyGz, created_ms: nowMs() })
        .onConflict((oc) =>
          oc
            .column('symbol')
            .doUpdateSet((eb) => ({
              evt_seq: eb.ref('excluded.evt_seq'),
              body_gz: eb.ref('excluded.body_gz'),
              created_ms: eb.ref('excluded.created_ms'),
            }))
            .where('marketdata_snapshots.evt_seq', '<', BigInt(logSeq)),
        )
        .execute();
    },
  };
}
