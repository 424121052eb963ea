/**
 * The part of Ballast's API the e2e load generator uses, for the benches' peer servers (the
 * durable floor, the pipeline floor): form bodies, ping, dev accounts, deposits (accepted, nothing
 * kept), and placing and cancelling orders in Binance's shapes.
 *
 * @module
 */
import type { FastifyInstance } from 'fastify';

/** A new order as a peer server stores it. */
export interface PeerOrder {
  readonly key: string;
  readonly clientId: string;
  readonly side: string;
  readonly price: string;
  readonly quantity: string;
}

/**
 * Registers the routes on `app`. `place` stores an order and resolves with its id; `cancel`
 * resolves with whether it cancelled a live order (otherwise the answer is -2011). `name` prefixes
 * API keys and generated client order ids.
 */
export function addOrderRoutes(
  app: FastifyInstance,
  name: string,
  place: (order: PeerOrder) => Promise<number>,
  cancel: (orderId: number) => Promise<boolean>,
): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  let nextAccount = 1;
  let nextClientId = 1;
  app.get('/api/v3/ping', async () => ({}));
  app.post('/dev/accounts', async () => ({
    accountId: nextAccount,
    apiKey: `${name}${String(nextAccount++).padStart(16, '0')}`,
  }));
  app.post('/admin/deposits', async () => ({ ok: true }));
  app.post('/api/v3/order', async (req) => {
    const p = req.body as Record<string, string>;
    const clientId = p['newClientOrderId'] ?? `${name}-${process.pid}-${nextClientId++}`;
    const orderId = await place({
      key: String(req.headers['x-mbx-apikey'] ?? ''),
      clientId,
      side: p['side'] ?? '',
      price: p['price'] ?? '',
      quantity: p['quantity'] ?? '',
    });
    return { symbol: p['symbol'], orderId, orderListId: -1, clientOrderId: clientId, transactTime: Date.now() };
  });
  app.delete('/api/v3/order', async (req, reply) => {
    const q = req.query as Record<string, string>;
    const orderId = Number(q['orderId']);
    if (!(await cancel(orderId))) return reply.code(400).send({ code: -2011, msg: 'Unknown order sent.' });
    return { symbol: q['symbol'], orderId, status: 'CANCELED' };
  });
}
