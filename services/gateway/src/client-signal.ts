/**
 * The client's connection as an `AbortSignal`: aborted, with {@link CLIENT_CLOSED} as its reason,
 * when the connection closes before the answer was sent (see `closedBeforeAnswer` of
 * `@ballast/runtime`).
 *
 * @module
 */
import type { FastifyReply } from 'fastify';
import { closedBeforeAnswer } from '@ballast/runtime';
import { ApiCode, ApiError } from './api-error.ts';

/**
 * The reason a client signal aborts with: answered 499 `-1096` (to no one: the client is gone),
 * and counted as 499 in the HTTP metrics. One shared instance, so callers can tell it apart.
 */
export const CLIENT_CLOSED = new ApiError(499, ApiCode.ClientClosed, 'Client closed the request.');

/** A signal aborted (reason {@link CLIENT_CLOSED}) if `reply`'s client hangs up before the answer. */
export function clientSignal(reply: FastifyReply): AbortSignal {
  return closedBeforeAnswer(reply.raw, CLIENT_CLOSED);
}
