/**
 * The ledger role: applies matching's events as double-entry postings, exactly once.
 *
 * For every event-log entry, in one transaction with the consumer offset: trades settle
 * (buyer's reserved quote → seller, seller's reserved base → buyer, fees to the fee account, a
 * limit buy's price improvement released), orders that end release what they still reserve,
 * order history is projected (status, executed quantity, trades). Each journal entry is unique
 * per event, and per asset its postings sum to zero. Deposits and withdrawals are journal
 * entries against the external account, idempotent by their transfer id.
 *
 * Tracing (when on): every applied entry that carries a sampled W3C trace context (matching's
 * `apply` span) gets a consumer span `settle evt.<symbol>` covering the batch's transaction.
 *
 * @module
 */
import { SystemAccount, createQueryCache, type Database, type QueryCache } from '@ballast/db';
import { decodeCommandResults, type BookEvent } from '@ballast/engine';
import { statusOfDone, type Market, type Markets } from '@ballast/contracts';
import { SpanKind, contextFromCarrier, endSpan, startSpan, tracingEnabled } from '@ballast/runtime';
import { createLease, sleep, tailLog, within, type EventLog, type KeyValue, type LogEntry } from '@ballast/state';
import { CompiledQuery, sql, type Insertable, type Kysely, type Selectable, type Transaction } from 'kysely';

const CONSUMER = 'ledger';

/** Fee rates in basis points (1 bp = 0.01%). */

/** Orders balance rows by (account, asset): the lock order every writer of `balances` follows. */
const byAccountAsset = (a: { account_id: bigint; asset: string }, b: { account_id: bigint; asset: string }): number =>
  a.account_id < b.account_id
    ? -1
    : a.account_id > b.account_id
      ? 1
      : a.asset < b.asset
        ? -1
        : a.asset > b.asset
          ? 1
          : 0;

export interface FeeSchedule {
  /** @default 10 */
  readonly makerBps: number;
  /** @default 10 */
  readonly takerBps: number;
}

/** Construction config of the ledger. */
export interface LedgerConfig {
  readonly db: Kysely<Database>;
  readonly log: EventLog;
  readonly markets: Markets;
  readonly fees?: FeeSchedule;
  /** @default Date.now */
  readonly nowMs?: () => number;
  readonly onError?: (message: string, err: unknown) => void;
  /**
   * Lock the consumer offset row for the batch's transaction (`SELECT … FOR UPDATE`), so ledger
   * replicas sharing a PostgreSQL database take turns instead of racing. PostgreSQL only: a settled
   * batch is then written in one statement (journal entries, postings, order changes, trades,
   * balances and the offset, as data-modifying CTEs over `unnest` arrays), four round trips per
   * batch instead of twelve. @default false (SQLite)
   */
  readonly lockOffsets?: boolean;
  /**
   * Commit event batches without waiting for the WAL flush (PostgreSQL `SET LOCAL
   * synchronous_commit = off`). Safe because a batch and its consumer offset commit together and
   * the events stay in the durable log: an OS crash can lose the last batches (well under a second),
   * and the ledger then applies them again from the log. Transfers (deposits, withdrawals), which
   * are acknowledged to a caller, always wait for the flush. @default false
   */
  readonly asyncBatchCommit?: boolean;
  /**
   * Ledger replicas as a consumer group: each symbol's events are settled by the replica holding
   * its lease (`ledger-lease.<symbol>` in `kv`, renewed every `ttlMs / 3`); the others stand by
   * and take over when it lapses. The offset row lock stays the safety net (a paused holder's
   * late batch settles nothing twice). Without it every replica tails every symbol.
   */
  readonly partition?: { readonly kv: KeyValue; readonly holder: string; readonly ttlMs: number };
  /**
   * Settle at most one batch per symbol per this many ms (unless a batch is full): events that
   * arrive meanwhile are settled in the same transaction, so the commit, the offset update and
   * the balance rows are paid once for all of them. Balances lag the events by up to this much.
   * @default 0 (settle as soon as events arrive)
   */
  readonly batchIntervalMs?: number;
  /** Called after each applied batch with the symbol and the event log sequence reached. */
  readonly onApplied?: (symbol: string, seq: number) => void;
  /**
   * About how much event-entry payload (characters) one settlement transaction takes: a batch
   * of entries read together over this is settled in several transactions, each with its offset
   * (an entry holds a matching batch, so after an outage a read can hold many thousands of
   * commands; no transaction should hold its balance rows that long). At least one entry each.
   * @default 1 MiB (2²⁰)
   */
  readonly settleBatchChars?: number;
}

/** The outcome of a transfer. */
export type TransferResult =
  | { readonly ok: true; readonly duplicate: boolean }
  | {
      readonly ok: false;
      readonly reason: 'InsufficientFunds' | 'UnknownAsset' | 'UnknownAccount' | 'AmountOutOfRange';
    };

/**
 * The largest magnitude a balance may reach, in minor units: a 64-bit signed integer (PostgreSQL's
 * `bigint`; SQLite would silently turn a larger sum into a float). Every user and fee balance of
 * an asset together equals minus the external account's, so bounding the external account on
 * each deposit bounds them all.
 */
export const MAX_BALANCE_MINOR = 2n ** 63n - 1n;

/** The ledger role. */
export interface Ledger {
  /** Applies events of every symbol until `signal` aborts. */
  run(signal: AbortSignal): Promise<void>;
  /** Credits `amountMinor` of `asset` to `accountId` from the external account, once per `transferId`. */
  deposit(accountId: bigint, asset: string, amountMinor: bigint, transferId: string): Promise<TransferResult>;
  /** Debits available funds to the external account, once per `transferId`. */
  withdraw(accountId: bigint, asset: string, amountMinor: bigint, transferId: string): Promise<TransferResult>;
  /** The event-log sequence applied so far for `symbol`. */
  appliedSeq(symbol: string): Promise<number>;
}

type OrderRow = Selectable<Database['orders']>;
/** A journal entry to write: its event key, kind, time and postings. */
type Journal = { key: string; kind: string; timeMs: number; postings: readonly Posting[] };
/** What a batch of events changes: journal entries, order rows (changed in place) and trades. */
type Settlement = { journals: Journal[]; dirty: OrderRow[]; trades: Insertable<Database['trades']>[] };

/** What `postings` change, aggregated per account and asset, sorted in lock order. */
function balanceDeltas(postings: readonly Posting[]): BalanceDelta[] {
  const deltas = new Map<string, BalanceDelta>();
  for (const p of postings) {
    const k = `${p.account}:${p.asset}`;
    let d = deltas.get(k);
    if (d === undefined) deltas.set(k, (d = { account_id: p.account, asset: p.asset, available: 0n, reserved: 0n }));
    if (p.bucket === 'available') d.available += p.amount;
    else d.reserved += p.amount;
  }
  return [...deltas.values()].sort(byAccountAsset);
}

/** @throws Error when an entry does not sum to zero per asset (the transaction must not commit). */
function checkBalanced(journals: readonly { key: string; postings: readonly Posting[] }[]): void {
  for (const j of journals) {
    const sums = new Map<string, bigint>();
    for (const p of j.postings) sums.set(p.asset, (sums.get(p.asset) ?? 0n) + p.amount);
    for (const [asset, sum] of sums)
      if (sum !== 0n) throw new Error(`unbalanced journal ${j.key}: ${asset} sums to ${sum}`);
  }
}

/**
 * One settled batch in one PostgreSQL statement: every row set travels as arrays (`unnest`), so
 * the text is the same for every batch (one prepared statement). Balances last, in (account,
 * asset) order as every writer locks them; the offset moves in the same statement.
 */
const COMBINED_SETTLEMENT = `WITH j AS (
  INSERT INTO journal (event_key, kind, time_ms)
  SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
  RETURNING id, event_key
), p AS (
  INSERT INTO postings (journal_id, account_id, asset, bucket, amount)
  SELECT j.id, v.account_id, v.asset, v.bucket, v.amount
  FROM unnest($4::text[], $5::bigint[], $6::text[], $7::text[], $8::bigint[])
    AS v(event_key, account_id, asset, bucket, amount)
  JOIN j ON j.event_key = v.event_key
), o AS (
  UPDATE orders SET status = v.status, executed_lots = v.executed_lots, cum_quote_minor = v.cum_quote_minor,
    reserved_minor = v.reserved_minor, updated_ms = v.updated_ms
  FROM unnest($9::bigint[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[])
    AS v(id, status, executed_lots, cum_quote_minor, reserved_minor, updated_ms)
  WHERE orders.id = v.id
), t AS (
  INSERT INTO trades (symbol, trade_id, price_ticks, qty_lots, quote_minor, buyer_order_id, seller_order_id,
    buyer_account, seller_account, buyer_is_maker, buyer_fee_minor, seller_fee_minor, time_ms)
  SELECT * FROM unnest($15::text[], $16::bigint[], $17::bigint[], $18::bigint[], $19::bigint[], $20::bigint[],
    $21::bigint[], $22::bigint[], $23::bigint[], $24::bigint[], $25::bigint[], $26::bigint[], $27::bigint[])
  ON CONFLICT (symbol, trade_id) DO NOTHING
), b AS (
  INSERT INTO balances (account_id, asset, available, reserved)
  SELECT * FROM unnest($28::bigint[], $29::text[], $30::bigint[], $31::bigint[])
  ON CONFLICT (account_id, asset) DO UPDATE
    SET available = balances.available + excluded.available, reserved = balances.reserved + excluded.reserved
)
INSERT INTO consumer_offsets (consumer, log, seq) VALUES ($32, $33, $34)
ON CONFLICT (consumer, log) DO UPDATE SET seq = excluded.seq`;

/** The parameters of {@link COMBINED_SETTLEMENT}. @throws Error as {@link checkBalanced}. */
function combinedSettlementParameters(
  s: Settlement | undefined,
  consumer: string,
  log: string,
  seq: number,
): unknown[] {
  const journals = s?.journals ?? [];
  checkBalanced(journals);
  const postings = journals.flatMap((j) => j.postings.filter((p) => p.amount !== 0n).map((p) => ({ key: j.key, p })));
  const balances = balanceDeltas(postings.map((x) => x.p));
  const dirty = s?.dirty ?? [];
  const trades = s?.trades ?? [];
  const col = <T, V>(rows: readonly T[], f: (row: T) => V): V[] => rows.map(f);
  return [
    col(journals, (j) => j.key),
    col(journals, (j) => j.kind),
    col(journals, (j) => BigInt(j.timeMs)),
    col(postings, (x) => x.key),
    col(postings, (x) => x.p.account),
    col(postings, (x) => x.p.asset),
    col(postings, (x) => x.p.bucket),
    col(postings, (x) => x.p.amount),
    col(dirty, (o) => o.id),
    col(dirty, (o) => o.status),
    col(dirty, (o) => o.executed_lots),
    col(dirty, (o) => o.cum_quote_minor),
    col(dirty, (o) => o.reserved_minor),
    col(dirty, (o) => o.updated_ms),
    col(trades, (t) => t.symbol),
    col(trades, (t) => t.trade_id),
    col(trades, (t) => t.price_ticks),
    col(trades, (t) => t.qty_lots),
    col(trades, (t) => t.quote_minor),
    col(trades, (t) => t.buyer_order_id),
    col(trades, (t) => t.seller_order_id),
    col(trades, (t) => t.buyer_account),
    col(trades, (t) => t.seller_account),
    col(trades, (t) => t.buyer_is_maker),
    col(trades, (t) => t.buyer_fee_minor),
    col(trades, (t) => t.seller_fee_minor),
    col(trades, (t) => t.time_ms),
    col(balances, (b) => b.account_id),
    col(balances, (b) => b.asset),
    col(balances, (b) => b.available),
    col(balances, (b) => b.reserved),
    consumer,
    log,
    seq,
  ];
}
type Posting = { account: bigint; asset: string; bucket: 'available' | 'reserved'; amount: bigint };

/** A change to one balance row. */
type BalanceDelta = { account_id: bigint; asset: string; available: bigint; reserved: bigint };

/**
 * Writes balanced journal entries with their postings and applies them to balances, in a few
 * multi-row statements (balance changes aggregated per account and asset).
 *
 * @throws Error when an entry does not sum to zero per asset, or its key already exists (the
 *   caller's consumer offset should have prevented that; the transaction must not commit).
 */
export async function writeJournals(
  trx: Transaction<Database>,
  journals: readonly { key: string; kind: string; timeMs: number; postings: readonly Posting[] }[],
  queries: QueryCache = createQueryCache(),
): Promise<void> {
  await applyBalanceDeltas(trx, await insertJournals(trx, journals, queries), queries);
}

/**
 * Inserts balanced journal entries with their postings; returns their balance changes, aggregated
 * per account and asset and sorted in lock order, for {@link applyBalanceDeltas}.
 *
 * @throws Error as {@link writeJournals}.
 */
async function insertJournals(
  trx: Transaction<Database>,
  journals: readonly Journal[],
  queries: QueryCache,
): Promise<BalanceDelta[]> {
  if (journals.length === 0) return [];
  checkBalanced(journals);
  const ids = new Map<string, bigint>();
  for (let i = 0; i < journals.length; i += 500) {
    const part = journals.slice(i, i + 500).map((j) => ({ event_key: j.key, kind: j.kind, time_ms: j.timeMs }));
    const { rows } = await queries.execute(trx, `ledger.journal:${part.length}`, part, (list) =>
      trx.insertInto('journal').values(list).returning(['id', 'event_key']),
    );
    for (const r of rows) ids.set(r.event_key, r.id);
  }
  const postings = [];
  for (const j of journals) {
    const id = ids.get(j.key) as bigint;
    for (const p of j.postings) {
      if (p.amount === 0n) continue;
      postings.push({ journal_id: id, account_id: p.account, asset: p.asset, bucket: p.bucket, amount: p.amount });
    }
  }
  for (let i = 0; i < postings.length; i += 1000) {
    const part = postings.slice(i, i + 1000);
    await queries.execute(trx, `ledger.postings:${part.length}`, part, (list) =>
      trx.insertInto('postings').values(list),
    );
  }
  return balanceDeltas(journals.flatMap((j) => j.postings.filter((p) => p.amount !== 0n)));
}

/**
 * Adds `list` to the balance rows (created when missing). Balance rows are locked in one global
 * order — (account, asset), the order of `list` — by every writer (the oms does the same), so
 * concurrent transactions wait for each other instead of deadlocking.
 */
async function applyBalanceDeltas(
  trx: Transaction<Database>,
  deltas: readonly BalanceDelta[],
  queries: QueryCache,
): Promise<void> {
  for (let i = 0; i < deltas.length; i += 500) {
    const part = deltas.slice(i, i + 500);
    await queries.execute(trx, `ledger.balances:${part.length}`, part, (list) =>
      trx
        .insertInto('balances')
        .values(list)
        .onConflict((oc) =>
          oc.columns(['account_id', 'asset']).doUpdateSet((eb) => ({
            available: eb('balances.available', '+', eb.ref('excluded.available')),
            reserved: eb('balances.reserved', '+', eb.ref('excluded.reserved')),
          })),
        ),
    );
  }
}

/** Writes one balanced journal entry and applies it to balances; false if `eventKey` exists. */
export async function postJournal(
  trx: Transaction<Database>,
  eventKey: string,
  kind: string,
  timeMs: number,
  postings: readonly Posting[],
): Promise<boolean> {
  const seen = await trx.selectFrom('journal').select('id').where('event_key', '=', eventKey).executeTakeFirst();
  if (seen !== undefined) return false;
  await writeJournals(trx, [{ key: eventKey, kind, timeMs, postings }]);
  return true;
}

const feeOf = (amount: bigint, bps: bigint): bigint => (amount * bps) / 10_000n;

/** Creates the ledger. */
export function createLedger(config: LedgerConfig): Ledger {
  const { db, log, markets } = config;
  const now = config.nowMs ?? Date.now;
  // The settlement statements, compiled once per shape (batch size) rather than built every time.
  const queries = createQueryCache();
  const combined = config.lockOffsets === true; // PostgreSQL (see lockOffsets)
  const makerBps = BigInt(config.fees?.makerBps ?? 10);
  const takerBps = BigInt(config.fees?.takerBps ?? 10);

  const offsetOf = async (q: Kysely<Database> | Transaction<Database>, name: string): Promise<number> => {
    const { rows } = await queries.execute(q, 'ledger.offset', { log: name }, (d) =>
      q.selectFrom('consumer_offsets').select('seq').where('consumer', '=', CONSUMER).where('log', '=', d.log),
    );
    const row = rows[0];
    return row === undefined ? 0 : Number(row.seq);
  };

  /**
   * Applies a batch of event entries as a few set-based statements: the orders they touch are
   * read in one query, every event is settled in memory, then journal entries, postings,
   * balance deltas (aggregated per account and asset), order changes and trades are written with
   * one multi-row statement each.
   */
  const settle = async (
    trx: Transaction<Database>,
    market: Market,
    entries: readonly LogEntry[],
  ): Promise<Settlement | undefined> => {
    const parsed: { entry: LogEntry; events: BookEvent[] }[] = [];
    const ids = new Set<bigint>();
    for (const entry of entries) {
      try {
        const results = decodeCommandResults(entry.payload);
        if (results === undefined) throw new Error('not an entry of command results');
        const events = results.flatMap((r) => r.events);
        parsed.push({ entry, events });
        for (const e of events) {
          if (e.type === 'trade') {
            ids.add(BigInt(e.makerOrderId));
            ids.add(BigInt(e.takerOrderId));
          } else if (e.type === 'done' || e.type === 'rejected' || e.type === 'reduced') ids.add(BigInt(e.orderId));
        }
      } catch (err) {
        config.onError?.(`ledger: event entry ${entry.seq} of ${market.symbol} is malformed; skipped`, err);
      }
    }
    if (ids.size === 0) return undefined;
    const orders = new Map<number, OrderRow>();
    const idList = [...ids];
    for (let i = 0; i < idList.length; i += 500) {
      const part = idList.slice(i, i + 500);
      const { rows } = await queries.execute(trx, `ledger.orders:${part.length}`, part, (list) =>
        trx.selectFrom('orders').selectAll().where('id', 'in', list),
      );
      for (const r of rows) orders.set(Number(r.id), r);
    }
    const journals: Journal[] = [];
    const dirty = new Set<OrderRow>();
    const trades: Insertable<Database['trades']>[] = [];
    const release = (o: OrderRow, amount: bigint): Posting[] =>
      amount === 0n
        ? []
        : [
            { account: o.account_id, asset: o.reserve_asset, bucket: 'reserved', amount: -amount },
            { account: o.account_id, asset: o.reserve_asset, bucket: 'available', amount },
          ];
    const change = (o: OrderRow, c: Partial<OrderRow>, timeMs: number): void => {
      Object.assign(o, c, { updated_ms: BigInt(timeMs) });
      dirty.add(o);
    };
    const key = (e: BookEvent): string => `${market.symbol}:${e.seq}`;
    for (const { entry, events } of parsed) {
      const timeMs = entry.timeMs;
      for (const e of events) {
        if (e.type === 'trade') {
          const maker = orders.get(e.makerOrderId);
          const taker = orders.get(e.takerOrderId);
          if (maker === undefined || taker === undefined) {
            config.onError?.(`ledger: trade ${market.symbol}:${e.tradeId} names an unknown order; skipped`, undefined);
            continue;
          }
          const buyer = e.takerSide === 'buy' ? taker : maker;
          const seller = e.takerSide === 'buy' ? maker : taker;
          const buyerIsMaker = buyer === maker;
          const qty = BigInt(e.qtyLots);
          const price = BigInt(e.priceTicks);
          const baseAmt = qty * market.baseMinorPerLot;
          const quoteAmt = price * qty * market.quoteMinorPerTickLot;
          const buyerFee = feeOf(baseAmt, buyerIsMaker ? makerBps : takerBps);
          const sellerFee = feeOf(quoteAmt, buyerIsMaker ? takerBps : makerBps);
          // A limit buy reserved at its limit price; what it saved by trading lower is released now.
          const improvement =
            buyer.price_ticks > 0n && buyer.price_ticks > price
              ? (buyer.price_ticks - price) * qty * market.quoteMinorPerTickLot
              : 0n;
          const fees = SystemAccount.Fees;
          journals.push({
            key: key(e),
            kind: 'trade',
            timeMs,
            postings: [
              {
                account: buyer.account_id,
                asset: market.quoteAsset,
                bucket: 'reserved',
                amount: -(quoteAmt + improvement),
              },
              { account: buyer.account_id, asset: market.quoteAsset, bucket: 'available', amount: improvement },
              {
                account: seller.account_id,
                asset: market.quoteAsset,
                bucket: 'available',
                amount: quoteAmt - sellerFee,
              },
              { account: fees, asset: market.quoteAsset, bucket: 'available', amount: sellerFee },
              { account: seller.account_id, asset: market.baseAsset, bucket: 'reserved', amount: -baseAmt },
              { account: buyer.account_id, asset: market.baseAsset, bucket: 'available', amount: baseAmt - buyerFee },
              { account: fees, asset: market.baseAsset, bucket: 'available', amount: buyerFee },
            ],
          });
          trades.push({
            symbol: market.symbol,
            trade_id: e.tradeId,
            price_ticks: price,
            qty_lots: qty,
            quote_minor: quoteAmt,
            buyer_order_id: buyer.id,
            seller_order_id: seller.id,
            buyer_account: buyer.account_id,
            seller_account: seller.account_id,
            buyer_is_maker: buyerIsMaker ? 1 : 0,
            buyer_fee_minor: buyerFee,
            seller_fee_minor: sellerFee,
            time_ms: e.timeMs,
          });
          const fill = (o: OrderRow, consumed: bigint): Partial<OrderRow> => ({
            executed_lots: o.executed_lots + qty,
            cum_quote_minor: o.cum_quote_minor + quoteAmt,
            reserved_minor: o.reserved_minor - consumed,
            status: 'PARTIALLY_FILLED',
          });
          change(buyer, fill(buyer, quoteAmt + improvement), timeMs);
          change(seller, fill(seller, baseAmt), timeMs);
        } else if (e.type === 'done') {
          const o = orders.get(e.orderId);
          if (o === undefined) continue;
          journals.push({ key: key(e), kind: 'release', timeMs, postings: release(o, o.reserved_minor) });
          change(o, { status: statusOfDone(e.reason, e.cause), reserved_minor: 0n }, timeMs);
        } else if (e.type === 'rejected') {
          if (e.command !== 'place' || e.reason === 'DUPLICATE_ORDER_ID') continue;
          const o = orders.get(e.orderId);
          if (o === undefined || o.status !== 'NEW') continue;
          journals.push({ key: key(e), kind: 'release', timeMs, postings: release(o, o.reserved_minor) });
          change(o, { status: 'REJECTED', reserved_minor: 0n }, timeMs);
        } else if (e.type === 'reduced') {
          const o = orders.get(e.orderId);
          if (o === undefined) continue;
          // Self-trade decrement: release what the removed quantity reserved (limit orders).
          let amount = 0n;
          if (o.side === 'sell' && o.qty_lots > 0n) amount = BigInt(e.byLots) * market.baseMinorPerLot;
          else if (o.side === 'buy' && o.price_ticks > 0n)
            amount = BigInt(e.byLots) * o.price_ticks * market.quoteMinorPerTickLot;
          if (amount > o.reserved_minor) amount = o.reserved_minor;
          journals.push({ key: key(e), kind: 'release', timeMs, postings: release(o, amount) });
          change(o, { reserved_minor: o.reserved_minor - amount }, timeMs);
        }
      }
    }
    return { journals, dirty: [...dirty], trades };
  };

  /** Writes a settlement statement by statement (SQLite, which has no data-modifying CTEs). */
  const writeSeparately = async (trx: Transaction<Database>, settlement: Settlement): Promise<void> => {
    const { journals, dirty: dirtyRows, trades } = settlement;
    const deltas = await insertJournals(trx, journals, queries);
    for (let i = 0; i < dirtyRows.length; i += 200) {
      const part = dirtyRows.slice(i, i + 200).map((o) => ({ ...o }));
      await queries.execute(trx, `ledger.order-changes:${part.length}`, part, (list) =>
        trx
          .insertInto('orders')
          .values(list as never)
          .onConflict((oc) =>
            oc.column('id').doUpdateSet((eb) => ({
              status: eb.ref('excluded.status'),
              executed_lots: eb.ref('excluded.executed_lots'),
              cum_quote_minor: eb.ref('excluded.cum_quote_minor'),
              reserved_minor: eb.ref('excluded.reserved_minor'),
              updated_ms: eb.ref('excluded.updated_ms'),
            })),
          ),
      );
    }
    for (let i = 0; i < trades.length; i += 500) {
      const part = trades.slice(i, i + 500);
      await queries.execute(trx, `ledger.trades:${part.length}`, part, (list) =>
        trx
          .insertInto('trades')
          .values(list)
          .onConflict((oc) => oc.columns(['symbol', 'trade_id']).doNothing()),
      );
    }
    // Last: the balance rows are the hot rows every writer shares (the oms reserves from them),
    // so they are locked for as short a time as can be — this statement, the offset, the commit.
    await applyBalanceDeltas(trx, deltas, queries);
  };

  /** One span per traced entry of a settled (or failed) batch, with the transaction's times. */
  const traceSettle = (
    name: string,
    symbol: string,
    applied: readonly LogEntry[],
    batch: number,
    startTime: number,
    err?: unknown,
  ): void => {
    for (const e of applied) {
      const parent = e.headers !== undefined ? contextFromCarrier(e.headers) : undefined;
      if (parent === undefined) continue;
      const span = startSpan(`settle ${name}`, {
        parent,
        kind: SpanKind.CONSUMER,
        startTime,
        attributes: {
          'messaging.operation.type': 'process',
          'messaging.destination.name': name,
          'db.operation.name': 'settlement batch transaction',
          'ballast.symbol': symbol,
          'ballast.evt_seq': e.seq,
          'ballast.batch.size': batch,
        },
      });
      endSpan(span, err);
    }
  };

  /** Settles `market` while holding its lease; stands by otherwise (see `partition`). */
  const runLeased = async (
    market: Market,
    p: NonNullable<LedgerConfig['partition']>,
    signal: AbortSignal,
  ): Promise<void> => {
    const lease = createLease(p.kv, { key: `ledger-lease.${market.symbol}`, holder: p.holder, ttlMs: p.ttlMs });
    const everyMs = Math.max(50, Math.floor(p.ttlMs / 3));
    // A store call that hangs must not keep an expired holder settling: bound it by one TTL.
    const bounded = <T>(call: Promise<T>): Promise<T> => within(call, p.ttlMs, `ledger lease ${market.symbol}`);
    while (!signal.aborted) {
      let taken = false;
      try {
        taken = await bounded(lease.tryAcquire());
      } catch (err) {
        config.onError?.(`ledger ${market.symbol}: lease unavailable; retrying`, err);
      }
      if (!taken) {
        await sleep(everyMs, signal);
        continue;
      }
      const held = new AbortController();
      const renewing = (async () => {
        while (!held.signal.aborted) {
          await sleep(everyMs, held.signal);
          if (held.signal.aborted) break;
          let ok: boolean;
          try {
            ok = await bounded(lease.renew());
          } catch {
            ok = lease.valid(); // store trouble: keep going only until the local deadline
          }
          if (!ok) held.abort(new Error('lease lost'));
        }
      })();
      const stopOnAbort = (): void => held.abort(signal.reason);
      signal.addEventListener('abort', stopOnAbort, { once: true });
      try {
        await runSymbol(market, held.signal);
      } catch (err) {
        // Starting the tail failed (the database is down, say): give the lease up and try again
        // later — never stop settling this symbol for good.
        config.onError?.(`ledger ${market.symbol}: settlement stopped; retrying`, err);
        await sleep(everyMs, signal);
      } finally {
        signal.removeEventListener('abort', stopOnAbort);
        held.abort(new Error('stopped'));
        await renewing;
      }
      if (signal.aborted || lease.valid()) await lease.release().catch(() => undefined);
      else lease.drop();
    }
  };

  const runSymbol = async (market: Market, signal: AbortSignal): Promise<void> => {
    const name = `evt.${market.symbol}`;
    // The offset row exists from the start, so each batch locks it with one statement.
    if (config.lockOffsets === true) {
      await db
        .insertInto('consumer_offsets')
        .values({ consumer: CONSUMER, log: name, seq: 0 })
        .onConflict((oc) => oc.columns(['consumer', 'log']).doNothing())
        .execute();
    }
    const from = (await offsetOf(db, name)) + 1;
    const settleBatchChars = config.settleBatchChars ?? 2 ** 20;
    /** Settles `entries` in one transaction, with the offset. */
    const settleEntries = async (entries: readonly LogEntry[]): Promise<void> => {
      const lastSeq = (entries.at(-1) as LogEntry).seq;
      const traced = tracingEnabled() && entries.some((e) => e.headers !== undefined);
      const startedAt = traced ? performance.now() : 0;
      let applied: LogEntry[] = [];
      try {
        await db.transaction().execute(async (trx) => {
          let done: number;
          if (config.lockOffsets === true) {
            // PostgreSQL: the offset row locked for the batch (replicas take turns), with the
            // commit mode set for this transaction alone (set_config(…, true) is SET LOCAL).
            const { rows } = await trx.executeQuery<{ seq: bigint }>(
              CompiledQuery.raw(
                `SELECT seq${config.asyncBatchCommit === true ? ", set_config('synchronous_commit', 'off', true)" : ''} FROM consumer_offsets WHERE consumer = $1 AND log = $2 FOR UPDATE`,
                [CONSUMER, name],
              ),
            );
            done = rows[0] === undefined ? 0 : Number(rows[0].seq);
          } else {
            if (config.asyncBatchCommit === true) await sql`SET LOCAL synchronous_commit = off`.execute(trx);
            done = await offsetOf(trx, name);
          }
          applied = entries.filter((e) => e.seq > done);
          // Never backwards: a replica behind another one (its batch already settled by the
          // other) must not move the offset back, or those events would be settled again.
          const upTo = Math.max(done, lastSeq);
          const settlement = await settle(trx, market, applied);
          if (combined) {
            const parameters = combinedSettlementParameters(settlement, CONSUMER, name, upTo);
            await trx.executeQuery(CompiledQuery.raw(COMBINED_SETTLEMENT, parameters));
            return;
          }
          if (settlement !== undefined) await writeSeparately(trx, settlement);
          await queries.execute(trx, 'ledger.offset-save', { log: name, seq: upTo }, (d) =>
            trx
              .insertInto('consumer_offsets')
              .values({ consumer: CONSUMER, log: d.log, seq: d.seq })
              .onConflict((oc) => oc.columns(['consumer', 'log']).doUpdateSet({ seq: d.seq })),
          );
        });
      } catch (err) {
        if (traced) traceSettle(name, market.symbol, applied, entries.length, startedAt, err);
        throw err;
      }
      if (traced) traceSettle(name, market.symbol, applied, entries.length, startedAt);
      config.onApplied?.(market.symbol, lastSeq);
    };
    await tailLog(
      log,
      name,
      async (entries) => {
        // An entry holds a matching batch's events, so a batch of entries can hold many
        // commands (after an outage, up to 500 entries of up to 500 commands): one transaction per
        // settleBatchChars of payload or so, so none holds its balance rows for long.
        let start = 0;
        let chars = 0;
        for (let i = 0; i < entries.length; i++) {
          chars += (entries[i] as LogEntry).payload.length;
          if (chars >= settleBatchChars || i === entries.length - 1) {
            await settleEntries(entries.slice(start, i + 1));
            start = i + 1;
            chars = 0;
          }
        }
      },
      {
        fromSeq: from,
        signal,
        coalesceMs: config.batchIntervalMs ?? 0,
        onError: (err) => config.onError?.(`ledger ${market.symbol}: batch failed; retrying`, err),
      },
    );
  };

  const transfer = async (
    direction: 'deposit' | 'withdrawal',
    accountId: bigint,
    asset: string,
    amount: bigint,
    transferId: string,
  ): Promise<TransferResult> => {
    if (!markets.assets.has(asset)) return { ok: false, reason: 'UnknownAsset' };
    return db.transaction().execute(async (trx): Promise<TransferResult> => {
      const account = await trx.selectFrom('accounts').select('kind').where('id', '=', accountId).executeTakeFirst();
      if (account === undefined || account.kind !== 'user') return { ok: false, reason: 'UnknownAccount' };
      // Both balance rows the transfer moves, locked on PostgreSQL in the order every writer locks
      // balances, (account, asset): the external account (1) first. So the checks below hold
      // until commit — two withdrawals, or a withdrawal and an order's reservation, cannot both
      // spend the same funds; a retry racing its original finds it committed — and no deadlock
      // with the oms or the ledger. Every transfer of an asset moves the external row, so it is
      // created (zero) by the first transfer of the asset if missing, and locked by all of them.
      // SQLite has one writer.
      const read = trx
        .selectFrom('balances')
        .select(['account_id', 'available'])
        .where('asset', '=', asset)
        .where('account_id', 'in', [SystemAccount.External, accountId])
        .orderBy('account_id');
      let rows = await (combined ? read.forUpdate() : read).execute();
      if (combined && !rows.some((r) => r.account_id === SystemAccount.External)) {
        await trx
          .insertInto('balances')
          .values({ account_id: SystemAccount.External, asset, available: 0n, reserved: 0n })
          .onConflict((oc) => oc.doNothing())
          .execute();
        rows = await read.forUpdate().execute();
      }
      const eventKey = `${direction}:${transferId}`;
      const seen = await trx.selectFrom('journal').select('id').where('event_key', '=', eventKey).executeTakeFirst();
      if (seen !== undefined) return { ok: true, duplicate: true };
      const availableOf = (id: bigint): bigint => rows.find((r) => r.account_id === id)?.available ?? 0n;
      if (direction === 'deposit' && availableOf(SystemAccount.External) - amount < -MAX_BALANCE_MINOR)
        return { ok: false, reason: 'AmountOutOfRange' };
      if (direction === 'withdrawal' && availableOf(accountId) < amount)
        return { ok: false, reason: 'InsufficientFunds' };
      const sign = direction === 'deposit' ? 1n : -1n;
      // The transfer id was looked up above, under the lock: written directly, not through
      // postJournal, which would look it up again.
      await writeJournals(
        trx,
        [
          {
            key: eventKey,
            kind: direction,
            timeMs: now(),
            postings: [
              { account: SystemAccount.External, asset, bucket: 'available', amount: -sign * amount },
              { account: accountId, asset, bucket: 'available', amount: sign * amount },
            ],
          },
        ],
        queries,
      );
      return { ok: true, duplicate: false };
    });
  };

  return {
    async run(signal) {
      await Promise.all(
        markets.list.map((m) =>
          (config.partition === undefined ? runSymbol(m, signal) : runLeased(m, config.partition, signal)).catch(
            (err) => config.onError?.(`ledger ${m.symbol}: stopped`, err),
          ),
        ),
      );
    },
    deposit: (accountId, asset, amount, transferId) => transfer('deposit', accountId, asset, amount, transferId),
    withdraw: (accountId, asset, amount, transferId) => transfer('withdrawal', accountId, asset, amount, transferId),
    appliedSeq: (symbol) => offsetOf(db, `evt.${symbol}`),
  };
}
