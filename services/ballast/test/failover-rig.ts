/**
 * A failover rig on the real PostgreSQL + NATS (private database and stream prefix): one
 * gateway+oms+ledger process, several `--role matching` processes (leader + hot standbys), a
 * steady order flow that records every acknowledged order, and the checks run afterwards
 * (I1 acknowledged orders seen by matching and in history, I2 trades settled once, I5 event logs
 * gap-free and identical to a clean replay). Used by the failover e2e test and `bench/failover`.
 */
import { BallastError } from '@ballast/errors';
import { leaseKey, verifySymbolLog } from '@ballast/matching';
import type { EventLog, KeyValue } from '@ballast/state';
import { connect, createNatsEventLog, createNatsKeyValue, type NatsConnection } from '@ballast/state-nats';
import { SERVICES } from '@ballast/testkit';
import pg from 'pg';
import { call, freshDataDir, fundedAccount, privateStores, startInstance, stop, type Instance } from './harness.ts';

/** Symbols the flow trades, with a crossing price and quantity. */
const FLOW = [
  { symbol: 'BTCUSDT', price: '20000', qty: '0.001' },
  { symbol: 'ETHUSDT', price: '1000', qty: '0.01' },
] as const;

/** Options of {@link startFailoverRig}. */
export interface RigOptions {
  /** Names the private database and prefix. */
  readonly name: string;
  /** Matching processes. @default 3 */
  readonly matchers?: number;
  /** @default 1200 */
  readonly leaseTtlMs?: number;
  /** Extra `ballast start` flags of the matching processes. */
  readonly matchingArgs?: readonly string[];
}

/** The result of the checks. */
export interface RigVerdict {
  readonly acked: number;
  /** Acknowledged orders matching never saw, or missing from order history (I1). */
  readonly lostAcked: number;
  /** Trade ids settled more than once, in the trades table or the event logs (I2). */
  readonly duplicateFills: number;
  readonly trades: number;
  /** Every violation found (I1, I2, I5, ledger verify). */
  readonly problems: string[];
}

/** A running rig. */
export interface FailoverRig {
  readonly front: Instance;
  /** Live matching processes. */
  readonly matchers: Instance[];
  readonly log: EventLog;
  readonly kv: KeyValue;
  readonly symbols: readonly string[];
  /** The matching process holding the lease of `shard` (a symbol, with the default shard map). */
  leaderOf(shard: string): Promise<Instance | undefined>;
  /** Starts one more matching process (resolves when it is warm). */
  startMatcher(): Promise<Instance>;
  /** Kills (SIGKILL) a matching process and forgets it. */
  kill(inst: Instance): Promise<void>;
  /** Last event-log sequence of `symbol`. */
  lastEvent(symbol: string): Promise<number>;
  /** Starts `workers` order loops; `stop()` ends them and resolves when all settled. */
  startFlow(workers: number): { stop(): Promise<void>; acked(): number };
  /** Waits until matching and the ledger processed everything, then runs every check. */
  verify(timeoutMs?: number): Promise<RigVerdict>;
  /** Stops every process and drops the private stores. */
  close(): Promise<void>;
}

/** Starts the rig. */
export async function startFailoverRig(options: RigOptions): Promise<FailoverRig> {
  const stores = privateStores(options.name);
  await stores.create();
  const args = stores.args();
  const ttl = options.leaseTtlMs ?? 1200;
  const matchArgs = [
    ...args,
    '--role',
    'matching',
    '--lease-ttl-ms',
    String(ttl),
    '--snapshot-every',
    '200',
    '--snapshot-every-ms',
    '2000',
    ...(options.matchingArgs ?? []),
  ];
  const matchers: Instance[] = [];
  const startMatcher = async (): Promise<Instance> => {
    const m = await startInstance(freshDataDir(), matchArgs);
    matchers.push(m);
    return m;
  };
  // The first matcher alone, so it creates the logs and its leases; then the standbys.
  await startMatcher();
  await Promise.all(Array.from({ length: (options.matchers ?? 3) - 1 }, () => startMatcher()));
  const front = await startInstance(freshDataDir(), [
    ...args,
    '--role',
    'gateway,oms,ledger',
    '--orders-per-10s',
    '10000000',
    '--requests-per-minute',
    '100000000',
  ]);
  const nc: NatsConnection = await connect({ servers: SERVICES.nats.url });
  const log = await createNatsEventLog(nc, { prefix: stores.prefix });
  const kv = await createNatsKeyValue(nc, `${stores.prefix}_registry`);
  const seller = await fundedAccount(front, { BTC: '100000', ETH: '1000000' });
  const buyer = await fundedAccount(front, { USDT: '1000000000' });
  const acked = new Map<number, string>();

  const leaderOf = async (shard: string): Promise<Instance | undefined> => {
    const e = await kv.get(leaseKey(shard));
    if (e === undefined) return undefined;
    const holder = (JSON.parse(e.value) as { holder: string }).holder;
    const pid = Number(holder.split('-').at(-2));
    return matchers.find((m) => m.child.pid === pid);
  };

  const startFlow = (workers: number) => {
    let running = true;
    let n = 0;
    const loops = Array.from({ length: workers }, async () => {
      while (running) {
        // Order k of the flow: orders 0 and 1 buy and sell the first symbol, 2 and 3 the next, …. The symbol comes
        // from the order's number alone: workers answered in one batch take consecutive numbers,
        // and a symbol from (number + worker) would then be the same for all of them, turn after
        // turn, leaving the other symbol without orders (with one oms lane it did).
        const k = n++;
        const f = FLOW[Math.floor(k / 2) % FLOW.length] as (typeof FLOW)[number];
        const buy = k % 2 === 0;
        try {
          const r = await call(front.httpUrl, 'POST', '/api/v3/order', {
            key: buy ? buyer.key : seller.key,
            params: {
              symbol: f.symbol,
              side: buy ? 'BUY' : 'SELL',
              type: 'LIMIT',
              timeInForce: 'GTC',
              quantity: f.qty,
              price: f.price,
              newOrderRespType: 'ACK',
            },
          });
          if (r.status === 200 && typeof r.body?.orderId === 'number') acked.set(r.body.orderId, f.symbol);
        } catch {
          // not acknowledged: not counted
        }
      }
    });
    return {
      async stop() {
        running = false;
        await Promise.all(loops);
      },
      acked: () => acked.size,
    };
  };

  const verify = async (timeoutMs = 60_000): Promise<RigVerdict> => {
    const problems: string[] = [];
    const deadline = Date.now() + timeoutMs;
    let lag: unknown;
    for (;;) {
      lag = (await call(front.adminUrl, 'GET', '/admin/lag', { token: front.adminToken })).body;
      const rows = lag as { matchingLag: number; ledgerLag: number; outbox: number }[];
      if (rows.every((l) => l.matchingLag === 0 && l.ledgerLag === 0 && l.outbox === 0)) break;
      if (Date.now() > deadline) {
        problems.push(`not caught up: ${JSON.stringify(lag)}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const seen = new Set<number>();
    let trades = 0;
    let duplicateFills = 0;
    for (const symbol of FLOW.map((f) => f.symbol)) {
      const report = await verifySymbolLog(log, symbol);
      problems.push(...report.problems);
      trades += report.trades;
      duplicateFills += report.problems.filter((p) => p.includes('appears twice')).length;
      for (const id of report.orderIds) seen.add(id);
    }
    const db = new pg.Client({ connectionString: stores.postgresUrl() });
    await db.connect();
    let lostAcked = 0;
    try {
      const dup = await db.query(
        'SELECT symbol, trade_id, count(*)::int AS n FROM trades GROUP BY symbol, trade_id HAVING count(*) > 1',
      );
      duplicateFills += dup.rowCount ?? 0;
      for (const row of dup.rows.slice(0, 5)) problems.push(`trade ${row.symbol}/${row.trade_id} settled ${row.n}×`);
      const ids = [...acked.keys()];
      const inHistory = new Set<number>(
        (await db.query('SELECT id FROM orders WHERE id = ANY($1::bigint[])', [ids])).rows.map((r) => Number(r.id)),
      );
      for (const id of ids) {
        if (!seen.has(id) || !inHistory.has(id)) {
          lostAcked++;
          if (lostAcked <= 5) problems.push(`acknowledged order ${id} (${acked.get(id)}) lost`);
        }
      }
    } finally {
      await db.end();
    }
    const verified = (await call(front.adminUrl, 'GET', '/admin/ledger/verify', { token: front.adminToken })).body as {
      ok: boolean;
      problems: unknown[];
    };
    if (!verified.ok) problems.push(`ledger verify: ${JSON.stringify(verified.problems).slice(0, 500)}`);
    return { acked: acked.size, lostAcked, duplicateFills, trades, problems };
  };

  return {
    front,
    matchers,
    log,
    kv,
    symbols: FLOW.map((f) => f.symbol),
    leaderOf,
    startMatcher,
    async kill(inst) {
      await stop(inst, 'SIGKILL');
      const i = matchers.indexOf(inst);
      if (i >= 0) matchers.splice(i, 1);
    },
    lastEvent: (symbol) => log.lastSeq(`evt.${symbol}`),
    startFlow,
    verify,
    async close() {
      for (const m of [front, ...matchers]) {
        if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGCONT'); // in case it is paused
        await stop(m).catch(() => undefined);
      }
      await nc.close().catch(() => undefined);
      await stores.drop().catch((err: unknown) => {
        if (!(err instanceof BallastError)) throw err;
      });
    },
  };
}
