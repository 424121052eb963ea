/**
 * The e2e bench's peer: the HTTP ceiling of this machine. A Fastify server (as Ballast's gateway,
 * with the same form-body parsing) that answers the bench's requests with fixed bodies of the
 * same shape and does no other work — no validation, storage, matching or settlement. What the
 * load generator sustains against it is the most any server answering one HTTP request per order
 * in one Node process can reach here; `ratioToCeiling` says how much of it Ballast keeps.
 *
 * Run by the bench as a child process; prints `{"ceilingReady":true,"httpUrl":..}` when listening,
 * and stops on SIGTERM.
 *
 * @module
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false, bodyLimit: 16 * 1024 });
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
  done(null, Object.fromEntries(new URLSearchParams(body as string)));
});

let nextId = 1;
app.post('/dev/accounts', async () => ({ accountId: nextId, apiKey: `ceiling${String(nextId++).padStart(16, '0')}` }));
app.post('/admin/deposits', async () => ({ ok: true }));
app.get('/admin/lag', async () => [{ symbol: 'BTCUSDT', matchingLag: 0, ledgerLag: 0, outbox: 0 }]);
app.get('/admin/ledger/verify', async () => ({ ok: true, problems: [] }));
app.post('/api/v3/order', async (req) => {
  const p = req.body as Record<string, string>;
  return {
    symbol: p['symbol'],
    orderId: nextId++,
    orderListId: -1,
    clientOrderId: `x-${nextId}`,
    transactTime: Date.now(),
  };
});
app.delete('/api/v3/order', async (req) => {
  const q = req.query as Record<string, string>;
  return { symbol: q['symbol'], orderId: Number(q['orderId']), status: 'CANCELED' };
});

await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address() as { port: number };
process.stdout.write(`${JSON.stringify({ ceilingReady: true, httpUrl: `http://127.0.0.1:${address.port}` })}\n`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
