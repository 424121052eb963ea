/**
 * The cluster bench's peer: the floor for a durable acknowledgement on this machine. One Fastify
 * server (as Ballast's gateway, with the same form-body parsing) that stores each order as one row
 * in PostgreSQL before answering, and does nothing else: no validation, balances, journal, outbox,
 * NATS, matching or settlement. The orders of one event-loop turn are one self-committing
 * `INSERT … SELECT FROM unnest(…)` (so one round trip and one WAL flush per batch), with up to four
 * batches in flight, as the oms writes; a cancel is one `UPDATE`, batched the same way. What the
 * load generator sustains against it is the most any design that durably stores an order in
 * PostgreSQL before acknowledging it, behind one HTTP hop, can reach here; `ratioToFloor` says how
 * much of it the cluster keeps.
 *
 * Run by the bench as a child process with the database URL as its argument; prints
 * `{"floorReady":true,"httpUrl":..}` when listening, and stops on SIGTERM.
 *
 * @module
 */
import Fastify from 'fastify';
import pg from 'pg';
import { batcher } from '../lib/batcher.ts';
import { addOrderRoutes, type PeerOrder } from '../lib/order-routes.ts';

const url = process.argv[2];
if (url === undefined) {
  console.error('usage: durable-floor-server.ts <postgres url>');
  process.exit(2);
}
const pool = new pg.Pool({ connectionString: url, max: 4 });
await pool.query(`CREATE TABLE IF NOT EXISTS floor_orders (
  id bigserial PRIMARY KEY,
  account_key text NOT NULL,
  client_id text NOT NULL UNIQUE,
  side text NOT NULL,
  price text NOT NULL,
  quantity text NOT NULL,
  status text NOT NULL,
  created_ms bigint NOT NULL
)`);

const place = batcher<PeerOrder, number>(async (orders) => {
  const { rows } = await pool.query<{ id: string; client_id: string }>(
    `INSERT INTO floor_orders (account_key, client_id, side, price, quantity, status, created_ms)
     SELECT k, c, s, p, q, 'NEW', $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(k, c, s, p, q)
     RETURNING id, client_id`,
    [
      orders.map((o) => o.key),
      orders.map((o) => o.clientId),
      orders.map((o) => o.side),
      orders.map((o) => o.price),
      orders.map((o) => o.quantity),
      Date.now(),
    ],
  );
  const ids = new Map(rows.map((r) => [r.client_id, Number(r.id)]));
  return orders.map((o) => ids.get(o.clientId) ?? -1);
});
const cancel = batcher<number, boolean>(async (ids) => {
  const { rows } = await pool.query<{ id: string }>(
    `UPDATE floor_orders SET status = 'CANCELED' WHERE id = ANY($1::bigint[]) AND status = 'NEW' RETURNING id`,
    [ids],
  );
  const done = new Set(rows.map((r) => Number(r.id)));
  return ids.map((id) => done.has(id));
});

const app = Fastify({ logger: false, bodyLimit: 16 * 1024 });
addOrderRoutes(app, 'floor', place, cancel);
app.get('/admin/lag', async () => [{ symbol: 'BTCUSDT', matchingLag: 0, ledgerLag: 0, outbox: 0 }]);
app.get('/admin/ledger/verify', async () => ({ ok: true, problems: [] }));

await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address() as { port: number };
process.stdout.write(`${JSON.stringify({ floorReady: true, httpUrl: `http://127.0.0.1:${address.port}` })}\n`);
process.once('SIGTERM', () => void app.close().then(() => pool.end().then(() => process.exit(0))));
