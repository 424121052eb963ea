/**
 * The oms's internal HTTP API, for gateways in other processes:
 * `POST /internal/v1/orders` (place) and `POST /internal/v1/cancels` (cancel), JSON bodies in the
 * {@link encodePlaceInput} wire format, `Authorization: Bearer <internal token>`.
 *
 * Place is idempotent by `(accountId, clientOrderId)`, so a gateway may retry it on another
 * replica after a timeout.
 *
 * @module
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Oms } from './oms.ts';
import { decodeCancelRequest, decodePlaceInput, encodeCancelResult, encodePlaceResult } from './wire.ts';

/** Registers the internal oms routes on `app`. */
export function registerOmsRoutes(app: FastifyInstance, oms: Oms, token: string): void {
  const expected = Buffer.from(`Bearer ${token}`);
  const authorized = (header: string | undefined): boolean => {
    const got = Buffer.from(header ?? '');
    return got.length === expected.length && timingSafeEqual(got, expected);
  };
  app.post('/internal/v1/orders', async (req, reply) => {
    if (!authorized(req.headers.authorization))
      return reply.code(401).send({ code: 'UNAUTHORIZED', msg: 'internal token required' });
    let input;
    try {
      input = decodePlaceInput(req.body);
    } catch (err) {
      return reply.code(400).send({ code: 'BAD_REQUEST', msg: (err as Error).message });
    }
    return encodePlaceResult(await oms.place(input));
  });
  app.post('/internal/v1/cancels', async (req, reply) => {
    if (!authorized(req.headers.authorization))
      return reply.code(401).send({ code: 'UNAUTHORIZED', msg: 'internal token required' });
    let input;
    try {
      input = decodeCancelRequest(req.body);
    } catch (err) {
      return reply.code(400).send({ code: 'BAD_REQUEST', msg: (err as Error).message });
    }
    return encodeCancelResult(await oms.cancel(input));
  });
}
