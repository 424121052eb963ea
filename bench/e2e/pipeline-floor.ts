/**
 * The cluster bench's second peer: the floor for the hops the cluster's design makes, each in its
 * own process, doing nothing but the hop. Where the durable floor (durable-floor-server.ts) is one
 * server storing each order, this is the least work any implementation of the distributed mode
 * (a gateway process, an oms process committing to PostgreSQL with an outbox, a command log on
 * JetStream read by a matching process, an event log read by a ledger process writing PostgreSQL
 * and by a market-data process) has to do per order on this machine. Five stages, one process each:
 *
 * - `front` (the gateway): Fastify with the same form-body parsing; the orders (or cancels) of one
 *   event-loop turn go to `store` as one keep-alive HTTP request (undici), up to four at once.
 * - `store` (the oms): one statement per batch inserts its orders and one outbox row and deletes
 *   the outbox rows already published (one round trip, one WAL flush); then the batch is appended
 *   to the command stream as one entry (with `--entry-per-order`, one per order, pipelined) and
 *   acknowledged once JetStream has it. A cancel batch is one `UPDATE` and one entry the same way.
 * - `match` (matching): reads the command stream, appends one event entry per command entry (a
 *   trade or an acceptance per order, no engine), waits for the acknowledgement.
 * - `settle` (the ledger): reads the event stream, one statement per entry inserts a settlement
 *   row per order and moves its offset (no balances, no journal).
 * - `view` (market data): reads the event stream and counts.
 *
 * Consumers are durable with no acknowledgements (as Ballast's ordered consumers, no ack per
 * message); `front` answers `/admin/lag` from their pending counts and the outbox, and
 * `/admin/ledger/verify` with whether every stored order was settled once. No validation, no
 * balances, no engine, no tracing, no breakers, no registry: what the load generator sustains
 * against it is an upper bound for any implementation of this design here; `ratioToPipeline` says
 * how much of it the cluster keeps.
 *
 * Run by the bench: `pipeline-floor.ts <stage> <postgres url> <nats url> <prefix> [store url]
 * [--entry-per-order]`; each stage prints `{"pipelineReady":"<stage>",..}` when ready and stops on
 * SIGTERM.
 *
 * @module
 */
import Fastify from 'fastify';
import pg from 'pg';
import { batcher } from '../lib/batcher.ts';
import { addOrderRoutes } from '../lib/order-routes.ts';
import { Pool } from 'undici';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, nanos } from '@nats-io/transport-node';

const [stage, dbUrl, natsUrl, prefix, storeUrl] = process.argv.slice(2);
const entryPerOrder = process.argv.includes('--entry-per-order');
if (
  !['front', 'store', 'match', 'settle', 'view', 'setup'].includes(stage ?? '') ||
  dbUrl === undefined ||
  natsUrl === undefined ||
  prefix === undefined ||
  !/^[a-z][a-z0-9]{0,29}$/.test(prefix) ||
  (stage === 'front' && storeUrl === undefined)
) {
  console.error(
    'usage: pipeline-floor.ts front|store|match|settle|view|setup <postgres url> <nats url> <prefix> [store url]',
  );
  process.exit(2);
}
const CMD = { stream: `${prefix.toUpperCase()}_CMD`, subject: `${prefix}.cmd` };
const EVT = { stream: `${prefix.toUpperCase()}_EVT`, subject: `${prefix}.evt` };
const ready = (extra: Record<string, unknown> = {}): void =>
  void process.stdout.write(`${JSON.stringify({ pipelineReady: stage, ...extra })}\n`);
const closers: (() => Promise<unknown>)[] = [];
process.once('SIGTERM', () => {
  void (async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    process.exit(0);
  })();
});

type NewOrder = { k: string; c: string; s: string; p: string; q: string };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

if (stage === 'setup') {
  // The tables and streams, made once before the stages start.
  const pool = new pg.Pool({ connectionString: dbUrl, max: 1 });
  await pool.query(`CREATE TABLE IF NOT EXISTS pf_orders (
    id bigserial PRIMARY KEY, account_key text NOT NULL, client_id text NOT NULL UNIQUE, side text NOT NULL,
    price text NOT NULL, quantity text NOT NULL, status text NOT NULL, created_ms bigint NOT NULL)`);
  await pool.query(`CREATE TABLE IF NOT EXISTS pf_outbox (id bigserial PRIMARY KEY, payload text NOT NULL)`);
  await pool.query(`CREATE TABLE IF NOT EXISTS pf_settled (order_id bigint NOT NULL, kind text NOT NULL,
    PRIMARY KEY (order_id, kind))`);
  await pool.query(`CREATE TABLE IF NOT EXISTS pf_offsets (consumer text PRIMARY KEY, seq bigint NOT NULL)`);
  await pool.end();
  const nc = await connect({ servers: natsUrl });
  const jsm = await jetstreamManager(nc);
  for (const s of [CMD, EVT])
    await jsm.streams.add({
      name: s.stream,
      subjects: [s.subject],
      storage: 'file',
      duplicate_window: nanos(3_600_000),
    } as never);
  for (const [name, s] of [
    ['match', CMD],
    ['settle', EVT],
    ['view', EVT],
  ] as const)
    await jsm.consumers.add(s.stream, {
      durable_name: name,
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.All,
    });
  await nc.close();
  ready();
  process.exit(0);
}

if (stage === 'front') {
  const store = new Pool(storeUrl!, { connections: 8, pipelining: 1, keepAliveTimeout: 60_000 });
  closers.push(() => store.close());
  const db = new pg.Pool({ connectionString: dbUrl, max: 1 });
  closers.push(() => db.end());
  const nc = await connect({ servers: natsUrl });
  closers.push(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const call = async <R>(path: string, body: unknown): Promise<R[]> => {
    const r = await store.request({
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await r.body.text();
    if (r.statusCode !== 200) throw new Error(`store answered ${r.statusCode}: ${text}`);
    return JSON.parse(text) as R[];
  };
  const place = batcher<NewOrder, number>((orders) => call<number>('/place', orders));
  const cancel = batcher<number, boolean>((ids) => call<boolean>('/cancel', ids));

  const app = Fastify({ logger: false, bodyLimit: 16 * 1024 });
  addOrderRoutes(app, 'pipe', (o) => place({ k: o.key, c: o.clientId, s: o.side, p: o.price, q: o.quantity }), cancel);
  app.get('/admin/lag', async () => {
    const pending = async (stream: string, name: string): Promise<number> =>
      (await jsm.consumers.info(stream, name)).num_pending;
    const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM pf_outbox');
    return [
      {
        symbol: 'BTCUSDT',
        matchingLag: await pending(CMD.stream, 'match'),
        ledgerLag: (await pending(EVT.stream, 'settle')) + (await pending(EVT.stream, 'view')),
        outbox: Number(rows[0]!.n),
      },
    ];
  });
  app.get('/admin/ledger/verify', async () => {
    const { rows } = await db.query<{ orders: string; settled: string; twice: string }>(
      `SELECT (SELECT count(*) FROM pf_orders) AS orders,
              (SELECT count(*) FROM pf_settled WHERE kind = 'new') AS settled,
              (SELECT count(*) FROM pf_settled s JOIN pf_orders o ON o.id = s.order_id WHERE s.kind = 'cancel' AND o.status <> 'CANCELED') AS twice`,
    );
    const r = rows[0]!;
    const ok = r.orders === r.settled && r.twice === '0';
    return { ok, problems: ok ? [] : [`orders ${r.orders}, settled ${r.settled}, cancels of live orders ${r.twice}`] };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  closers.push(() => app.close());
  ready({ httpUrl: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` });
}

if (stage === 'store') {
  const db = new pg.Pool({ connectionString: dbUrl, max: 4 });
  closers.push(() => db.end());
  const nc = await connect({ servers: natsUrl });
  closers.push(() => nc.close());
  const js = jetstream(nc);
  let published: string[] = [];
  /** Appends `payloads` (one keyed entry each, pipelined) and waits for every acknowledgement. */
  const append = async (key: string, payloads: string[]): Promise<void> => {
    await Promise.all(
      payloads.map((p, i) => {
        const h = headers();
        h.set('Nats-Msg-Id', `${key}-${i}`);
        return js.publish(CMD.subject, encoder.encode(p), { headers: h });
      }),
    );
  };
  // Published outbox rows go with the next batch's statement; when no batch follows within
  // 200 ms, with one of their own (as a sweeper would), so an idle store's outbox is empty.
  let lastBatchMs = 0;
  const tidy = setInterval(() => {
    if (published.length === 0 || performance.now() - lastBatchMs < 200) return;
    const done = published;
    published = [];
    db.query('DELETE FROM pf_outbox WHERE id = ANY($1::bigint[])', [done]).catch(() => published.push(...done));
  }, 250);
  closers.push(async () => clearInterval(tidy));
  const app = Fastify({ logger: false, bodyLimit: 4 * 1024 * 1024 });
  app.post('/place', async (req) => {
    const orders = req.body as NewOrder[];
    lastBatchMs = performance.now();
    const done = published;
    published = [];
    const { rows } = await db.query<{ id: string; client_id: string; box: string }>(
      `WITH o AS (
         INSERT INTO pf_orders (account_key, client_id, side, price, quantity, status, created_ms)
         SELECT k, c, s, p, q, 'NEW', $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(k, c, s, p, q)
         RETURNING id, client_id),
       b AS (INSERT INTO pf_outbox (payload) SELECT 'place' RETURNING id),
       d AS (DELETE FROM pf_outbox WHERE id = ANY($7::bigint[]))
       SELECT o.id, o.client_id, b.id AS box FROM o, b`,
      [
        orders.map((o) => o.k),
        orders.map((o) => o.c),
        orders.map((o) => o.s),
        orders.map((o) => o.p),
        orders.map((o) => o.q),
        Date.now(),
        done,
      ],
    );
    const ids = new Map(rows.map((r) => [r.client_id, Number(r.id)]));
    const box = rows[0]?.box ?? '0';
    const entries = orders.map((o) => ({ kind: 'new', id: ids.get(o.c), side: o.s, price: o.p, qty: o.q }));
    await append(`p${box}`, entryPerOrder ? entries.map((e) => JSON.stringify([e])) : [JSON.stringify(entries)]);
    published.push(box);
    return orders.map((o) => ids.get(o.c) ?? -1);
  });
  app.post('/cancel', async (req) => {
    const ids = req.body as number[];
    lastBatchMs = performance.now();
    const { rows } = await db.query<{ id: string; box: string }>(
      `WITH u AS (UPDATE pf_orders SET status = 'CANCELED' WHERE id = ANY($1::bigint[]) AND status = 'NEW' RETURNING id),
       b AS (INSERT INTO pf_outbox (payload) SELECT 'cancel' WHERE EXISTS (SELECT 1 FROM u) RETURNING id)
       SELECT u.id, b.id AS box FROM u, b`,
      [ids],
    );
    const done = new Set(rows.map((r) => Number(r.id)));
    if (rows.length > 0) {
      const entries = [...done].map((id) => ({ kind: 'cancel', id }));
      await append(
        `c${rows[0]!.box}`,
        entryPerOrder ? entries.map((e) => JSON.stringify([e])) : [JSON.stringify(entries)],
      );
      published.push(rows[0]!.box);
    }
    return ids.map((id) => done.has(id));
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  closers.push(() => app.close());
  ready({ httpUrl: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` });
}

if (stage === 'match' || stage === 'settle' || stage === 'view') {
  const nc = await connect({ servers: natsUrl });
  const js = jetstream(nc);
  const db = stage === 'settle' ? new pg.Pool({ connectionString: dbUrl, max: 1 }) : undefined;
  const from = stage === 'match' ? CMD : EVT;
  const consumer = await js.consumers.get(from.stream, stage);
  const messages = await consumer.consume({ max_messages: 1000 });
  closers.push(async () => {
    await messages.close();
    await db?.end();
    await nc.close();
  });
  let seen = 0;
  ready();
  for await (const m of messages) {
    if (stage === 'match') {
      const h = headers();
      h.set('Nats-Msg-Id', `e${m.seq}`);
      // One event entry per command entry: the order accepted, or traded when it crosses.
      await js.publish(EVT.subject, m.data, { headers: h });
    } else if (stage === 'settle') {
      const entries = JSON.parse(decoder.decode(m.data)) as { kind: string; id: number }[];
      await db!.query(
        `WITH s AS (INSERT INTO pf_settled (order_id, kind) SELECT unnest($1::bigint[]), $2 ON CONFLICT DO NOTHING)
         INSERT INTO pf_offsets (consumer, seq) VALUES ('settle', $3) ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq`,
        [entries.map((e) => e.id), entries[0]?.kind ?? 'new', m.seq],
      );
    } else {
      seen += (JSON.parse(decoder.decode(m.data)) as unknown[]).length;
    }
  }
  void seen;
}
