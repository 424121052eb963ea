/**
 * The order management service: checks an order against its market's filters, reserves its
 * funds, writes the order, the reservation and an outbox row in one transaction, appends the
 * command to the symbol's command log (de-duplicated by order id) and acknowledges.
 *
 * Requests arriving together are written in one transaction and appended in one call (group
 * commit): each still gets its own result. A retry with the same client order id returns the
 * original order. A command whose append failed after commit is published by the outbox sweeper;
 * an acknowledged order is never lost. When the command log lives in the same database
 * (`logInTransaction`, embedded SQLite), the commands are appended in the batch's own transaction
 * instead: one commit, no outbox row.
 *
 * Tracing (when on): each order's part of a batch transaction is a span in the order's trace, and
 * each command append a producer span whose W3C trace context travels in the log entry's headers.
 * The command itself carries the request's `traceparent` (field `trace`), so the outbox row has it
 * and a command the sweeper publishes later still continues the order's trace.
 *
 * @module
 */
import { createQueryCache, type Database } from '@ballast/db';
import { BallastError, ErrorCode } from '@ballast/errors';
import type { Market, Markets } from '@ballast/contracts';
import {
  SpanKind,
  contextFromCarrier,
  endSpan,
  sampledContext,
  startSpan,
  traceCarrier,
  tracingEnabled,
  type Span,
  type TraceContext,
} from '@ballast/runtime';
import type { AppendInput, AppendResult, AppendsInTransaction, EventLog } from '@ballast/state';
import {
  CompiledQuery,
  sql,
  type ExpressionBuilder,
  type Insertable,
  type Kysely,
  type Selectable,
  type Transaction,
} from 'kysely';
import { createGroupCommit } from './group-commit.ts';
import {
  BATCH_READ,
  BATCH_WRITE,
  batchReadParameters,
  batchWriteParameters,
  type BatchReadRow,
} from './one-statement.ts';
import { createBatchedOrderLookup, findOrder, toOrderRecord } from './order-record.ts';
import type { CancelResult, OrderRecord, PlaceOrderInput, PlaceRejection, PlaceResult } from './order-request.ts';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const TERMINAL = new Set(['FILLED', 'CANCELED', 'EXPIRED', 'EXPIRED_IN_MATCH', 'REJECTED']);

/** The command log of a symbol. */
export const commandLog = (symbol: string): string => `cmd.${symbol}`;

/** Construction config of the oms. */
export interface OmsConfig {
  readonly db: Kysely<Database>;
  readonly log: EventLog;
  readonly markets: Markets;
  /** @default Date.now */
  readonly nowMs?: () => number;
  /** Called for problems that do not fail a request (an append left to the sweeper). */
  readonly onWarning?: (message: string, err: unknown) => void;
  /** Called with the symbol of each acknowledged new order. */
  readonly onAccepted?: (symbol: string) => void;
  /** Most orders per group commit. @default 256 */
  readonly maxBatch?: number;
  /**
   * How commands go into a symbol's command log: `batch`, the untraced commands of one batch
   * (new orders, or cancels sent together) as one entry, a JSON array (`applyCommandEntry` of
   * `@ballast/engine`); `order`, one entry per command, the only format readers from before batch
   * entries understand (a rollout keeps it until every matching, ledger and gateway is newer).
   * @default 'batch'
   */
  readonly commandEntries?: 'batch' | 'order';
  /**
   * Group-commit lanes: accounts are spread over this many independent batch writers, so up to
   * `lanes` transactions run at once (on PostgreSQL; one account is always in one lane, so its
   * orders stay in order and lanes never race for the same balance). @default 1
   */
  readonly lanes?: number;
  /**
   * Row locks, for oms replicas sharing a PostgreSQL database: a batch locks its balance rows
   * (`FOR UPDATE`, in (account, asset) order) just before reserving, and the outbox is swept with
   * `FOR UPDATE SKIP LOCKED`, so replicas never republish the same rows at once. A batch's writes
   * then travel as data-modifying CTEs (see `writeAll`).
   * @default false (SQLite: one process, one writer)
   */
  readonly rowLocks?: boolean;
  /**
   * Called when a batch (row locks) found a balance fallen below its reservation since it was
   * read (or remembered) and is written again.
   */
  readonly onBalanceConflict?: () => void;
  /**
   * Called for each batch committed through the outbox: `statement` when it took PostgreSQL's
   * two-round-trip path (a read, then one statement), `remembered` when that path skipped the
   * read (balances remembered, see `writeInOneStatement`), `transaction` when it was written
   * statement by statement in a transaction (SQLite; on PostgreSQL a batch holding a retry it
   * read, or one written again after a conflict).
   */
  readonly onBatchWritten?: (path: 'statement' | 'remembered' | 'transaction') => void;
  /**
   * Whether the command log is reachable now (the NATS connection is up). When it returns false,
   * new orders and cancels are refused at once with a retryable `UNAVAILABLE` (answered 503):
   * an order matching cannot see would only wait. @default always true
   */
  readonly isLogAvailable?: () => boolean;
  /**
   * The command log, when it lives in this same database (embedded SQLite): each batch's
   * commands are then appended in the batch's own transaction — order, reservation and command
   * commit together, in one commit, and no outbox row is written. Without it the commands go
   * through the outbox and are appended after commit (a log on another server).
   */
  readonly logInTransaction?: AppendsInTransaction<Transaction<Database>>;
  /**
   * With `rowLocks` (PostgreSQL): how often the sweeper vacuums the outbox
   * (`VACUUM (SKIP_LOCKED, TRUNCATE false) outbox`: replicas never queue behind each other's, and
   * order batches never wait for an exclusive lock to shrink the table) when batches
   * deleted rows from it since. Every order's outbox row is deleted once its command is in the
   * log, and until vacuumed those dead rows slow every batch's clean-up and every sweep; the
   * autovacuum defaults (a minute's nap, a fifth of the table) come far too late for a queue
   * table, and a server may run without autovacuum at all. 0 = never. @default 2000
   */
  readonly outboxVacuumEveryMs?: number;
  /**
   * After each outbox vacuum, with how long it took (ms). One that found the table locked (another
   * replica vacuuming) returns at once and is reported too: PostgreSQL only warns that it skipped.
   */
  readonly onOutboxVacuum?: (durationMs: number) => void;
  /**
   * With `rowLocks` (PostgreSQL): the sweeper refreshes the planner's statistics of the tables
   * the oms reads (`ANALYZE (SKIP_LOCKED) orders, balances, outbox`) once this replica has placed
   * this many orders, then each time the orders it placed since double. A plan cached while a
   * table was small, and never re-planned (no ANALYZE: a server without autovacuum, or before
   * autovacuum's first visit), scans the whole table on every execution as it grows. 0 = never.
   * @default 1000
   */
  readonly analyzeAfterOrders?: number;
}

/** Identifies an order to cancel: by id or by client order id. */
export interface CancelRequest {
  readonly accountId: bigint;
  readonly symbol: string;
  readonly orderId?: bigint;
  readonly clientOrderId?: string;
}

/** Options of {@link Oms.place} and {@link Oms.cancel}. */
export interface EntryOptions {
  /**
   * The caller's: aborting it before the request is dispatched (see `onDispatched`) withdraws
   * the request (nothing is done; the call rejects with the abort's reason). After, it changes
   * nothing: the request is carried out and answered as usual.
   */
  readonly signal?: AbortSignal;
  /**
   * Called once, when the request can no longer be withdrawn: a new order's batch starts to be
   * written; a cancel at once (its look-up and append do not stop for the signal). Through a
   * remote oms (`@ballast/gateway`), when its batch is about to be sent (before a replica is
   * picked: a batch that then finds none counts as dispatched too, which errs on the side of
   * caution). A caller whose `signal` aborted before this was called knows that nothing was done.
   */
  readonly onDispatched?: () => void;
}

/** The order management service. */
export interface Oms {
  /**
   * Places an order. Resolves once it is committed (and, normally, in the command log).
   * Aborting before the order's batch starts to be written rejects with the abort's reason and
   * leaves nothing behind; once its batch is being written, the order stands (it is answered as
   * usual) and needs a cancel.
   *
   * @throws BallastError when the database fails (nothing was acknowledged).
   */
  place(input: PlaceOrderInput, options?: EntryOptions): Promise<PlaceResult>;
  /** Sends a cancel for a live order; matching applies it in log order. */
  cancel(req: CancelRequest, options?: EntryOptions): Promise<CancelResult>;
  /** Republishes committed commands older than `minAgeMs` still in the outbox; returns how many. */
  sweepOutbox(minAgeMs?: number): Promise<number>;
  /**
   * Sweeps every `intervalMs` (rows older than max(5 s, 5 × `intervalMs`)) until `signal` aborts;
   * on PostgreSQL also vacuums the outbox (`outboxVacuumEveryMs`) and refreshes the statistics
   * of the oms's tables (`analyzeAfterOrders`).
   */
  runSweeper(signal: AbortSignal, intervalMs?: number): Promise<void>;
}

interface Pending {
  readonly input: PlaceOrderInput;
  readonly market: Market;
  /** The request's sampled trace context (tracing on only). */
  readonly ctx: TraceContext | undefined;
  /** The caller's: an order whose caller gave up before its batch is written is not written. */
  readonly signal: AbortSignal | undefined;
  /** Called when its batch starts to be written (see {@link EntryOptions}). */
  readonly onDispatched: (() => void) | undefined;
  readonly resolve: (r: PlaceResult) => void;
  readonly reject: (e: unknown) => void;
}

interface Written {
  readonly pending: Pending;
  readonly order: OrderRecord;
  readonly key: string;
  readonly payload: string;
}

/** A retry of an order placed in the same batch: answered with the original once committed. */
interface Retry {
  readonly pending: Pending;
  readonly order: OrderRecord;
}

/** What a batch wrote, and the answers to give once it commits. */
interface WrittenBatch {
  readonly written: Written[];
  readonly retries: Retry[];
  /** Refused for insufficient balance (nothing written for them). */
  readonly refused: Pending[];
}

type OrderRow = Selectable<Database['orders']>;

/** An order the batch accepts, with its reservation and engine quantities. */
interface Accepted {
  readonly p: Pending;
  readonly asset: string;
  readonly amount: bigint;
  readonly qtyLots?: bigint;
  readonly quoteLots?: bigint;
}

const pairKey = (a: bigint, s: string): string => `${a}:${s}`;

/** Order ids taken from the sequence at once when the oms reads (PostgreSQL's one-statement path). */
const ORDER_IDS_AHEAD = 32;
/**
 * Spare order ids are dropped this long after they were taken: ids should rise with time across
 * replicas (a listing by `orderId` pages by them), and matching refuses an id far below the
 * newest it has seen (`ORDER_ID_TOO_OLD`), which an idle replica's old ids could become.
 */
const SPARE_IDS_MAX_AGE_MS = 1000;
/** Balances the oms remembers (PostgreSQL's one-statement path), the least recently used dropped. */
const REMEMBERED_BALANCES = 100_000;

/** The balances a batch may reserve from: base and quote asset of each order's account, once each. */
const balancePairs = (batch: readonly { input: PlaceOrderInput; market: Market }[]) => {
  const pairs = new Map<string, { account: bigint; asset: string }>();
  for (const p of batch) {
    for (const asset of [p.market.baseAsset, p.market.quoteAsset]) {
      pairs.set(pairKey(p.input.accountId, asset), { account: p.input.accountId, asset });
    }
  }
  return [...pairs.values()];
};

/** A reservation summed by balance. */
interface BalanceDelta {
  readonly account: bigint;
  readonly asset: string;
  amount: bigint;
}
/** Where a balance row is one of `list`. */
const touchedBalances = (eb: ExpressionBuilder<Database, 'balances'>, list: readonly BalanceDelta[]) =>
  eb.or(list.map((d) => eb.and([eb('account_id', '=', d.account), eb('asset', '=', d.asset)])));
/** The amount `list` reserves from the balance row at hand (a CASE on account and asset). */
const reservedAmount = (list: readonly BalanceDelta[]) =>
  sql<bigint>`case ${sql.join(
    list.map(
      (d) =>
        sql`when balances.account_id = ${d.account} and balances.asset = ${d.asset} then cast(${d.amount} as bigint)`,
    ),
    sql` `,
  )} end`;

/** A command to append, with the trace context its producer span continues. */
interface OutCommand {
  readonly key?: string;
  readonly payload: string;
  readonly ctx: TraceContext | undefined;
  /**
   * Commands of one group are appended as one entry (a JSON array of their payloads, in their
   * order; see `applyCommandEntry` of `@ballast/engine`), keyed with their shared `key`. Never
   * set for a traced command: its entry's headers carry its own trace context.
   */
  readonly group?: string;
}

/** Where a command landed: its entry's sequence, and its index there when the entry holds several. */
interface CommandPosition {
  readonly seq: number;
  readonly part?: number;
}

/**
 * Most commands in one entry: an oms batch's commands for one symbol are split into entries of at
 * most this many (the outbox sweeper reads 500 rows at a time and publishes only whole entries;
 * 200 commands are about 60 KB, well under JetStream's 1 MiB message limit).
 */
const ENTRY_COMMANDS_MAX = 200;

/**
 * The outbox key of each command of a batch (`items` in the batch's order): `o<orderId>` for a
 * traced command and for one alone in its log, `b<first orderId>-<count>` shared by the commands
 * of one entry (untraced commands of one log, at most {@link ENTRY_COMMANDS_MAX}). The count lets
 * the sweeper publish an entry only when it holds all of its rows: the key de-duplicates the
 * entry, so a part of it appended alone would make the log drop the rest.
 */
function entryKeys(items: readonly { log: string; id: bigint; traced: boolean }[], batch: boolean): string[] {
  const keys = items.map((i) => `o${i.id}`);
  if (!batch) return keys;
  const byLog = new Map<string, number[]>();
  items.forEach((item, i) => {
    if (item.traced) return;
    let list = byLog.get(item.log);
    if (list === undefined) byLog.set(item.log, (list = []));
    list.push(i);
  });
  for (const list of byLog.values()) {
    for (let from = 0; from < list.length; from += ENTRY_COMMANDS_MAX) {
      const chunk = list.slice(from, from + ENTRY_COMMANDS_MAX);
      if (chunk.length < 2) continue;
      const key = `b${(items[chunk[0] as number] as { id: bigint }).id}-${chunk.length}`;
      for (const i of chunk) keys[i] = key;
    }
  }
  return keys;
}

/** Whether an outbox key names an entry of several commands (`b<first>-<count>`). */
const isBatchKey = (key: string): boolean => key.startsWith('b');
/** The number of commands of an entry key `b<first>-<count>` (1 for any other key). */
const entrySize = (key: string): number => (isBatchKey(key) ? Number(key.slice(key.indexOf('-') + 1)) : 1);

/** The trace context a committed command carries (its `trace` field), if any. */
const traceOf = (payload: string): TraceContext | undefined => {
  try {
    const trace = (JSON.parse(payload) as { trace?: unknown }).trace;
    return typeof trace === 'string' ? contextFromCarrier({ traceparent: trace }) : undefined;
  } catch {
    return undefined;
  }
};

/** Checks `input` against its market's filters (Binance's PRICE_FILTER, LOT_SIZE, NOTIONAL). */
export function checkFilters(input: PlaceOrderInput, market: Market): PlaceRejection | null {
  const fail = (filter: string, message: string): PlaceRejection => ({ _tag: 'FilterFailure', filter, message });
  const hasPrice = input.type === 'limit' || input.type === 'stopLimit';
  if (hasPrice) {
    const p = input.priceTicks ?? 0n;
    if (p < 1n || p > market.maxPriceTicks) return fail('PRICE_FILTER', 'Filter failure: PRICE_FILTER');
  }
  if (input.type === 'stopLimit' || input.type === 'stopMarket') {
    const s = input.stopPriceTicks ?? 0n;
    if (s < 1n || s > market.maxPriceTicks) return fail('PRICE_FILTER', 'Filter failure: PRICE_FILTER');
  }
  if (input.qtyLots !== undefined) {
    if (input.qtyLots < market.minLots || input.qtyLots > market.maxLots) {
      return fail('LOT_SIZE', 'Filter failure: LOT_SIZE');
    }
  }
  if (hasPrice && (input.priceTicks ?? 0n) * (input.qtyLots ?? 0n) < market.minNotionalTickLots) {
    return fail('NOTIONAL', 'Filter failure: NOTIONAL');
  }
  if (input.quoteQtyMinor !== undefined) {
    if (input.quoteQtyMinor % market.quoteMinorPerTickLot !== 0n) {
      return fail('NOTIONAL', 'quoteOrderQty is finer than one tick times one step');
    }
    if (input.quoteQtyMinor < market.minNotionalTickLots * market.quoteMinorPerTickLot) {
      return fail('NOTIONAL', 'Filter failure: NOTIONAL');
    }
  }
  return null;
}

/** How often a batch is written with rows locked first before a race fails it. */
const LOCKED_WRITE_ATTEMPTS = 3;

/**
 * A PostgreSQL error that another writer caused, as a retryable `STATE_CONFLICT`: 40001 (a
 * serialization failure, or the one statement's guard), 40P01 (a deadlock, this transaction the
 * victim), 23505 on `orders_client_id` (another replica stored one of the batch's client order ids
 * since the read). Anything else, including any other unique violation (a bug), is returned as it is.
 */
const asEntryRace = (err: unknown): unknown => {
  const { code, constraint } = (err ?? {}) as { code?: unknown; constraint?: unknown };
  if (code === '40001' || code === '40P01' || (code === '23505' && constraint === 'orders_client_id')) {
    return new BallastError(ErrorCode.StateConflict, 'balance or order changed during order entry; retry', {
      cause: err,
      retryable: true,
    });
  }
  return err;
};

const logDown = (): BallastError =>
  new BallastError(ErrorCode.Unavailable, 'the command log is unreachable; retry later', { retryable: true });

/** Creates the oms. */
export function createOms(config: OmsConfig): Oms {
  const { db, log, markets } = config;
  const now = config.nowMs ?? Date.now;
  const maxBatch = config.maxBatch ?? 256;
  const batchEntries = (config.commandEntries ?? 'batch') === 'batch';
  // The batch's statements, compiled once per shape (batch size) rather than built every time.
  const queries = createQueryCache();
  // PostgreSQL: a batch's writes combined into data-modifying CTEs (SQLite has none).
  const combined = config.rowLocks === true;

  /** Reservation and engine quantities for one order, given what the account has available. */
  const plan = (
    input: PlaceOrderInput,
    m: Market,
    availableOf: (asset: string) => bigint,
  ): { asset: string; amount: bigint; qtyLots?: bigint; quoteLots?: bigint } | null => {
    const k = m.quoteMinorPerTickLot;
    if (input.side === 'sell') {
      if (input.qtyLots !== undefined) {
        return { asset: m.baseAsset, amount: input.qtyLots * m.baseMinorPerLot, qtyLots: input.qtyLots };
      }
      // Market sell by quote amount: reserve all whole lots available; the budget stops it.
      let lots = availableOf(m.baseAsset) / m.baseMinorPerLot;
      if (lots > m.maxLots) lots = m.maxLots;
      if (lots < 1n) return null;
      return {
        asset: m.baseAsset,
        amount: lots * m.baseMinorPerLot,
        qtyLots: lots,
        quoteLots: (input.quoteQtyMinor as bigint) / k,
      };
    }
    if (input.type === 'limit' || input.type === 'stopLimit') {
      const amount = (input.priceTicks as bigint) * (input.qtyLots as bigint) * k;
      return { asset: m.quoteAsset, amount, qtyLots: input.qtyLots as bigint };
    }
    if (input.qtyLots === undefined) {
      const quoteLots = (input.quoteQtyMinor as bigint) / k;
      if (quoteLots > MAX_SAFE) return null;
      return { asset: m.quoteAsset, amount: quoteLots * k, quoteLots };
    }
    // Market buy by quantity: the price is unknown, so reserve what is available and cap the
    // order's spending at it; whatever is not spent is released when the order ends.
    let quoteLots = availableOf(m.quoteAsset) / k;
    if (quoteLots > MAX_SAFE) quoteLots = MAX_SAFE;
    if (quoteLots < 1n) return null;
    return { asset: m.quoteAsset, amount: quoteLots * k, qtyLots: input.qtyLots, quoteLots };
  };

  const insufficient = (p: Pending): void =>
    p.resolve({
      ok: false,
      reason: { _tag: 'InsufficientFunds', message: 'Account has insufficient balance for requested action.' },
    });

  /**
   * Decides a batch's orders in arrival order against `avail` (available amounts by
   * `pairKey(account, asset)`, updated as reservations are taken) and `known` (orders already
   * stored, by `pairKey(account, clientOrderId)`): each is accepted (with its reservation), a
   * duplicate (of a stored order or of an earlier one in the batch), or refused. `delta`: the
   * reservations summed by balance.
   */
  const decide = (batch: readonly Pending[], avail: Map<string, bigint>, known: ReadonlyMap<string, OrderRow>) => {
    const delta = new Map<string, BalanceDelta>();
    const seenInBatch = new Map<string, Pending>();
    const accepted: Accepted[] = [];
    const duplicates: { p: Pending; of: Pending | undefined; row: OrderRow | undefined }[] = [];
    const refused: Pending[] = [];
    /** Whether an order's reservation was sized by its account's balance (see `plan`). */
    let sizedByBalance = false;
    for (const p of batch) {
      const { input, market } = p;
      const ck = pairKey(input.accountId, input.clientOrderId);
      const row = known.get(ck);
      if (row !== undefined || seenInBatch.has(ck)) {
        duplicates.push({ p, of: seenInBatch.get(ck), row });
        continue;
      }
      const r = plan(input, market, (asset) => {
        sizedByBalance = true;
        return avail.get(pairKey(input.accountId, asset)) ?? 0n;
      });
      const pk = r === null ? '' : pairKey(input.accountId, r.asset);
      if (r === null || r.amount <= 0n || (avail.get(pk) ?? 0n) < r.amount) {
        refused.push(p);
        continue;
      }
      seenInBatch.set(ck, p);
      avail.set(pk, (avail.get(pk) as bigint) - r.amount);
      const d = delta.get(pk);
      if (d === undefined) delta.set(pk, { account: input.accountId, asset: r.asset, amount: r.amount });
      else d.amount += r.amount;
      accepted.push({ p, ...r });
    }
    return { accepted, duplicates, refused, delta, sizedByBalance };
  };

  /** The order row of an accepted order. */
  const orderRowOf = ({ p, asset, amount }: Accepted, timeMs: number): Insertable<Database['orders']> => ({
    account_id: p.input.accountId,
    symbol: p.input.symbol,
    client_order_id: p.input.clientOrderId,
    side: p.input.side,
    type: p.input.apiType,
    tif: p.input.tif,
    price_ticks: p.input.priceTicks ?? 0n,
    qty_lots: p.input.qtyLots ?? 0n,
    quote_qty_minor: p.input.quoteQtyMinor ?? 0n,
    stop_price_ticks: p.input.stopPriceTicks ?? 0n,
    stp: p.input.stp,
    status: 'NEW',
    executed_lots: 0n,
    cum_quote_minor: 0n,
    reserve_asset: asset,
    reserved_minor: amount,
    created_ms: timeMs,
    updated_ms: timeMs,
  });

  /** Each reservation moves its amount from available to reserved: two postings. */
  const reservationPostings = (accepted: readonly Accepted[]) =>
    accepted.flatMap((a) => [
      { account_id: a.p.input.accountId, asset: a.asset, bucket: 'available' as const, amount: -a.amount },
      { account_id: a.p.input.accountId, asset: a.asset, bucket: 'reserved' as const, amount: a.amount },
    ]);

  /** The command placing order `id` (its payload). */
  const commandOf = (a: Accepted, id: bigint, timeMs: number): string => {
    const { input } = a.p;
    const command = {
      type: 'place',
      orderId: Number(id),
      account: Number(input.accountId),
      side: input.side,
      orderType: input.type,
      ...(input.priceTicks !== undefined ? { priceTicks: Number(input.priceTicks) } : {}),
      ...(a.qtyLots !== undefined ? { qtyLots: Number(a.qtyLots) } : {}),
      ...(a.quoteLots !== undefined ? { quoteLots: Number(a.quoteLots) } : {}),
      ...(input.stopPriceTicks !== undefined ? { triggerPriceTicks: Number(input.stopPriceTicks) } : {}),
      ...(input.type === 'limit' || input.type === 'stopLimit' ? { tif: input.tif } : {}),
      ...(input.postOnly ? { postOnly: true } : {}),
      stp: input.stp,
      timeMs,
      ...(a.p.ctx !== undefined ? { trace: traceCarrier(a.p.ctx)?.['traceparent'] } : {}),
    };
    return JSON.stringify(command);
  };

  /**
   * Writes a whole batch in a handful of statements: one query finds retries, one reads the
   * balances involved, reservations are decided in arrival order in memory, then one multi-row
   * insert each for orders, postings and (withOutbox) outbox, one journal entry for the batch's
   * reservations, and last one guarded update of the balances (never below zero). `cleanUp`: outbox
   * rows of earlier batches, already published, deleted in the same transaction.
   *
   * Balance rows are the hot rows every writer shares (other oms replicas, the ledger). With row
   * locks (PostgreSQL) they are locked as late as possible — just before the update, in
   * (account, asset) order, the order every writer follows — so they are held for one statement
   * and the commit, not the whole transaction. The read before is then unlocked; if a balance fell
   * since, the guard fails and the batch is written again with `lockFirst` (rows locked at the
   * read). Nothing is answered here: refusals, like retries, are answered after commit.
   *
   * With `rowLocks` (PostgreSQL) the same statements travel in four round trips instead of
   * nine, as data-modifying CTEs: the outbox clean-up with the retry lookup; the balance read; the
   * orders with their journal entry and postings; the outbox rows with the ordered lock
   * (`MATERIALIZED … ORDER BY … FOR UPDATE`, so the lock order holds) and the guarded update.
   */
  const writeAll = async (
    trx: Transaction<Database>,
    batch: Pending[],
    timeMs: number,
    withOutbox: boolean,
    lockFirst = false,
    cleanUp: readonly bigint[] = [],
  ): Promise<WrittenBatch> => {
    type Lookup = { account: bigint; client: string };
    const lookups: Lookup[] = batch.map((p) => ({ account: p.input.accountId, client: p.input.clientOrderId }));
    const retryOf = (eb: ExpressionBuilder<Database, 'orders'>, list: readonly Lookup[]) =>
      eb.or(list.map((x) => eb.and([eb('account_id', '=', x.account), eb('client_order_id', '=', x.client)])));
    if (cleanUp.length > 0 && !combined) {
      await queries.execute(trx, `oms.outbox-done:${cleanUp.length}`, cleanUp, (ids) =>
        trx.deleteFrom('outbox').where('order_id', 'in', ids),
      );
    }
    const { rows: existing } =
      cleanUp.length > 0 && combined
        ? await queries.execute(
            trx,
            `oms.outbox-done+retries:${cleanUp.length}:${lookups.length}`,
            { cleanUp, lookups },
            (d) =>
              trx
                .with('done', (db) => db.deleteFrom('outbox').where('order_id', 'in', d.cleanUp).returning('order_id'))
                .selectFrom('orders')
                .selectAll()
                .where((eb) => retryOf(eb as unknown as ExpressionBuilder<Database, 'orders'>, d.lookups)),
          )
        : await queries.execute(trx, `oms.retries:${lookups.length}`, lookups, (list) =>
            trx
              .selectFrom('orders')
              .selectAll()
              .where((eb) => retryOf(eb, list)),
          );
    const known = new Map(existing.map((r) => [pairKey(r.account_id, r.client_order_id), r]));
    const pairList = balancePairs(batch);
    const lockRead = config.rowLocks === true && lockFirst;
    const { rows: balances } = await queries.execute(
      trx,
      `oms.balances:${pairList.length}:${lockRead}`,
      pairList,
      (list) => {
        const read = trx
          .selectFrom('balances')
          .select(['account_id', 'asset', 'available'])
          .where((eb) => eb.or(list.map((x) => eb.and([eb('account_id', '=', x.account), eb('asset', '=', x.asset)]))))
          .orderBy('account_id')
          .orderBy('asset');
        return lockRead ? read.forUpdate() : read;
      },
    );
    const avail = new Map(balances.map((b) => [pairKey(b.account_id, b.asset), b.available]));
    const { accepted, duplicates, refused, delta } = decide(batch, avail, known);
    const written: Written[] = [];
    const outbox: Insertable<Database['outbox']>[] = [];
    if (accepted.length > 0) {
      const orderRows = accepted.map((a) => orderRowOf(a, timeMs));
      const postings = reservationPostings(accepted);
      let rows: Selectable<Database['orders']>[];
      if (combined) {
        // Orders, their journal entry (keyed by the first id and the count, as below) and its
        // postings, in one statement.
        ({ rows } = await queries.execute(
          trx,
          `oms.orders+journal+postings:${orderRows.length}`,
          { orderRows, postings, timeMs },
          (d) =>
            trx
              .with('o', (db) => db.insertInto('orders').values(d.orderRows).returningAll())
              .with('j', (db) =>
                db
                  .insertInto('journal')
                  .columns(['event_key', 'kind', 'time_ms'])
                  .expression((eb) =>
                    eb
                      .selectFrom('o')
                      .select([
                        sql<string>`'rsv:' || min(o.id) || '+' || count(*)`.as('event_key'),
                        sql<string>`'reserve'`.as('kind'),
                        sql<bigint>`cast(${d.timeMs} as bigint)`.as('time_ms'),
                      ]),
                  )
                  .returning('id'),
              )
              .with('p', (db) =>
                db
                  .insertInto('postings')
                  .values(d.postings.map((x) => ({ ...x, journal_id: sql<bigint>`(select id from j)` })))
                  .returning('journal_id'),
              )
              .selectFrom('o')
              .selectAll(),
        ));
      } else {
        ({ rows } = await queries.execute(trx, `oms.orders:${orderRows.length}`, orderRows, (list) =>
          trx.insertInto('orders').values(list).returningAll(),
        ));
        const firstId = rows.reduce((m, r) => (r.id < m ? r.id : m), rows[0]!.id);
        const journalRow = { event_key: `rsv:${firstId}+${rows.length}`, kind: 'reserve', time_ms: timeMs };
        const journal = (
          await queries.execute(trx, 'oms.journal', journalRow, (row) =>
            trx.insertInto('journal').values(row).returning('id'),
          )
        ).rows[0]!;
        const withJournal = postings.map((x) => ({ ...x, journal_id: journal.id }));
        for (let i = 0; i < withJournal.length; i += 1000) {
          const part = withJournal.slice(i, i + 1000);
          await queries.execute(trx, `oms.postings:${part.length}`, part, (list) =>
            trx.insertInto('postings').values(list),
          );
        }
      }
      const byClient = new Map(rows.map((r) => [pairKey(r.account_id, r.client_order_id), r]));
      const placed = accepted.map((a) => ({
        a,
        row: byClient.get(pairKey(a.p.input.accountId, a.p.input.clientOrderId))!,
      }));
      const keys = entryKeys(
        placed.map(({ a, row }) => ({ log: commandLog(a.p.input.symbol), id: row.id, traced: a.p.ctx !== undefined })),
        batchEntries,
      );
      placed.forEach(({ a, row }, i) => {
        const payload = commandOf(a, row.id, timeMs);
        const key = keys[i] as string;
        if (withOutbox)
          outbox.push({ order_id: row.id, log: commandLog(a.p.input.symbol), key, payload, created_ms: timeMs });
        written.push({ pending: a.p, order: toOrderRecord(row), key, payload });
      });
      if (!combined) {
        for (let i = 0; i < outbox.length; i += 1000) {
          const part = outbox.slice(i, i + 1000);
          await queries.execute(trx, `oms.outbox:${part.length}`, part, (list) =>
            trx.insertInto('outbox').values(list),
          );
        }
      }
    }
    // Every reservation of the batch in one statement (one round trip, however many accounts):
    // amounts by CASE on (account, asset), each guarded so available never goes negative.
    const updates = [...delta.values()];
    if (updates.length > 0) {
      let updated;
      if (combined) {
        // The outbox rows, the ordered lock and the guarded update, in one statement. The locking
        // CTE is MATERIALIZED: its rows are locked in its ORDER BY, whatever plan the update gets.
        updated = await queries.execute(
          trx,
          `oms.outbox+lock+reserve:${outbox.length}:${updates.length}`,
          { outbox, updates },
          (d) => {
            const amount = reservedAmount(d.updates);
            return trx
              .with('ob', (db) => db.insertInto('outbox').values(d.outbox).returning('order_id'))
              .with(
                (wb) => wb('l').materialized(),
                (db) =>
                  db
                    .selectFrom('balances')
                    .select(['account_id', 'asset'])
                    .where((eb) => touchedBalances(eb, d.updates))
                    .orderBy('account_id')
                    .orderBy('asset')
                    .forUpdate(),
              )
              .updateTable('balances')
              .set({ available: sql`balances.available - ${amount}`, reserved: sql`balances.reserved + ${amount}` })
              .from('l')
              .whereRef('balances.account_id', '=', 'l.account_id')
              .whereRef('balances.asset', '=', 'l.asset')
              .where(sql<boolean>`balances.available >= ${amount}`);
          },
        );
      } else {
        updated = await queries.execute(trx, `oms.reserve:${updates.length}`, updates, (list) => {
          const amount = reservedAmount(list);
          return trx
            .updateTable('balances')
            .set({ available: sql`balances.available - ${amount}`, reserved: sql`balances.reserved + ${amount}` })
            .where((eb) => touchedBalances(eb, list))
            .where(sql<boolean>`balances.available >= ${amount}`);
        });
      }
      if (updated.numAffectedRows !== BigInt(updates.length)) {
        // A balance fell since it was read (another writer reserved from it): fail the batch;
        // it is written again with its rows locked first (or, SQLite, the clients retry).
        throw new BallastError(ErrorCode.StateConflict, 'balance changed during order entry; retry', {
          retryable: true,
        });
      }
    }
    // Retries: the original order, from the database or from this very batch. Answered by the
    // caller after commit, like new orders: the row read may itself be uncommitted (an earlier
    // batch in the same log transaction).
    const retries: Retry[] = [];
    for (const d of duplicates) {
      if (d.row !== undefined) {
        retries.push({ pending: d.p, order: toOrderRecord(d.row) });
        continue;
      }
      const original = written.find((w) => w.pending === d.of);
      if (original === undefined)
        refused.push(d.p); // its original was refused in this batch
      else retries.push({ pending: d.p, order: original.order });
    }
    return { written, retries, refused };
  };

  /**
   * PostgreSQL's usual path: a batch in one or two round trips and no explicit transaction, where
   * `writeAll` takes six (begin, four statements, commit). Under load each round trip waits for
   * two processes to be scheduled on crowded cores, so they, not the statements, set the batch's
   * time.
   *
   * 1. One read: the balances involved, whether any order of the batch is already stored (a
   *    retry), and order ids from the orders' sequence (`ORDER_IDS_AHEAD` more than the batch
   *    needs, kept for the next batches). Skipped when this replica remembers every balance
   *    involved, holds enough ids, and the remembered balances accept every order of the batch
   *    (see below).
   * 2. Decided in memory as `writeAll` decides. Then one statement, committed on its own: the
   *    outbox clean-up, the orders (with the allocated ids, so their commands are built before),
   *    the journal entry, its postings, the outbox rows, the ordered lock and the reservation.
   *
   * Remembered balances: what the last read found, less what this replica reserved since. Only
   * the oms lowers an available balance (apart from withdrawals), so a remembered balance is
   * usually below the real one (the ledger has released or credited since). It only ever lets
   * the read be skipped: an order it would refuse, or whose reservation `plan` sizes by the
   * balance (a market order taking what is there), is decided on a fresh read. A remembered balance that is too high
   * (another replica reserved, a withdrawal) fails the statement's guard like any race, and the
   * batch is written again with rows locked; its balances are forgotten. A retry (a client order
   * id already stored) that skipped the read fails the statement's unique index and takes the
   * same locked path, which answers it with the stored order.
   *
   * The reservation is guarded (`available >= amount`); when a balance fell below what it
   * reserves since it was read, a row is not updated and the statement aborts itself, and all it
   * wrote, through `ballast_conflict` (SQLSTATE 40001; a unique violation aborts it too, when
   * another replica stored the same client order id meanwhile). That surfaces as
   * `STATE_CONFLICT`, and the caller writes the batch again through `writeAll` with rows locked
   * first. Returns `undefined`, having written nothing, when the batch holds a retry:
   * those take `writeAll`'s path (unused ids are a gap in the sequence, nothing more).
   */
  const writeInOneStatement = async (
    batch: Pending[],
    timeMs: number,
    cleanUp: readonly bigint[],
  ): Promise<(WrittenBatch & { readonly remembered: boolean }) | undefined> => {
    const lookups = batch.map((p) => ({ account: p.input.accountId, client: p.input.clientOrderId }));
    if (new Set(lookups.map((l) => pairKey(l.account, l.client))).size !== lookups.length) return undefined;
    const pairs = balancePairs(batch);
    const keys = pairs.map((b) => pairKey(b.account, b.asset));
    if (spareIds.length > 0 && now() - spareIdsTakenMs > SPARE_IDS_MAX_AGE_MS) spareIds.length = 0;
    let avail: Map<string, bigint> | undefined;
    let decision: ReturnType<typeof decide> | undefined;
    let read = false;
    if (spareIds.length >= batch.length && keys.every((k) => rememberedAvailable.has(k))) {
      avail = new Map(keys.map((k) => [k, rememberedAvailable.get(k) as bigint]));
      decision = decide(batch, avail, new Map());
      // Never refused, nor a reservation sized (a market order taking what is there), on a
      // remembered balance: those batches read.
      if (decision.refused.length > 0 || decision.sizedByBalance) decision = undefined;
    }
    if (decision === undefined) {
      // Enough for this batch even if another lane takes the spare ones meanwhile.
      const idsWanted = spareIds.length >= batch.length ? 0 : batch.length + ORDER_IDS_AHEAD;
      read = true;
      const { rows } = await db.executeQuery<BatchReadRow>(
        CompiledQuery.raw(BATCH_READ, batchReadParameters(pairs, lookups, idsWanted)),
      );
      const ids: bigint[] = [];
      avail = new Map<string, bigint>();
      for (const r of rows) {
        if (r.k === 'i') ids.push(r.n as bigint);
        else if (r.k === 'b') {
          const k = pairKey(r.account_id as bigint, r.asset as string);
          if (r.n !== null) avail.set(k, r.n);
          remember(k, r.n ?? 0n); // no balance row: nothing available
        }
      }
      ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)); // in arrival order, as the sequence gave them
      if (ids.length > 0) {
        spareIds.push(...ids);
        spareIdsTakenMs = now();
      }
      if (rows.some((r) => r.k === 'r')) return undefined;
      decision = decide(batch, avail, new Map());
    }
    const remembered = !read;
    const { accepted, refused, delta } = decision;
    if (accepted.length === 0) {
      published.push(...cleanUp); // the next batch deletes them
      return { written: [], retries: [], refused, remembered };
    }
    // Another lane took the spare ids during the read (lanes > 1): the transaction allocates its own.
    if (spareIds.length < accepted.length) return undefined;
    const ids = spareIds.splice(0, accepted.length);
    const idOf = (i: number): bigint => ids[i] as bigint;
    const entryKeyOf = entryKeys(
      accepted.map((a, i) => ({ log: commandLog(a.p.input.symbol), id: idOf(i), traced: a.p.ctx !== undefined })),
      batchEntries,
    );
    const commands = accepted.map((a, i) => ({
      key: entryKeyOf[i] as string,
      payload: commandOf(a, idOf(i), timeMs),
    }));
    let rows: OrderRow[];
    try {
      ({ rows } = await db.executeQuery<OrderRow>(
        CompiledQuery.raw(
          BATCH_WRITE,
          batchWriteParameters({
            cleanUp,
            orders: accepted.map((a, i) => ({ ...orderRowOf(a, timeMs), id: idOf(i) })),
            timeMs,
            journalKey: `rsv:${idOf(0)}+${accepted.length}`,
            postings: reservationPostings(accepted),
            outbox: accepted.map((a, i) => ({
              order_id: idOf(i),
              log: commandLog(a.p.input.symbol),
              ...(commands[i] as { key: string; payload: string }),
            })),
            reservations: [...delta.values()],
          }),
        ),
      ));
    } catch (err) {
      // 40001 here is the guard above. Its balances are read again next time.
      forget(keys);
      throw asEntryRace(err);
    }
    // What the statement left available: the balances decided on, less this batch's reservations.
    for (const k of keys) remember(k, (avail as Map<string, bigint>).get(k) ?? 0n);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const written = accepted.map((a, i) => {
      const { key, payload } = commands[i] as { key: string; payload: string };
      return { pending: a.p, order: toOrderRecord(byId.get(idOf(i)) as OrderRow), key, payload };
    });
    return { written, retries: [], refused, remembered };
  };

  /** Outbox rows whose commands are in the log; deleted by the next transaction (or the sweeper). */
  let published: bigint[] = [];
  /**
   * Order ids taken from the sequence and not used yet, in the order taken (see
   * `writeInOneStatement`), and when the last of them were taken (they go after
   * `SPARE_IDS_MAX_AGE_MS`).
   */
  const spareIds: bigint[] = [];
  let spareIdsTakenMs = 0;
  /** Available balances as last read less what this replica reserved since, by `pairKey`. */
  const rememberedAvailable = new Map<string, bigint>();
  /** Forgets balances (read again next time): a write not through `writeInOneStatement` changes them. */
  const forget = (keys: readonly string[]): void => {
    for (const k of keys) rememberedAvailable.delete(k);
  };
  /** Remembers a balance as the most recently used. */
  const remember = (k: string, available: bigint): void => {
    rememberedAvailable.delete(k);
    rememberedAvailable.set(k, available);
    if (rememberedAvailable.size > REMEMBERED_BALANCES) {
      rememberedAvailable.delete(rememberedAvailable.keys().next().value as string);
    }
  };
  /** Whether rows were deleted from the outbox since the last vacuum (see `outboxVacuumEveryMs`). */
  let outboxDeleted = false;
  /** Orders this replica placed (see `analyzeAfterOrders`). */
  let placedOrders = 0;

  /**
   * The log entries of commands for `name`: one per command, except that the commands of a group
   * share one (placed where the group's first command is). Traced ones get a producer span, whose
   * context rides in the entry's headers, to be ended by {@link endPublish} once the append is
   * known. `at`: each command's entry and, in a group's entry, its part.
   */
  const toEntries = (
    name: string,
    commands: readonly OutCommand[],
  ): { entries: AppendInput[]; spans: (Span | undefined)[]; at: { entry: number; part?: number }[] } => {
    const entries: AppendInput[] = [];
    const spans: (Span | undefined)[] = [];
    const at: { entry: number; part?: number }[] = [];
    const groups = new Map<string, { entry: number; payloads: string[]; members: number[] }>();
    const strip = (c: OutCommand): AppendInput =>
      c.key !== undefined ? { key: c.key, payload: c.payload } : { payload: c.payload };
    for (const c of commands) {
      if (c.group !== undefined) {
        let g = groups.get(c.group);
        if (g === undefined) {
          g = { entry: entries.length, payloads: [], members: [] };
          groups.set(c.group, g);
          entries.push(strip(c)); // its payload is set below
          spans.push(undefined);
        }
        g.members.push(at.length);
        at.push({ entry: g.entry, part: g.payloads.length });
        g.payloads.push(c.payload);
        continue;
      }
      at.push({ entry: entries.length });
      if (c.ctx === undefined || !tracingEnabled()) {
        entries.push(strip(c));
        spans.push(undefined);
        continue;
      }
      const span = startSpan(`publish ${name}`, {
        parent: c.ctx,
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.operation.type': 'send',
          'messaging.destination.name': name,
          ...(c.key !== undefined ? { 'messaging.message.id': c.key } : {}),
        },
      });
      spans.push(span);
      const headers = traceCarrier(span);
      entries.push(headers !== undefined ? { ...strip(c), headers } : strip(c));
    }
    for (const g of groups.values()) {
      const e = entries[g.entry] as AppendInput;
      if (g.payloads.length === 1) {
        // A group of one is a plain entry of one command.
        entries[g.entry] = { ...e, payload: g.payloads[0] as string };
        at[g.members[0] as number] = { entry: g.entry };
      } else entries[g.entry] = { ...e, payload: `[${g.payloads.join(',')}]` };
    }
    return { entries, spans, at };
  };
  /**
   * Where each command landed, from the entries' append results; `undefined` for a part of an
   * entry the log already held (a duplicate: the sweeper's copy may order its parts by order id,
   * not as this append did, so the part is not known).
   */
  const positionsOf = (
    at: readonly { entry: number; part?: number }[],
    results: readonly AppendResult[],
  ): (CommandPosition | undefined)[] =>
    at.map((a) => {
      const r = results[a.entry] as AppendResult;
      if (a.part === undefined) return { seq: r.seq };
      return r.duplicate ? undefined : { seq: r.seq, part: a.part };
    });
  const endPublish = (
    spans: readonly (Span | undefined)[],
    results: readonly AppendResult[] | undefined,
    err?: unknown,
  ): void => {
    spans.forEach((span, i) => {
      if (span === undefined) return;
      const seq = results?.[i]?.seq;
      if (seq !== undefined) span.setAttribute('ballast.log.seq', seq).end();
      else endSpan(span, err);
    });
  };

  /**
   * Appends commands to `name` (a group's in one entry); traced ones get a producer span whose
   * context rides in headers. Resolves with where each command landed.
   */
  const appendCommands = async (
    name: string,
    commands: readonly OutCommand[],
  ): Promise<(CommandPosition | undefined)[]> => {
    const { entries, spans, at } = toEntries(name, commands);
    try {
      const results = await log.append(name, entries);
      endPublish(spans, results);
      return positionsOf(at, results);
    } catch (err) {
      endPublish(spans, undefined, err);
      throw err;
    }
  };

  /**
   * Appends each log's commands; returns the sequence given to each order id. Their outbox rows
   * are deleted now, or (`deleteNow` false) by the next place transaction.
   */
  const publish = async (
    byLog: Map<string, (OutCommand & { orderId: bigint })[]>,
    deleteNow: boolean,
  ): Promise<Map<bigint, CommandPosition>> => {
    const seqs = new Map<bigint, CommandPosition>();
    // Every log at once (pipelined on JetStream; on SQLite they can share a group commit), each
    // log still in order.
    await Promise.all(
      [...byLog].map(async ([name, entries]) => {
        const positions = await appendCommands(name, entries);
        entries.forEach((e, i) => {
          const at = positions[i];
          if (at !== undefined) seqs.set(e.orderId, at);
        });
        const ids = entries.map((e) => e.orderId);
        if (deleteNow) await db.deleteFrom('outbox').where('order_id', 'in', ids).execute();
        else published.push(...ids);
      }),
    );
    return seqs;
  };

  /** One span per traced order for the batch transaction it was part of, recorded afterwards. */
  const traceWrite = (live: Pending[], startTime: number, written: Written[] | undefined, err?: unknown): void => {
    const ids = written === undefined ? undefined : new Map(written.map((w) => [w.pending, w.order.id]));
    for (const p of live) {
      if (p.ctx === undefined) continue;
      const id = ids?.get(p);
      const span = startSpan('oms write order', {
        parent: p.ctx,
        kind: SpanKind.CLIENT,
        startTime,
        attributes: {
          'db.operation.name': 'place order transaction',
          'ballast.symbol': p.input.symbol,
          'ballast.batch.size': live.length,
          ...(id !== undefined ? { 'ballast.order_id': Number(id) } : {}),
        },
      });
      endSpan(span, err);
    }
  };

  /** Each log's commands of a written batch. */
  const commandsByLog = (written: readonly Written[]): Map<string, (OutCommand & { orderId: bigint })[]> => {
    const byLog = new Map<string, (OutCommand & { orderId: bigint })[]>();
    for (const w of written) {
      const name = commandLog(w.order.symbol);
      let list = byLog.get(name);
      if (list === undefined) byLog.set(name, (list = []));
      list.push({
        key: w.key,
        payload: w.payload,
        orderId: w.order.id,
        ctx: w.pending.ctx,
        ...(isBatchKey(w.key) ? { group: w.key } : {}),
      });
    }
    return byLog;
  };

  /**
   * Answers a committed batch: each new order (with its command's sequence when known), then
   * retries and refusals.
   */
  const acknowledge = ({ written, retries, refused }: WrittenBatch, seqs: Map<bigint, CommandPosition>): void => {
    placedOrders += written.length;
    for (const w of written) {
      config.onAccepted?.(w.order.symbol);
      const at = seqs.get(w.order.id);
      w.pending.resolve({
        ok: true,
        order: w.order,
        duplicate: false,
        ...(at !== undefined ? { cmdSeq: at.seq } : {}),
        ...(at?.part !== undefined ? { cmdPart: at.part } : {}),
      });
    }
    for (const r of retries) r.pending.resolve({ ok: true, order: r.order, duplicate: true });
    for (const p of refused) insufficient(p);
  };

  /** A batch through the outbox: commit, then append (the sweeper publishes what an append missed). */
  const writeBatchViaOutbox = async (live: Pending[]): Promise<void> => {
    let batch: WrittenBatch;
    const done = published;
    published = [];
    if (done.length > 0) outboxDeleted = true;
    const traced = tracingEnabled() && live.some((p) => p.ctx !== undefined);
    const startedAt = traced ? performance.now() : 0;
    const timeMs = now();
    const write = (lockFirst: boolean): Promise<WrittenBatch> =>
      db.transaction().execute(async (trx) => {
        return writeAll(trx, live, timeMs, true, lockFirst, done);
      });
    try {
      try {
        // PostgreSQL: one or two round trips, no transaction; a batch holding a retry it read
        // goes through writeAll.
        const fast = combined ? await writeInOneStatement(live, timeMs, done) : undefined;
        // A batch written in a transaction reserves from balances this replica may remember.
        if (fast === undefined) forget(balancePairs(live).map((b) => pairKey(b.account, b.asset)));
        batch = fast ?? (await write(false).catch((e: unknown) => Promise.reject(asEntryRace(e))));
        config.onBatchWritten?.(fast === undefined ? 'transaction' : fast.remembered ? 'remembered' : 'statement');
      } catch (err) {
        // A balance fell between the unlocked read and the update, or another replica stored one
        // of the batch's client order ids meanwhile: again, rows locked first (the read then finds
        // that order, and answers with it). Locked, only the database can refuse it again: another
        // replica storing one of its client order ids meanwhile, or a deadlock with a replica's
        // one statement, which stores its orders before locking balances while this locks them
        // first (PostgreSQL breaks it after `deadlock_timeout`). So a few attempts, each logged.
        // The guard failing with rows locked would be a bug: that is not retried.
        if (config.rowLocks !== true || (err as { code?: unknown }).code !== ErrorCode.StateConflict) throw err;
        // A unique violation is a stored client order id (a retry, or another replica's order),
        // not a balance that fell.
        const cause = (err as { cause?: { code?: unknown } }).cause;
        if (cause?.code !== '23505') config.onBalanceConflict?.();
        for (let attempt = 1; ; attempt++) {
          try {
            batch = await write(true);
            break;
          } catch (again) {
            const race = asEntryRace(again);
            const byDatabase = race !== again && (race as { code?: unknown }).code === ErrorCode.StateConflict;
            if (!byDatabase || attempt >= LOCKED_WRITE_ATTEMPTS) throw race;
            config.onWarning?.(
              `order batch raced another writer with rows locked; writing it again (attempt ${attempt + 1})`,
              again,
            );
          }
        }
        config.onBatchWritten?.('transaction');
      }
    } catch (err) {
      if (traced) traceWrite(live, startedAt, undefined, err);
      published.push(...done);
      for (const p of live) p.reject(err);
      return;
    }
    if (traced) traceWrite(live, startedAt, batch.written);
    let seqs = new Map<bigint, CommandPosition>();
    try {
      seqs = await publish(commandsByLog(batch.written), false);
    } catch (err) {
      config.onWarning?.('command append failed; the outbox sweeper will publish it', err);
    }
    acknowledge(batch, seqs);
  };

  /** A batch with its commands appended in its own transaction (the log shares the database). */
  const writeBatchInLog = async (
    live: Pending[],
    txLog: AppendsInTransaction<Transaction<Database>>,
  ): Promise<void> => {
    const traced = tracingEnabled() && live.some((p) => p.ctx !== undefined);
    const startedAt = traced ? performance.now() : 0;
    const timeMs = now();
    const logs = [...new Set(live.map((p) => commandLog(p.input.symbol)))];
    let spans: (Span | undefined)[][] = [];
    let ats: { entry: number; part?: number }[][] = [];
    let out;
    try {
      out = await txLog.appendInTransaction(logs, async (trx) => {
        const batch = await writeAll(trx, live, timeMs, false);
        const byLog = commandsByLog(batch.written);
        spans = [];
        ats = [];
        const appends = [...byLog].map(([name, commands]) => {
          const { entries, spans: s, at } = toEntries(name, commands);
          spans.push(s);
          ats.push(at);
          return { log: name, entries };
        });
        return { result: { ...batch, byLog }, appends };
      });
    } catch (err) {
      for (const s of spans) endPublish(s, undefined, err);
      if (traced) traceWrite(live, startedAt, undefined, err);
      for (const p of live) p.reject(err);
      return;
    }
    const { written, byLog } = out.result;
    if (traced) traceWrite(live, startedAt, written);
    const seqs = new Map<bigint, CommandPosition>();
    [...byLog.values()].forEach((commands, j) => {
      const results = out.appended[j] as AppendResult[];
      endPublish(spans[j] ?? [], results);
      const positions = positionsOf(ats[j] ?? [], results);
      commands.forEach((c, i) => {
        const at = positions[i];
        if (at !== undefined) seqs.set(c.orderId, at);
      });
    });
    acknowledge(out.result, seqs);
  };

  const writeBatch = (batch: Pending[]): Promise<void> => {
    // Orders whose callers gave up while they waited for their lane (a gateway that timed out, a
    // client that hung up) are answered with the abort's reason and not written.
    const live = batch.some((p) => p.signal?.aborted === true)
      ? batch.filter((p) => {
          if (p.signal?.aborted !== true) return true;
          p.reject(p.signal.reason);
          return false;
        })
      : batch;
    if (live.length === 0) return Promise.resolve();
    for (const p of live) p.onDispatched?.();
    return config.logInTransaction !== undefined
      ? writeBatchInLog(live, config.logInTransaction)
      : writeBatchViaOutbox(live);
  };
  const lanes = Array.from({ length: Math.max(1, config.lanes ?? 1) }, () => createGroupCommit(writeBatch, maxBatch));

  // Cancels arriving together are appended together: per log, the untraced ones as one entry.
  type PendingCancel = {
    log: string;
    payload: string;
    ctx: TraceContext | undefined;
    resolve: (at: CommandPosition) => void;
    reject: (e: unknown) => void;
  };
  /** A cancel's order lookup by id, batched per turn on PostgreSQL (one query per cancel on SQLite). */
  const lookupById = config.rowLocks === true ? createBatchedOrderLookup(db) : undefined;

  const cancels = createGroupCommit<PendingCancel>(async (batch) => {
    const byLog = new Map<string, PendingCancel[]>();
    for (const c of batch) {
      let list = byLog.get(c.log);
      if (list === undefined) byLog.set(c.log, (list = []));
      list.push(c);
    }
    await Promise.all(
      [...byLog].map(async ([name, list]) => {
        try {
          const positions = await appendCommands(
            name,
            list.map((c) =>
              c.ctx !== undefined && tracingEnabled()
                ? { payload: c.payload, ctx: c.ctx }
                : batchEntries
                  ? { payload: c.payload, ctx: undefined, group: 'cancels' }
                  : { payload: c.payload, ctx: undefined },
            ),
          );
          // Cancels have no key, so the log never answers them as duplicates: every position is known.
          list.forEach((c, i) => c.resolve(positions[i] as CommandPosition));
        } catch (err) {
          for (const c of list) c.reject(err);
        }
      }),
    );
  }, maxBatch);

  const sweepOutbox = async (minAgeMs = 1000): Promise<number> => {
    /**
     * The rows to publish, by log: an entry's rows (key `b<first>-<count>`) only when all of them
     * are here (rows past the read's limit, or locked by another sweeper or by the batch deleting
     * them, are left to a later sweep), and then as one entry again, under the same key.
     */
    const group = (rows: { log: string; key: string; payload: string; order_id: bigint }[]) => {
      const seen = new Map<string, number>();
      for (const r of rows)
        if (isBatchKey(r.key)) seen.set(`${r.log} ${r.key}`, (seen.get(`${r.log} ${r.key}`) ?? 0) + 1);
      const byLog = new Map<string, (OutCommand & { orderId: bigint })[]>();
      const taken: bigint[] = [];
      for (const r of rows) {
        const batch = isBatchKey(r.key);
        if (batch && seen.get(`${r.log} ${r.key}`) !== entrySize(r.key)) continue;
        let list = byLog.get(r.log);
        if (list === undefined) byLog.set(r.log, (list = []));
        list.push({
          key: r.key,
          payload: r.payload,
          orderId: r.order_id,
          ctx: tracingEnabled() && !batch ? traceOf(r.payload) : undefined,
          ...(batch ? { group: r.key } : {}),
        });
        taken.push(r.order_id);
      }
      return { byLog, taken };
    };
    const old = (q: Kysely<Database> | Transaction<Database>) =>
      q
        .selectFrom('outbox')
        .selectAll()
        .where('created_ms', '<=', BigInt(now() - minAgeMs))
        // An entry's rows together (a batch's rows share created_ms; concurrent batches' ids
        // interleave): any 500 rows hold whole entries but perhaps the last, so sweeps progress.
        .orderBy('created_ms')
        .orderBy('key')
        .orderBy('order_id')
        .limit(500);
    if (config.rowLocks !== true) {
      const { byLog, taken } = group(await old(db).execute());
      await publish(byLog, true);
      return taken.length;
    }
    // Many replicas sweep at once: each takes rows no other sweeper holds (SKIP LOCKED), publishes
    // them and deletes them in the same transaction.
    return db.transaction().execute(async (trx) => {
      const { byLog, taken } = group(await old(trx).forUpdate().skipLocked().execute());
      for (const [name, entries] of byLog) await appendCommands(name, entries);
      if (taken.length > 0) {
        outboxDeleted = true;
        await trx.deleteFrom('outbox').where('order_id', 'in', taken).execute();
      }
      return taken.length;
    });
  };

  return {
    place(input, options = {}) {
      options.signal?.throwIfAborted();
      if (config.isLogAvailable?.() === false) return Promise.reject(logDown());
      const market = markets.bySymbol.get(input.symbol);
      if (market === undefined) {
        return Promise.resolve({ ok: false, reason: { _tag: 'UnknownSymbol', message: 'Invalid symbol.' } });
      }
      const rejection = checkFilters(input, market);
      if (rejection !== null) return Promise.resolve({ ok: false, reason: rejection });
      const ctx = tracingEnabled() ? sampledContext() : undefined;
      const lane = lanes[Number(input.accountId % BigInt(lanes.length))] as (typeof lanes)[number];
      const { signal, onDispatched } = options;
      return new Promise<PlaceResult>((resolve, reject) =>
        lane.push({ input, market, ctx, signal, onDispatched, resolve, reject }),
      );
    },

    async cancel(req, options = {}) {
      options.signal?.throwIfAborted();
      if (config.isLogAvailable?.() === false) throw logDown();
      options.onDispatched?.();
      let order: OrderRecord | undefined;
      if (lookupById !== undefined && req.orderId !== undefined && req.clientOrderId === undefined) {
        order = await lookupById(req.accountId, req.orderId);
        if (order !== undefined && order.symbol !== req.symbol) order = undefined;
      } else {
        order = await findOrder(
          db,
          req.accountId,
          {
            ...(req.orderId !== undefined ? { orderId: req.orderId } : {}),
            ...(req.clientOrderId !== undefined ? { clientOrderId: req.clientOrderId } : {}),
            symbol: req.symbol,
          },
          queries,
        );
      }
      if (order === undefined) return { ok: false, reason: { _tag: 'NoSuchOrder', message: 'Order does not exist.' } };
      if (TERMINAL.has(order.status)) {
        return { ok: false, reason: { _tag: 'AlreadyDone', message: 'Unknown order sent.' } };
      }
      const payload = JSON.stringify({
        type: 'cancel',
        orderId: Number(order.id),
        account: Number(order.accountId),
        timeMs: now(),
      });
      const at = await new Promise<CommandPosition>((resolve, reject) =>
        cancels.push({
          log: commandLog(order.symbol),
          payload,
          ctx: tracingEnabled() ? sampledContext() : undefined,
          resolve,
          reject,
        }),
      );
      return { ok: true, order, cmdSeq: at.seq, ...(at.part !== undefined ? { cmdPart: at.part } : {}) };
    },

    sweepOutbox,

    async runSweeper(signal, intervalMs = 1000) {
      // Only rows a few seconds old: younger ones are normally deleted by the next batch (deferred
      // delete), and sweeping them would lock the rows that batch is deleting — stalling order
      // entry behind a sweep that republishes what was already published.
      const minAgeMs = Math.max(5000, 5 * intervalMs);
      const vacuumEveryMs = config.rowLocks === true ? (config.outboxVacuumEveryMs ?? 2000) : 0;
      let vacuumedMs = now();
      const analyzeAfter = config.rowLocks === true ? (config.analyzeAfterOrders ?? 1000) : 0;
      let analyzeAt = analyzeAfter;
      while (!signal.aborted) {
        try {
          await sweepOutbox(minAgeMs);
        } catch (err) {
          config.onWarning?.('outbox sweep failed; will retry', err);
        }
        if (!signal.aborted && vacuumEveryMs > 0 && outboxDeleted && now() - vacuumedMs >= vacuumEveryMs) {
          outboxDeleted = false;
          vacuumedMs = now();
          const startedAt = performance.now();
          try {
            // No truncation: giving empty pages back takes an exclusive lock on the queue table
            // (order batches would wait for it) and cancels queries on hot standbys.
            await sql`VACUUM (SKIP_LOCKED, TRUNCATE false) outbox`.execute(db);
            config.onOutboxVacuum?.(performance.now() - startedAt);
          } catch (err) {
            outboxDeleted = true; // tried again after the next interval
            config.onWarning?.('outbox vacuum failed; will retry', err);
          }
        }
        if (!signal.aborted && analyzeAfter > 0 && placedOrders >= analyzeAt) {
          const placed = placedOrders;
          try {
            await sql`ANALYZE (SKIP_LOCKED) orders, balances, outbox`.execute(db);
            analyzeAt = 2 * placed;
          } catch (err) {
            analyzeAt = placed + analyzeAfter; // tried again after as many orders as the first time
            config.onWarning?.('analyze of the oms tables failed; will retry', err);
          }
        }
        await new Promise<void>((r) => {
          const t = setTimeout(r, intervalMs);
          signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
        });
      }
    },
  };
}
