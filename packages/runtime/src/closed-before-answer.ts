/**
 * A server response's connection as an `AbortSignal`, for work a caller may give up on.
 *
 * @module
 */
import type { ServerResponse } from 'node:http';

/**
 * A signal aborted, with `reason`, when the connection of `res` closes before its answer was
 * sent (the caller hung up, or gave up on a timeout); it never aborts once the answer is out.
 * Also aborted at once when that already happened. Built on the response's `close` event, which
 * every supported Node emits once (after the answer, or when the caller leaves first); Node's own
 * `IncomingMessage.signal` is not used: some Node 24 releases (24.16–24.19) abort it as soon as a
 * request body has been read. One listener per response.
 */
export function closedBeforeAnswer(res: ServerResponse, reason: unknown): AbortSignal {
  const ac = new AbortController();
  if (res.destroyed && !res.writableFinished) ac.abort(reason);
  else
    res.once('close', () => {
      if (!res.writableFinished) ac.abort(reason);
    });
  return ac.signal;
}
