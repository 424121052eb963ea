/**
 * The client's connection as an `AbortSignal`: aborted, with {@link CLIENT_CLOSED} as its reason,
 * when the connection closes before the answer was sent. Built on the response's `close` event,
 * which every supported Node emits once (after the answer, or when the client hangs up first);
 * Node's own `IncomingMessage.signal` is not used: some Node 24 releases (24.16–24.19) abort it as
 * soon as a request body has been read.
 *
 * @module
 */
import type { FastifyReply } from 'fastify';
import { ApiCode, ApiError } from './api-error.ts';

/**
 * The reason a client signal aborts with: answered 499 `-1096` (to no one: the client is gone),
 * and counted as 499 in the HTTP metrics. One shared instance, so callers can tell it apart.
 */
export const CLIENT_CLOSED = new ApiError(499, ApiCode.ClientClosed, 'Client closed the request.');

/** A signal aborted (reason {@link CLIENT_CLOSED}) if `reply`'s client hangs up before the answer. */
export function clientSignal(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  const res = reply.raw;
  // Gone already (while the request was authenticated and parsed): its 'close' has been emitted.
  if (res.destroyed && !res.writableFinished) ac.abort(CLIENT_CLOSED);
  else
    res.once('close', () => {
      if (!res.writableFinished) ac.abort(CLIENT_CLOSED);
    });
  return ac.signal;
}
