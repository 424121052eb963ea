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
 * @module
 */
import { SystemAccount, type Database } from '@ballast/db';
import type { BookEvent, TradeEvent } from '@ballast/engine';
import { statusOfDone, type Market, type Markets } from '@ballast/contracts';
import { tailLog, type EventLog, type LogEntry } from '@ballast/state';
import type { Kysely, Selectable, Transaction } from 'kysely';

const CONSUMER = 'ledger';

/** Fee rates in basis points (1 bp = 0.01%). */
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
  /** Called after each applied batch with the symbol and the event log sequence reached. */
  readonly onApplied?: (symbol: string, seq: number) => void;
}

/** The outcome of a transfer. */
export type TransferResult =
  | { readonly ok: true; readonly duplicate: boolean }
  | { readonly ok: false; readonly reason: 'InsufficientFunds' | 'UnknownAsset' | 'UnknownAccount' };

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
type Posting = { account: bigint; asset: string; bucket: 'available' | 'reserved'; amount: bigint };

/** Writes one balanced journal entry and applies it to balances; false if `eventKey` exists. */
export async function postJournal(
  trx: Transaction<Database>,
  eventKey: string,
  kind: string,
  timeMs: number,
  postings: readonly Posting[],
): Promise<boolean> {
  const sums = new Map<string, bigint>();
  for (const p of postings) sums.set(p.asset, (sums.get(p.asset) ?? 0n) + p.amount);
  for (const [asset, sum] of sums) {
    if (sum !== 0n) throw new Error(`unbalanced journal ${eventKey}: ${asset} sums to ${sum}`);
  }
  const journal = await trx
    .insertInto('journal')
    .values({ event_key: eventKey, kind, time_ms: timeMs })
    .onConflict((oc) => oc.column('event_key').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (journal === undefined) return false;
  const nonZero = postings.filter((p) => p.amount !== 0n);
  if (nonZero.length === 0) return true;
  await trx
    .insertInto('postings')
    .values(
      nonZero.map((p) => ({
        journal_id: journal.id,
        account_id: p.account,
        asset: p.asset,
        bucket: p.bucket,
        amount: p.amount,
      })),
    )
    .execute();
  // One balance update per (account, asset).
  const deltas = new Map<string, { account: bigint; asset: string; available: bigint; reserved: bigint }>();
  for (const p of nonZero) {
    const k = `${p.account}:${p.asset}`;
    let d = deltas.get(k);
    if (d === undefined) deltas.set(k, (d = { account: p.account, asset: p.asset, available: 0n, reserved: 0n }));
    if (p.bucket === 'available') d.available += p.amount;
    else d.reserved += p.amount;
  }
  for (const d of deltas.values()) {
    await trx
      .insertInto('balances')
      .values({ account_id: d.account, asset: d.asset, available: d.available, reserved: d.reserved })
      .onConflict((oc) =>
        oc.columns(['account_id', 'asset']).doUpdateSet((eb) => ({
          available: eb('balances.available', '+', d.available),
          reserved: eb('balances.reserved', '+', d.reserved),
        })),
      )
      .execute();
  }
  return true;
}

const feeOf = (amount: bigint, bps: bigint): bigint => (amount * bps) / 10_000n;

/** Creates the ledger. */
export function createLedger(config: LedgerConfig): Ledger {
  const { db, log, markets } = config;
  const now = config.nowMs ?? Date.now;
  const makerBps = BigInt(config.fees?.makerBps ?? 10);
  const takerBps = BigInt(config.fees?.takerBps ?? 10);

  const offsetOf = async (q: Kysely<Database> | Transaction<Database>, name: string): Promise<number> => {
    const row = await q
      .selectFrom('consumer_offsets')
      .select('seq')
      .where('consumer', '=', CONSUMER)
      .where('log', '=', name)
      .executeTakeFirst();
    return row === undefined ? 0 : Number(row.seq);
  };

  const applyEntry = async (
    trx: Transaction<Database>,
    market: Market,
    entry: LogEntry,
    orders: Map<number, OrderRow | undefined>,
  ): Promise<void> => {
    let parsed: { cmdSeq: number; events: BookEvent[] };
    try {
      parsed = JSON.parse(entry.payload) as { cmdSeq: number; events: BookEvent[] };
    } catch (err) {
      config.onError?.(`ledger: event entry ${entry.seq} of ${market.symbol} is not JSON; skipped`, err);
      return;
    }
    const order = async (id: number): Promise<OrderRow | undefined> => {
      if (!orders.has(id)) {
        orders.set(id, await trx.selectFrom('orders').selectAll().where('id', '=', BigInt(id)).executeTakeFirst());
      }
      return orders.get(id);
    };
    const saveOrder = async (o: OrderRow, changes: Partial<OrderRow>, timeMs: number): Promise<void> => {
      Object.assign(o, changes, { updated_ms: BigInt(timeMs) });
      await trx
        .updateTable('orders')
        .set({ ...changes, updated_ms: timeMs } as never)
        .where('id', '=', o.id)
        .execute();
    };
    const release = (o: OrderRow, amount: bigint): Posting[] =>
      amount === 0n
        ? []
        : [
            { account: o.account_id, asset: o.reserve_asset, bucket: 'reserved', amount: -amount },
            { account: o.account_id, asset: o.reserve_asset, bucket: 'available', amount },
          ];
    const key = (e: BookEvent): string => `${market.symbol}:${e.seq}`;
    const timeMs = entry.timeMs;
    for (const e of parsed.events) {
      switch (e.type) {
        case 'trade':
          await settleTrade(e);
          break;
        case 'done': {
          const o = await order(e.orderId);
          if (o === undefined) break;
          const status = statusOfDone(e.reason, e.cause);
          await postJournal(trx, key(e), 'release', timeMs, release(o, o.reserved_minor));
          await saveOrder(o, { status, reserved_minor: 0n }, timeMs);
          break;
        }
        case 'rejected': {
          if (e.command !== 'place' || e.reason === 'DUPLICATE_ORDER_ID') break;
          const o = await order(e.orderId);
          if (o === undefined || o.status !== 'NEW') break;
          await postJournal(trx, key(e), 'release', timeMs, release(o, o.reserved_minor));
          await saveOrder(o, { status: 'REJECTED', reserved_minor: 0n }, timeMs);
          break;
        }
        case 'reduced': {
          const o = await order(e.orderId);
          if (o === undefined) break;
          // Self-trade decrement: release what the removed quantity reserved (limit orders).
          let amount = 0n;
          if (o.side === 'sell' && o.qty_lots > 0n) amount = BigInt(e.byLots) * market.baseMinorPerLot;
          else if (o.side === 'buy' && o.price_ticks > 0n) {
            amount = BigInt(e.byLots) * o.price_ticks * market.quoteMinorPerTickLot;
          }
          if (amount > o.reserved_minor) amount = o.reserved_minor;
          await postJournal(trx, key(e), 'release', timeMs, release(o, amount));
          await saveOrder(o, { reserved_minor: o.reserved_minor - amount }, timeMs);
          break;
        }
        default:
          break;
      }
    }

    async function settleTrade(e: TradeEvent): Promise<void> {
      const maker = await order(e.makerOrderId);
      const taker = await order(e.takerOrderId);
      if (maker === undefined || taker === undefined) {
        config.onError?.(`ledger: trade ${market.symbol}:${e.tradeId} names an unknown order; skipped`, undefined);
        return;
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
      const posted = await postJournal(trx, key(e), 'trade', timeMs, [
        { account: buyer.account_id, asset: market.quoteAsset, bucket: 'reserved', amount: -(quoteAmt + improvement) },
        { account: buyer.account_id, asset: market.quoteAsset, bucket: 'available', amount: improvement },
        { account: seller.account_id, asset: market.quoteAsset, bucket: 'available', amount: quoteAmt - sellerFee },
        { account: fees, asset: market.quoteAsset, bucket: 'available', amount: sellerFee },
        { account: seller.account_id, asset: market.baseAsset, bucket: 'reserved', amount: -baseAmt },
        { account: buyer.account_id, asset: market.baseAsset, bucket: 'available', amount: baseAmt - buyerFee },
        { account: fees, asset: market.baseAsset, bucket: 'available', amount: buyerFee },
      ]);
      if (!posted) return;
      await trx
        .insertInto('trades')
        .values({
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
        })
        .onConflict((oc) => oc.columns(['symbol', 'trade_id']).doNothing())
        .execute();
      const fill = (o: OrderRow, consumed: bigint): Partial<OrderRow> => ({
        executed_lots: o.executed_lots + qty,
        cum_quote_minor: o.cum_quote_minor + quoteAmt,
        reserved_minor: o.reserved_minor - consumed,
        status: 'PARTIALLY_FILLED',
      });
      await saveOrder(buyer, fill(buyer, quoteAmt + improvement), timeMs);
      await saveOrder(seller, fill(seller, baseAmt), timeMs);
    }
  };

  const runSymbol = async (market: Market, signal: AbortSignal): Promise<void> => {
    const name = `evt.${market.symbol}`;
    const from = (await offsetOf(db, name)) + 1;
    await tailLog(
      log,
      name,
      async (entries) => {
        const lastSeq = (entries.at(-1) as LogEntry).seq;
        await db.transaction().execute(async (trx) => {
          const applied = await offsetOf(trx, name);
          const orders = new Map<number, OrderRow | undefined>();
          for (const entry of entries) {
            if (entry.seq <= applied) continue;
            await applyEntry(trx, market, entry, orders);
          }
          await trx
            .insertInto('consumer_offsets')
            .values({ consumer: CONSUMER, log: name, seq: lastSeq })
            .onConflict((oc) => oc.columns(['consumer', 'log']).doUpdateSet({ seq: lastSeq }))
            .execute();
        });
        config.onApplied?.(market.symbol, lastSeq);
      },
      {
        fromSeq: from,
        signal,
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
      const eventKey = `${direction}:${transferId}`;
      const seen = await trx.selectFrom('journal').select('id').where('event_key', '=', eventKey).executeTakeFirst();
      if (seen !== undefined) return { ok: true, duplicate: true };
      if (direction === 'withdrawal') {
        const bal = await trx
          .selectFrom('balances')
          .select('available')
          .where('account_id', '=', accountId)
          .where('asset', '=', asset)
          .executeTakeFirst();
        if ((bal?.available ?? 0n) < amount) return { ok: false, reason: 'InsufficientFunds' };
      }
      const sign = direction === 'deposit' ? 1n : -1n;
      await postJournal(trx, eventKey, direction, now(), [
        { account: SystemAccount.External, asset, bucket: 'available', amount: -sign * amount },
        { account: accountId, asset, bucket: 'available', amount: sign * amount },
      ]);
      return { ok: true, duplicate: false };
    });
  };

  return {
    async run(signal) {
      await Promise.all(
        markets.list.map((m) =>
          runSymbol(m, signal).catch((err) => config.onError?.(`ledger ${m.symbol}: stopped`, err)),
        ),
      );
    },
    deposit: (accountId, asset, amount, transferId) => transfer('deposit', accountId, asset, amount, transferId),
    withdraw: (accountId, asset, amount, transferId) => transfer('withdrawal', accountId, asset, amount, transferId),
    appliedSeq: (symbol) => offsetOf(db, `evt.${symbol}`),
  };
}
