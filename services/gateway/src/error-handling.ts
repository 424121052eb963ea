/**
 * The gateway's error answers: any error becomes Binance's `{ code, msg }` with a status. A
 * retryable failure (a dependency unavailable) answers 503 -1090 with `Retry-After`; a request
 * that may have been carried out and got no answer (`OUTCOME_UNKNOWN`) answers 503 -1007,
 * "execution status unknown" (with `Retry-After` too, as every 503: sending it again is safe
 * with the same client order id); anything unexpected answers 500 and is logged.
 *
 * @module
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { ErrorCode, isBallastError, type BallastError } from '@ballast/errors';
import { ApiCode, ApiError, OUTCOME_UNKNOWN_MSG } from './api-error.ts';

/**
 * Where failures are logged: unexpected ones at error; answers 503 (a dependency unavailable) at
 * warn, at most one line a second with the count of the others, so an outage does not flood the log.
 */
export interface ErrorLogger {
  error(obj: unknown, msg: string): void;
  warn(obj: unknown, msg: string): void;
}

/** Maps any error to Binance's `{ code, msg }` with a status. */
export function installErrorHandling(
  app: FastifyInstance,
  logger?: ErrorLogger,
  classify?: (err: unknown) => BallastError,
): void {
  let unavailableLoggedMs = Number.NEGATIVE_INFINITY;
  let unavailableUnlogged = 0;
  const logUnavailable = (err: unknown, route: string | undefined): void => {
    const nowMs = Date.now();
    if (nowMs - unavailableLoggedMs < 1000) {
      unavailableUnlogged++;
      return;
    }
    logger?.warn({ err, route, alsoSince: unavailableUnlogged }, 'request answered 503: a dependency is unavailable');
    unavailableLoggedMs = nowMs;
    unavailableUnlogged = 0;
  };
  app.setErrorHandler((err: FastifyError | ApiError | Error, req, reply) => {
    if (err instanceof ApiError) {
      // A 503 the routes answered themselves (-1007 for an order or cancel) is logged as the others.
      if (err.status === 503) logUnavailable(err.cause ?? err, req.routeOptions.url);
      if (err.retryAfterS !== undefined) reply.header('retry-after', String(err.retryAfterS));
      return reply.code(err.status).send({ code: err.code, msg: err.message });
    }
    const fe = err as FastifyError;
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send({ code: ApiCode.PayloadTooLarge, msg: 'Request body too large.' });
    }
    if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply
        .code(415)
        .send({ code: ApiCode.MalformedBody, msg: 'Unsupported content type: send form data or JSON.' });
    }
    if (fe.statusCode !== undefined && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.code(400).send({ code: ApiCode.MalformedBody, msg: `Malformed request: ${fe.message}` });
    }
    const reason = isBallastError(err) ? err : classify?.(err);
    if (reason?.code === ErrorCode.OutcomeUnknown) {
      logUnavailable(err, req.routeOptions.url);
      reply.header('retry-after', '1');
      return reply.code(503).send({ code: ApiCode.OutcomeUnknown, msg: OUTCOME_UNKNOWN_MSG });
    }
    if (reason !== undefined && reason.retryable) {
      logUnavailable(err, req.routeOptions.url);
      reply.header('retry-after', '1');
      return reply.code(503).send({ code: ApiCode.ServiceUnavailable, msg: 'Service temporarily unavailable; retry.' });
    }
    logger?.error({ err }, 'request failed');
    return reply
      .code(500)
      .send({ code: ApiCode.Unknown, msg: 'An unknown error occurred while processing the request.' });
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ code: ApiCode.NotFound, msg: 'Not found.' }));
}
