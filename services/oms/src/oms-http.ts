/**
 * The oms's internal HTTP API, for gateways in other processes:
 * `POST /internal/v1/orders` (place) and `POST /internal/v1/cancels` (cancel), JSON bodies in the
 * {@link encodePlaceInput} wire format, `Authorization: Bearer <internal token>`; and
 * `POST /internal/v1/orders/batch` (`{ orders: [...] }` → `{ results: [...] }`, one result per
 * order in order: `{ ok: true, result }` or `{ ok: false, error: { code, msg, retryable } }`), so
 * a gateway sends the orders of one event-loop turn in one request — one HTTP exchange instead of
 * one per order; they join the same group commit either way. `POST /internal/v1/cancels/batch`
 * (`{ cancels: [...] }` → `{ results: [...] }`, the same result shape) does the same for cancels.
 * A failure's `maybeDone` says whether the request may have taken effect (a connection lost
 * while its write or append was out) or surely did not (a conflict, a refusal); the single routes
 * answer a failure HTTP 500 with the same `{ code, msg, retryable, maybeDone }`.
 *
 * Place is idempotent by `(accountId, clientOrderId)`, so a gateway may retry it on another
 * replica after a timeout. An order whose gateway closed the connection (it gave up) while the
 * order still waited for its group commit is not written.
 *
 * Tracing: a request's W3C `traceparent` header is continued as a server span around the call,
 * so the order's write and its command in the log belong to the gateway's trace.
 *
 * @module
 */
import { timingSafeEqual } from 'node:crypto';
import { BallastError, ErrorCode, isBallastError } from '@ballast/errors';
import { SpanKind, closedBeforeAnswer, contextFromCarrier, inSpan, tracingEnabled } from '@ballast/runtime';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { mayHaveTakenEffect } from './failure-outcome.ts';
import type { Oms } from './oms.ts';
import { decodeCancelRequest, decodePlaceInput, encodeCancelResult, encodePlaceResult } from './wire.ts';

/** Most orders in one batch request. */
const MAX_BATCH = 1000;

/** Why an order is not written: its gateway closed the connection (gave up) before the answer. */
const CALLER_GONE = new BallastError(ErrorCode.Cancelled, 'the caller closed the connection before the answer');

/**
 * Registers the internal oms routes on `app`. `classify` turns a store driver's error into a
 * Ballast reason (its code, and whether it is passing: a database that is down answers
 * retryable, a failed statement does not); without it a raw error is `INTERNAL`, not retryable.
 */
export function registerOmsRoutes(
  app: FastifyInstance,
  oms: Oms,
  token: string,
  classify?: (err: unknown, what: string) => BallastError,
): void {
  /** A failure as the API answers it; `maybeDone` says whether it may have taken effect. */
  const failure = (err: unknown): { code: string; msg: string; retryable: boolean; maybeDone: boolean } => {
    const reason = isBallastError(err) ? err : classify?.(err, 'oms');
    return {
      code: reason?.code ?? ErrorCode.Internal,
      msg: (err as Error)?.message ?? String(err),
      retryable: reason?.retryable ?? false,
      maybeDone: mayHaveTakenEffect(err),
    };
  };
  const expected = Buffer.from(`Bearer ${token}`);
  const authorized = (header: string | undefined): boolean => {
    const got = Buffer.from(header ?? '');
    return got.length === expected.length && timingSafeEqual(got, expected);
  };
  const traced = <T>(req: FastifyRequest, route: string, symbol: string, fn: () => Promise<T>): Promise<T> =>
    tracingEnabled()
      ? inSpan(
          `POST ${route}`,
          {
            kind: SpanKind.SERVER,
            parent: contextFromCarrier(req.headers),
            attributes: { 'http.request.method': 'POST', 'http.route': route, 'ballast.symbol': symbol },
          },
          fn,
        )
      : fn();
  app.post('/internal/v1/orders', async (req, reply) => {
    if (!authorized(req.headers.authorization))
      return reply.code(401).send({ code: 'UNAUTHORIZED', msg: 'internal token required' });
    let input;
    try {
      input = decodePlaceInput(req.body);
    } catch (err) {
      return reply.code(400).send({ code: 'BAD_REQUEST', msg: (err as Error).message });
    }
    const signal = closedBeforeAnswer(reply.raw, CALLER_GONE);
    try {
      return encodePlaceResult(
        await traced(req, '/internal/v1/orders', input.symbol, () => oms.place(input, { signal })),
      );
    } catch (err) {
      return reply.code(500).send(failure(err));
    }
  });
  /**
   * A batch route: `field` holds 1 to MAX_BATCH items, each decoded and run on its own; one result
   * per item, in order. An item that cannot be decoded fails alone (STATE_INVALID).
   */
  const batchRoute = <I>(
    path: string,
    field: string,
    decode: (j: unknown) => I,
    run: (input: I, signal: AbortSignal) => Promise<unknown>,
  ): void => {
    // Its own body limit: a full batch (1000 orders of ~220 bytes) is far beyond the server's
    // default, which would refuse it (413) before the handler runs.
    app.post(path, { bodyLimit: MAX_BATCH * 1024 }, async (req, reply) => {
      if (!authorized(req.headers.authorization))
        return reply.code(401).send({ code: 'UNAUTHORIZED', msg: 'internal token required' });
      const items = (req.body as Record<string, unknown> | null)?.[field];
      const signal = closedBeforeAnswer(reply.raw, CALLER_GONE);
      if (!Array.isArray(items) || items.length === 0 || items.length > MAX_BATCH)
        return reply.code(400).send({ code: 'BAD_REQUEST', msg: `${field} must be an array of 1 to ${MAX_BATCH}` });
      const results = await Promise.all(
        items.map(async (item: unknown) => {
          let input: I;
          try {
            input = decode(item);
          } catch (err) {
            // Never run: surely without effect.
            const msg = `bad item in batch: ${(err as Error).message}`;
            return { ok: false, error: { code: ErrorCode.StateInvalid, msg, retryable: false, maybeDone: false } };
          }
          try {
            return { ok: true, result: await run(input, signal) };
          } catch (err) {
            return { ok: false, error: failure(err) };
          }
        }),
      );
      return { results };
    });
  };
  batchRoute('/internal/v1/orders/batch', 'orders', decodePlaceInput, async (input, signal) =>
    encodePlaceResult(await oms.place(input, { signal })),
  );
  batchRoute('/internal/v1/cancels/batch', 'cancels', decodeCancelRequest, async (input) =>
    encodeCancelResult(await oms.cancel(input)),
  );
  app.post('/internal/v1/cancels', async (req, reply) => {
    if (!authorized(req.headers.authorization))
      return reply.code(401).send({ code: 'UNAUTHORIZED', msg: 'internal token required' });
    let input;
    try {
      input = decodeCancelRequest(req.body);
    } catch (err) {
      return reply.code(400).send({ code: 'BAD_REQUEST', msg: (err as Error).message });
    }
    try {
      return encodeCancelResult(await traced(req, '/internal/v1/cancels', input.symbol, () => oms.cancel(input)));
    } catch (err) {
      return reply.code(500).send(failure(err));
    }
  });
}
