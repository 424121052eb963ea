/**
 * Order entry as the gateway calls it: the oms (in this process, or its client for remote
 * replicas) behind a breaker and a deadline, with every failure given the answer that tells the
 * client the truth about its request.
 *
 * - When the store is down, the first calls fail within the deadline and, once the breaker opens
 *   (three consecutive failures), the rest answer 503 (retryable) at once; it closes by itself
 *   after a successful probe (open 1 s, up to 5 s).
 * - The deadline is answered at once, not when the call settles. It can pass while the request
 *   is being written or is out to an oms: it may still be carried out, so it answers
 *   `OUTCOME_UNKNOWN` (-1007, "execution status unknown"), not a retryable "unavailable". A
 *   request not dispatched by then (queued for a batch slot or a lane, or waiting for discovery)
 *   is dropped at the deadline's abort, before anything can send it: nothing was done, so that
 *   one answers a retryable `UNAVAILABLE` (-1090).
 * - The caller's signal goes along: a request whose caller gave up before it was dispatched is
 *   not sent, and answers with the caller's reason; the breaker does not count it.
 * - With the oms in this process, a store failure that may have taken effect (a connection lost
 *   while a write or an append was out: `mayHaveTakenEffect`) answers `OUTCOME_UNKNOWN`; other
 *   store failures are classified by the store's adapter; a bug stays a bug (500). A remote
 *   oms's client classifies its own failures.
 *
 * @module
 */
import { BallastError, ErrorCode, isBallastError } from '@ballast/errors';
import { mayHaveTakenEffect, type EntryOptions, type Oms } from '@ballast/oms';
import { circuitBreaker, createPipeline, timeout, type Clock } from '@ballast/resilience';

/** What the gateway calls to place and cancel. */
export type OrderEntry = Pick<Oms, 'place' | 'cancel'>;

/** Options of {@link guardOrderEntry}. */
export interface OrderEntryGuardOptions {
  /** Longest a call waits for its answer, in ms. */
  readonly deadlineMs: number;
  /** The store's classifier (`what` names the caller in the message). */
  readonly classify: (err: unknown, what: string) => BallastError;
  /** Whether the oms runs in this process (its store failures are judged here). */
  readonly inProcess: boolean;
  /** @default the system clock */
  readonly clock?: Clock;
}

/** `oms` behind the breaker and the deadline (see the module comment). */
export function guardOrderEntry(oms: OrderEntry, options: OrderEntryGuardOptions): OrderEntry {
  const { deadlineMs, classify, inProcess } = options;
  const clock = options.clock !== undefined ? { clock: options.clock } : {};
  const breaker = circuitBreaker({
    mode: { kind: 'consecutive', failures: 3 },
    openMs: 1000,
    maxOpenMs: 5000,
    name: 'order-entry',
    ...clock,
  });
  const entry = createPipeline({ ...clock }, breaker, timeout(deadlineMs, { aggressive: true, ...clock }));
  const guarded =
    <A, R>(f: (a: A, options: EntryOptions) => Promise<R>) =>
    (a: A, options: EntryOptions = {}): Promise<R> => {
      let dispatched = false;
      let callSignal: AbortSignal | undefined;
      const onDispatched = (): void => {
        dispatched = true;
        // Runs inside the oms's lane or the client's batcher: a caller's callback that throws
        // must not fail the other requests there.
        try {
          options.onDispatched?.();
        } catch {
          // the caller's problem, not the batch's
        }
      };
      return entry
        .execute(
          (ctx) =>
            f(a, { signal: (callSignal = ctx.signal), onDispatched }).catch((err: unknown) => {
              // The caller gave up before it was sent: its own reason, not a store failure.
              if (options.signal?.aborted === true && err === options.signal.reason) throw err;
              // The oms in this process lost a store's answer while its write or append was out
              // (a remote oms's client says so itself: OUTCOME_UNKNOWN). A store's failure counts
              // (a passing one, or one a store adapter named); a bug in our code stays a bug (500).
              const reason = classify(err, 'order entry');
              if (inProcess && (reason.retryable || isBallastError(err)) && mayHaveTakenEffect(err))
                throw new BallastError(ErrorCode.OutcomeUnknown, 'order entry: the store did not answer the write', {
                  cause: reason,
                });
              throw reason;
            }),
          options.signal !== undefined ? { signal: options.signal } : undefined,
        )
        .catch((err: unknown) => {
          if (isBallastError(err) && err.code === ErrorCode.ResTimeout) {
            // The deadline's abort ran with it, in the same turn: a request not dispatched by now
            // never will be.
            if (!dispatched && (callSignal === undefined || callSignal.aborted))
              throw new BallastError(
                ErrorCode.Unavailable,
                `order entry: not sent within ${deadlineMs} ms (nothing was done)`,
                {
                  retryable: true,
                  cause: err,
                },
              );
            throw new BallastError(ErrorCode.OutcomeUnknown, `order entry: no answer within ${deadlineMs} ms`, {
              cause: err,
            });
          }
          throw err;
        });
    };
  return { place: guarded(oms.place), cancel: guarded(oms.cancel) };
}
