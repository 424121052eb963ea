import { flushMicrotasks } from '@ballast/testkit';
import { BallastError, ErrorCode } from '@ballast/errors';

/** A retryable failure. */
export const transient = (msg = 'transient'): BallastError =>
  new BallastError(ErrorCode.StateConnection, msg, { retryable: true });
/** A failure not worth retrying. */
export const permanent = (msg = 'permanent'): BallastError => new BallastError(ErrorCode.StateInvalid, msg);

/** A promise with its resolve/reject exposed. */
export function deferred<T = unknown>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The state of a promise after pending callbacks ran: 'pending' | 'fulfilled' | 'rejected'. */
export async function stateOf(p: Promise<unknown>): Promise<string> {
  let state = 'pending';
  p.then(
    () => (state = 'fulfilled'),
    () => (state = 'rejected'),
  );
  await flushMicrotasks();
  return state;
}
