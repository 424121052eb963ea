/**
 * The oms as the gateway sees it when the oms runs in other processes: replicas found in the
 * service registry, picked by power-of-two-choices on in-flight calls (a simple balancer; the
 * adaptive one comes in its own issue), each behind a circuit breaker and a timeout, and a
 * retry on another replica for failures that are safe to retry: a place whatever the failure (it
 * is idempotent by `(account, clientOrderId)`), a cancel only when it surely had no effect (no
 * connection, an open breaker, or the oms answered that it did nothing: `maybeDone: false`). A
 * call that reached an oms and got no answer, or an answer that leaves it open, fails
 * `OUTCOME_UNKNOWN`: it may have been carried out, and the gateway tells its client so (-1007)
 * rather than "retry".
 *
 * Tracing: each call is a client span; its W3C `traceparent` goes in the request headers, so the
 * oms continues the caller's trace.
 *
 * @module
 */
import { BallastError, ErrorCode, neverConnected } from '@ballast/errors';
import {
  decodeCancelResult,
  decodePlaceResult,
  encodeCancelRequest,
  encodePlaceInput,
  type CancelResult,
  type EntryOptions,
  type Oms,
  type PlaceResult,
} from '@ballast/oms';
import {
  circuitBreaker,
  createPipeline,
  createRetryBudget,
  timeout,
  type CircuitBreaker,
  type Pipeline,
} from '@ballast/resilience';
import { SpanKind, endSpan, startSpan, traceCarrier, tracingEnabled, type Span } from '@ballast/runtime';
import { within, type Instance } from '@ballast/state';
import { Pool } from 'undici';

/** What the gateway needs from an oms. */
export type OrderEntry = Pick<Oms, 'place' | 'cancel'>;

interface Replica {
  readonly id: string;
  readonly url: string;
  readonly pool: Pool;
  readonly breaker: CircuitBreaker;
  readonly pipeline: Pipeline;
  inFlight: number;
}

/** Options of {@link createRemoteOms}. */
export interface RemoteOmsOptions {
  /** The current oms replicas (from the registry). */
  readonly instances: () => Promise<Instance[]>;
  readonly token: string;
  /** Per-call timeout. @default 3000 */
  readonly timeoutMs?: number;
  /**
   * A new order's attempt on one replica: after this long without an answer it is aborted and
   * retried on another replica (placement is idempotent by client order id: the retry is answered
   * with the order if the first replica wrote it). Below the gateway's 2 s order-entry deadline,
   * so the orders sent to a replica that hangs can still be placed elsewhere in time; well above
   * a batch's usual time. Only when, at that moment, a retry can follow: a replica not tried yet
   * whose breaker is closed, an attempt left, and a retry in the shared budget (20% of calls, so a
   * slow tier is not sent every order twice), taken then; otherwise the attempt has `timeoutMs`.
   * At most `timeoutMs`. @default 900
   */
  readonly placeAttemptTimeoutMs?: number;
  /** Replicas tried per call at most. @default 3 */
  readonly maxAttempts?: number;
  /** How often the replica list is refreshed. @default 1000 */
  readonly refreshMs?: number;
  /**
   * While no replica is known, a call asks the registry again before failing (a replica that
   * registered since the last refresh is used at once), at most once per this interval, shared by
   * the calls waiting meanwhile. @default 250
   */
  readonly rediscoverMs?: number;
  /**
   * Longest a look at the registry may take; one that has not answered by then counts as failed
   * (its late answer is ignored), so a hung listing never holds the refresh loop or a request.
   * @default 2000
   */
  readonly discoveryTimeoutMs?: number;
  /**
   * Batch requests of one kind (orders, cancels) each replica is sent at once, an integer ≥ 1
   * (`Infinity`: no limit). While every replica whose breaker lets calls through has that many
   * out, what arrives waits, and leaves as one batch when one answers: an oms writes its batches
   * one at a time per lane, so orders wait there if not here, and fewer, larger requests cost
   * both processes less. Match it to the oms's lanes. A request that waited `timeoutMs` for a free
   * slot is answered unavailable (retryable). @default 1
   */
  readonly batchesInFlightPerReplica?: number;
  readonly onError?: (message: string, err: unknown) => void;
}

/** A remote oms client plus its lifecycle. */
export interface RemoteOms extends OrderEntry {
  /** Keeps the replica list fresh until `signal` aborts; closes the connections then. */
  run(signal: AbortSignal): Promise<void>;
  /** Replica ids currently known. */
  readonly replicas: string[];
  /**
   * Now: requests (orders and cancels) waiting for a free slot on some replica, and batch requests
   * out to the replicas. Requests wait only while every usable replica has its share out, so a
   * queue that stays above zero says the oms tier is the bottleneck. Costs nothing until read.
   */
  waiting(): { queued: number; batchesOut: number };
}

/** Most orders per batch request (the oms accepts up to 1000). */
const MAX_BATCH = 500;

const unavailable = (msg: string, cause?: unknown): BallastError =>
  new BallastError(ErrorCode.StateConnection, msg, { retryable: true, ...(cause !== undefined ? { cause } : {}) });

/** A call that may have been carried out by an oms that never answered it (see `attempt`). */
const outcomeUnknown = (cause: unknown): BallastError =>
  new BallastError(
    ErrorCode.OutcomeUnknown,
    `oms: sent, and no answer came back (${(cause as Error | undefined)?.message ?? 'no attempt answered'}); it may have been carried out`,
    { cause },
  );

/**
 * An oms's failure answer (HTTP 5xx): whether it leaves open that the request was carried out
 * (`maybeDone` not false: also an answer that does not say), and whether it is passing.
 */
const failureIn = (text: string): { maybeDone: boolean; retryable: boolean } => {
  try {
    const j = JSON.parse(text) as { maybeDone?: unknown; retryable?: unknown } | null;
    return { maybeDone: j?.maybeDone !== false, retryable: j?.maybeDone !== false || j.retryable !== false };
  } catch {
    return { maybeDone: true, retryable: true };
  }
};

/** A 200 answer decoded; one that cannot be: carried out, and its caller cannot be told how. */
const decodedOrUnknown = <R>(decode: (j: unknown) => R, answer: unknown): R => {
  try {
    return decode(answer);
  } catch (err) {
    throw outcomeUnknown(new Error(`oms: undecodable result: ${(err as Error).message}`));
  }
};

/** Creates the client. */
export function createRemoteOms(o: RemoteOmsOptions): RemoteOms {
  const replicas = new Map<string, Replica>();
  const timeoutMs = o.timeoutMs ?? 3000;
  const placeAttemptTimeoutMs = Math.min(timeoutMs, o.placeAttemptTimeoutMs ?? 900);
  const perReplica = o.batchesInFlightPerReplica ?? 1;
  if (!(perReplica === Infinity || (Number.isInteger(perReplica) && perReplica >= 1)))
    throw new RangeError(`batchesInFlightPerReplica must be an integer ≥ 1 or Infinity, got ${perReplica}`);
  const maxAttempts = o.maxAttempts ?? 3;
  // Retries on another replica (placement and cancel are idempotent) take from a shared budget:
  // at most 20% of calls, 10/s floor, so an outage of every replica does not triple the load.
  const budget = createRetryBudget({ percentCanRetry: 0.2, minRetriesPerSec: 10 });
  const rediscoverMs = o.rediscoverMs ?? 250;
  const discoveryTimeoutMs = o.discoveryTimeoutMs ?? 2000;
  let lastRefreshMs = Number.NEGATIVE_INFINITY;
  /** The registry look in progress, shared by the refresh loop and the calls waiting for it. */
  let looking: Promise<void> | undefined;

  const refresh = async (): Promise<void> => {
    lastRefreshMs = Date.now();
    const list = await within(o.instances(), discoveryTimeoutMs, 'oms discovery');
    const seen = new Set<string>();
    for (const inst of list) {
      seen.add(inst.id);
      const old = replicas.get(inst.id);
      if (old !== undefined && old.url === inst.url) continue;
      if (old !== undefined) void old.pool.close();
      const breaker = circuitBreaker({
        mode: { kind: 'consecutive', failures: 3 },
        openMs: 1000,
        name: `oms:${inst.id}`,
      });
      replicas.set(inst.id, {
        id: inst.id,
        url: inst.url,
        // Enough connections that a burst reaches the oms whole: it commits requests in groups,
        // so the more arrive together, the cheaper each (undici does not pipeline POSTs).
        pool: new Pool(inst.url, { connections: 256, keepAliveTimeout: 30_000 }),
        breaker,
        pipeline: createPipeline({}, breaker, timeout(timeoutMs)),
        inFlight: 0,
      });
    }
    for (const [id, r] of replicas) {
      if (!seen.has(id)) {
        replicas.delete(id);
        void r.pool.close();
      }
    }
  };
  /** Looks at the registry, or joins the look in progress; never rejects. */
  const discover = (): Promise<void> =>
    (looking ??= refresh()
      .catch((err) => o.onError?.('oms discovery failed', err))
      .finally(() => (looking = undefined)));

  /** Replicas whose breaker lets calls through. */
  const usableReplicas = (): Replica[] => [...replicas.values()].filter((r) => r.breaker.state !== 'OPEN');
  /** Power of two choices on in-flight calls among `candidates`. */
  const choose = (candidates: readonly Replica[]): Replica | undefined => {
    if (candidates.length === 0) return undefined;
    const a = candidates[Math.floor(Math.random() * candidates.length)] as Replica;
    const b = candidates[Math.floor(Math.random() * candidates.length)] as Replica;
    return a.inFlight <= b.inFlight ? a : b;
  };
  /** A usable replica not in `exclude`, one for which `free` holds if there is one. */
  const pick = (exclude: Set<string>, free?: (r: Replica) => boolean): Replica | undefined => {
    const candidates = usableReplicas().filter((r) => !exclude.has(r.id));
    return (free !== undefined ? choose(candidates.filter(free)) : undefined) ?? choose(candidates);
  };

  /**
   * One HTTP exchange with replica `r`: the parsed 200 answer, or an error. `setMaybeDone` is
   * told, on failure, whether the oms may have carried the request out (see `attempt`).
   */
  const exchange = async (
    r: Replica,
    path: string,
    headers: Record<string, string>,
    body: unknown,
    signal: AbortSignal,
    setMaybeDone: (maybeDone: boolean) => void,
  ): Promise<unknown> => {
    let res;
    try {
      res = await r.pool.request({ method: 'POST', path, headers, body: JSON.stringify(body), signal });
    } catch (err) {
      // No connection was made: nothing was sent.
      if (neverConnected(err)) setMaybeDone(false);
      throw unavailable(`oms ${r.id}: ${(err as Error).message}`, err);
    }
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      throw unavailable(`oms ${r.id}: the answer was cut off: ${(err as Error).message}`, err);
    }
    // The oms answered the request as a whole with a failure: a refusal (4xx) did nothing; a 5xx
    // did nothing only when the oms says so (`maybeDone: false`: a conflict, a refusal), not when
    // it lost a store's answer while its write or append was out.
    if (res.statusCode >= 500) {
      const f = failureIn(text);
      setMaybeDone(f.maybeDone);
      // Surely not done and not passing (a bug, an unreadable request): not "retry".
      if (!f.retryable) throw new BallastError(ErrorCode.Internal, `oms ${r.id}: HTTP ${res.statusCode} ${text}`);
      throw unavailable(`oms ${r.id}: HTTP ${res.statusCode}`);
    }
    if (res.statusCode !== 200) {
      setMaybeDone(false); // a refusal (4xx) did nothing
      throw new BallastError(ErrorCode.Internal, `oms ${r.id}: HTTP ${res.statusCode} ${text}`);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new BallastError(ErrorCode.Internal, `oms ${r.id}: an answer that is not JSON`, { cause: err });
    }
  };

  const call = async (path: string, body: unknown, symbol: string, retryIfUnknown: boolean): Promise<unknown> => {
    if (!tracingEnabled()) return attempt(path, () => body, undefined, retryIfUnknown);
    const span = startSpan(`POST ${path}`, {
      kind: SpanKind.CLIENT,
      attributes: { 'http.request.method': 'POST', 'url.path': path, 'ballast.symbol': symbol },
    });
    try {
      const out = await attempt(path, () => body, span, retryIfUnknown);
      endSpan(span);
      return out;
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
  };

  /**
   * A call with its retries on other replicas; `first`, when given, takes the first attempt.
   * `bodyOf` gives each attempt's body; `undefined` ends the call (nothing is left to send).
   *
   * An attempt whose request left for the oms and got no whole answer (a timeout, a connection
   * broken before or while the answer came, an answer that cannot be read) may have been carried
   * out. `retryIfUnknown` says whether such an attempt is retried on another replica: yes for
   * places (idempotent by client order id: a retry is answered with the original), no for
   * cancels (a second cancel of an order the first one ended is rejected, and its client would be
   * told its cancel failed). A call that had such an attempt and no answer fails with
   * `OUTCOME_UNKNOWN` (not retryable), not with a retryable error: its client must not be told
   * "retry" as if nothing had happened. For a batch, `batch.seen.unknown` is set when some attempt
   * was such, for a caller that reads the answer's items (an item that failed on the last attempt
   * may have been carried out by an earlier one).
   */
  const attempt = async (
    path: string,
    bodyOf: () => unknown,
    span: Span | undefined,
    retryIfUnknown: boolean,
    batch?: {
      /** Takes the first attempt. */
      first: Replica | undefined;
      /** Set when some attempt may have been carried out (see above). */
      seen: { unknown: boolean };
      /** Replicas with a free batch slot: a retry goes to one of them if it can. */
      free: (r: Replica) => boolean;
      /** The attempt goes to `r`: the batch's slot moves there. */
      sentTo: (r: Replica) => void;
    },
  ): Promise<unknown> => {
    // Requests wait for discovery only while no replica is known: they join the look in progress,
    // or start one if the last is over rediscoverMs old. Otherwise the list is refreshed in the
    // background, and a slow registry never delays an order.
    if (replicas.size === 0 && (looking !== undefined || Date.now() - lastRefreshMs >= rediscoverMs)) await discover();
    const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${o.token}` };
    if (span !== undefined) Object.assign(headers, traceCarrier(span));
    const tried = new Set<string>();
    let last: unknown; // created only on failure: an Error's stack trace costs microseconds
    /** Some attempt may have been carried out by the oms (see above). */
    let unknown = false;
    budget.recordRequest();
    /** The next attempt's retry was taken from the budget when the last one was cut short. */
    let reserved = false;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      if (attempt > 0 && !reserved && !budget.tryWithdraw()) break;
      reserved = false;
      const body = bodyOf();
      if (body === undefined) break;
      const first = batch?.first;
      const r =
        attempt === 0 && first !== undefined && replicas.get(first.id) === first ? first : pick(tried, batch?.free);
      if (r === undefined) break;
      tried.add(r.id);
      batch?.sentTo(r);
      span?.setAttribute('ballast.oms.replica', r.id);
      r.inFlight++;
      /** This attempt's request may have reached the oms and its outcome is not known. */
      let maybeDone = false;
      try {
        return await r.pipeline.execute(async (ctx) => {
          // From here the request may reach the oms (a breaker that refused it never gets here).
          maybeDone = true;
          // A new order's attempt is cut short after placeAttemptTimeoutMs when, then, a retry can
          // follow: a replica not tried yet whose breaker is closed, an attempt left, and a retry
          // in the budget (taken now). Otherwise it waits its whole time.
          let signal = ctx.signal;
          let cutTimer: ReturnType<typeof setTimeout> | undefined;
          if (
            retryIfUnknown &&
            attempt + 1 < maxAttempts &&
            placeAttemptTimeoutMs < timeoutMs &&
            replicas.size > tried.size
          ) {
            const cut = new AbortController();
            signal = AbortSignal.any([ctx.signal, cut.signal]);
            cutTimer = setTimeout(() => {
              const other = [...replicas.values()].some((x) => !tried.has(x.id) && x.breaker.state === 'CLOSED');
              if (!other || !budget.tryWithdraw()) return;
              reserved = true;
              cut.abort(
                new BallastError(
                  ErrorCode.ResTimeout,
                  `oms ${r.id}: no answer within ${placeAttemptTimeoutMs} ms; trying another replica`,
                  { retryable: true },
                ),
              );
            }, placeAttemptTimeoutMs);
          }
          try {
            return await exchange(r, path, headers, body, signal, (done) => (maybeDone = done));
          } finally {
            clearTimeout(cutTimer);
          }
        });
      } catch (err) {
        last = err;
        if (maybeDone) {
          unknown = true;
          if (batch !== undefined) batch.seen.unknown = true;
        }
        if ((err as { retryable?: boolean }).retryable !== true || (unknown && !retryIfUnknown))
          throw unknown ? outcomeUnknown(err) : err;
      } finally {
        r.inFlight--;
      }
    }
    if (unknown) throw outcomeUnknown(last);
    throw last ?? unavailable('no oms replica is available');
  };

  // The orders (and, apart, the cancels) of one event-loop turn travel together (POST
  // /internal/v1/orders/batch, /internal/v1/cancels/batch): one HTTP exchange per batch instead of
  // per request, on both sides; each keeps its own result. Batches are self-clocked: each replica
  // has at most `batchesInFlightPerReplica` of a kind out, and what arrives while every usable
  // replica is at its limit leaves together when one answers (under light load every batch leaves
  // at once). A slow or hung replica holds only its own slots. With tracing on, they go one per
  // request, so each keeps its own client and server spans.
  type BatchResult = {
    ok: boolean;
    result?: unknown;
    error?: { code: string; msg: string; retryable: boolean; maybeDone?: boolean };
  };
  const batcher = <R>(path: string, field: string, decode: (j: unknown) => R, retryIfUnknown: boolean) => {
    type Queued = {
      body: unknown;
      queuedMs: number;
      signal: AbortSignal | undefined;
      /** The caller's, called when the request is first sent (see `EntryOptions` of @ballast/oms). */
      onDispatched: (() => void) | undefined;
      /** Answers the caller at once when its signal aborts while the request waits for a slot. */
      onAbort: (() => void) | undefined;
      resolve: (r: R) => void;
      reject: (e: unknown) => void;
    };
    let queue: Queued[] = [];
    /** Set while requests wait for a slot: answers the oldest when it has waited `timeoutMs`. */
    let expiry: ReturnType<typeof setTimeout> | undefined;
    /** The request leaves the queue (sent or answered): its abort no longer concerns the batcher. */
    const dequeued = (q: Queued): void => {
      if (q.onAbort !== undefined) q.signal?.removeEventListener('abort', q.onAbort);
    };
    /** Batches of this kind out, per replica (a batch sent before any replica was known: none). */
    const batchesOut = new Map<Replica | undefined, number>();
    const outOf = (r: Replica | undefined): number => batchesOut.get(r) ?? 0;
    /** Slots of a replica: a half-open breaker lets one probe through, so one. */
    const slotsOf = (r: Replica): number => (r.breaker.state === 'HALF_OPEN' ? 1 : perReplica);
    let scheduled = false;
    const release = (r: Replica | undefined): void => {
      const left = outOf(r) - 1;
      if (left > 0) batchesOut.set(r, left);
      else batchesOut.delete(r);
    };
    /**
     * Sends a batch whose slot `to` holds (counted by the caller); a retry on another replica
     * moves the slot there, so each replica's count is what it really has out. Frees the slot.
     */
    const sendBatch = async (queued: Queued[], to: Replica | undefined): Promise<void> => {
      let holder = to;
      const sentTo = (r: Replica): void => {
        if (r === holder) return;
        release(holder);
        batchesOut.set(r, outOf(r) + 1);
        holder = r;
      };
      try {
        await sendBatchVia(queued, to, sentTo);
      } finally {
        release(holder);
      }
    };
    const sendBatchVia = async (
      queued: Queued[],
      to: Replica | undefined,
      sentTo: (r: Replica) => void,
    ): Promise<void> => {
      let out: { results: BatchResult[] };
      // Each attempt sends only the requests whose callers still wait: a retry must not place an
      // order whose client has gone, and would learn nothing of it.
      const seen = { unknown: false };
      let batch = queued;
      const bodyOf = (): unknown => {
        if (batch.some((q) => q.signal?.aborted === true)) {
          batch = batch.filter((q) => {
            if (q.signal?.aborted !== true) return true;
            q.reject(q.signal.reason);
            return false;
          });
        }
        if (batch.length === 0) return undefined;
        // From here each may reach an oms (a retry's callers were told at the first attempt).
        for (const q of batch) {
          q.onDispatched?.();
          q.onDispatched = undefined;
        }
        return { [field]: batch.map((q) => q.body) };
      };
      try {
        out = (await attempt(path, bodyOf, undefined, retryIfUnknown, {
          first: to,
          seen,
          free: (r) => outOf(r) < slotsOf(r),
          sentTo,
        })) as typeof out;
      } catch (err) {
        for (const q of batch) q.reject(err);
        return;
      }
      // An answer whose items cannot be read: the oms took the batch, so each may stand.
      const results = Array.isArray(out?.results) ? out.results : undefined;
      batch.forEach((q, i) => {
        const r = results?.[i];
        const what = `oms: ${r?.error?.code ?? 'INTERNAL'}: ${r?.error?.msg ?? 'no result'}`;
        if (r?.ok === true) {
          // Placed (or cancelled) even if it cannot be decoded: then as if unanswered.
          try {
            q.resolve(decodedOrUnknown(decode, r.result));
          } catch (err) {
            q.reject(err);
          }
        } else if (r?.error?.maybeDone !== false || seen.unknown)
          // It may have been carried out: by this oms (a store's answer lost while its write or
          // append was out; an oms that does not say counts as such), or by one that an earlier
          // attempt reached and that never answered.
          q.reject(outcomeUnknown(new Error(what)));
        else if (r.error.retryable !== true)
          // Surely not carried out, and not a passing failure: the oms could not read this item
          // (a gateway/oms version mismatch), or a bug. Answered as a bug (500), not "retry".
          q.reject(new BallastError(ErrorCode.Internal, `oms: ${r.error.code}: ${r.error.msg}`));
        // Surely not carried out (a conflict, a refusal): unavailable (retryable, 503 + Retry-After).
        else q.reject(unavailable(what));
      });
    };
    const flush = (): void => {
      scheduled = false;
      // Requests that waited a whole call's timeout for a slot are answered, not sent: an order the
      // client was told failed is not placed. (One whose caller gave up left at its abort.)
      const oldestMs = performance.now() - timeoutMs;
      if (queue.length > 0 && (queue[0] as Queued).queuedMs <= oldestMs) {
        const err = unavailable(`oms: no replica could take the request within ${timeoutMs} ms`);
        queue = queue.filter((q) => {
          if (q.queuedMs > oldestMs) return true;
          dequeued(q);
          q.reject(err);
          return false;
        });
      }
      // One look at the breakers per flush (a state read can move OPEN to HALF_OPEN as time passes).
      const usable = usableReplicas();
      while (queue.length > 0) {
        // A usable replica with a free slot; while none is known, one batch at a time (it waits
        // for discovery in `attempt`).
        let to: Replica | undefined;
        if (replicas.size > 0) {
          to = choose(usable.filter((r) => outOf(r) < slotsOf(r)));
          // Every usable replica is at its limit: wait for an answer (one is out, so it comes).
          // With none usable (breakers open), send anyway: `attempt` answers unavailable at once.
          if (to === undefined && usable.length > 0) break;
        } else if (outOf(undefined) >= 1) break;
        const part = queue.length > MAX_BATCH ? queue.splice(0, MAX_BATCH) : queue;
        if (part === queue) queue = [];
        for (const q of part) dequeued(q);
        batchesOut.set(to, outOf(to) + 1);
        sendBatch(part, to)
          .catch((err: unknown) => {
            for (const q of part) q.reject(err); // settled ones ignore it
          })
          .finally(schedule);
      }
      // Blocked (every usable replica at its limit): the oldest is answered when its time is up,
      // even if no batch answers before.
      // (A timer already set is kept: due for an older request, it fires early, flushes, and sets
      // the next one, rather than a timer made and cleared on every turn under load.)
      if (queue.length > 0 && expiry === undefined) {
        const dueMs = (queue[0] as Queued).queuedMs + timeoutMs - performance.now();
        expiry = setTimeout(
          () => {
            expiry = undefined;
            flush();
          },
          Math.max(1, Math.ceil(dueMs)),
        );
        expiry.unref();
      } else if (queue.length === 0 && expiry !== undefined) {
        clearTimeout(expiry);
        expiry = undefined;
      }
    };
    /** Flushes after this turn's I/O, so what arrived in it joins the batch. */
    const schedule = (): void => {
      if (scheduled || queue.length === 0) return;
      scheduled = true;
      setImmediate(flush);
    };
    const send = (body: unknown, { signal, onDispatched }: EntryOptions): Promise<R> =>
      new Promise<R>((resolve, reject) => {
        signal?.throwIfAborted();
        const queuedMs = performance.now();
        const q: Queued = { body, queuedMs, signal, onDispatched, onAbort: undefined, resolve, reject };
        if (signal !== undefined) {
          q.onAbort = () => {
            const at = queue.indexOf(q);
            if (at >= 0) queue.splice(at, 1);
            reject(signal.reason);
          };
          signal.addEventListener('abort', q.onAbort, { once: true });
        }
        queue.push(q);
        schedule();
      });
    return {
      send,
      /** Requests waiting for a slot, and batches out (all replicas). */
      waiting: (): { queued: number; batchesOut: number } => {
        let out = 0;
        for (const n of batchesOut.values()) out += n;
        return { queued: queue.length, batchesOut: out };
      },
    };
  };

  const places = batcher('/internal/v1/orders/batch', 'orders', decodePlaceResult, true);
  const cancels = batcher('/internal/v1/cancels/batch', 'cancels', decodeCancelResult, false);

  return {
    // `signal`: a request still waiting for a slot (or for discovery) when it aborts is not sent,
    // and `onDispatched` is called when it is (see the batcher). With tracing on, a request is
    // sent at once.
    async place(input, options = {}): Promise<PlaceResult> {
      if (tracingEnabled()) {
        options.onDispatched?.();
        return decodedOrUnknown(
          decodePlaceResult,
          await call('/internal/v1/orders', encodePlaceInput(input), input.symbol, true),
        );
      }
      return places.send(encodePlaceInput(input), options);
    },
    async cancel(req, options = {}): Promise<CancelResult> {
      if (tracingEnabled()) {
        options.onDispatched?.();
        return decodedOrUnknown(
          decodeCancelResult,
          await call('/internal/v1/cancels', encodeCancelRequest(req), req.symbol, false),
        );
      }
      return cancels.send(encodeCancelRequest(req), options);
    },
    waiting() {
      const p = places.waiting();
      const c = cancels.waiting();
      return { queued: p.queued + c.queued, batchesOut: p.batchesOut + c.batchesOut };
    },
    get replicas() {
      return [...replicas.keys()];
    },
    async run(signal) {
      const every = o.refreshMs ?? 1000;
      while (!signal.aborted) {
        await discover();
        await new Promise<void>((res) => {
          const t = setTimeout(res, every);
          signal.addEventListener('abort', () => (clearTimeout(t), res()), { once: true });
        });
      }
      await Promise.all([...replicas.values()].map((r) => r.pool.close()));
    },
  };
}
