/**
 * Waits for matching's result of a command: takes every symbol's event-log entries from where the
 * log was at start, as the process's market-data view reads them (`apply`; one consumer of the log
 * per process, not two), and keeps recent results by `(symbol, cmdSeq)`, so a request can learn
 * what its place or cancel did (fills, rejection, cancel) without polling the database.
 *
 * @module
 */
import { decodeCommandResults, type BookEvent } from '@ballast/engine';
import type { LogEntry } from '@ballast/state';

/** Recent command results. */
export interface OrderResults {
  /**
   * Takes entries of `evt.<symbol>` read by the follower of the log in this process (the
   * market-data view's `onLiveEntries`), in log order. Never throws.
   */
  apply(symbol: string, entries: readonly LogEntry[]): void;
  /**
   * The events of command `cmdSeq` of `symbol` (part `part` of that entry when it holds several
   * commands, see `applyCommandEntry` of `@ballast/engine`), or `undefined` after `timeoutMs`.
   */
  wait(symbol: string, cmdSeq: number, timeoutMs: number, part?: number): Promise<BookEvent[] | undefined>;
  /**
   * The sequence of the latest `evt.<symbol>` entry seen here that fills or ends an order of
   * `accountId` (0 when none is remembered): once the ledger has settled up to it, the account's
   * balances, trades and orders show everything this process has answered about them.
   */
  settleTarget(accountId: bigint, symbol: string): number;
  /**
   * If command `cmdSeq`'s result rejects the order (a rejection names no account), marks that
   * entry as touching `accountId`, so {@link settleTarget} covers it and the account's next reads
   * wait for the ledger to release what the order reserved: now when the result is held, else
   * when it arrives (an `ACK` answered first; at most `capacity` such notes, oldest dropped).
   */
  noteIfRejected(accountId: bigint, symbol: string, cmdSeq: number, part?: number): void;
}

/** The key of a command's result: its entry, and its part of the entry when it has one. */
const resultKey = (symbol: string, cmdSeq: number, part: number | undefined): string =>
  part === undefined ? `${symbol}:${cmdSeq}` : `${symbol}:${cmdSeq}.${part}`;

/** Creates the results store. Keeps at most `capacity` results, and as many (account, symbol) marks (oldest dropped). */
export function createOrderResults(
  options: { capacity?: number; onError?: (m: string, e: unknown) => void } = {},
): OrderResults {
  const capacity = options.capacity ?? 50_000;
  const results = new Map<string, { events: BookEvent[]; seq: number }>();
  /** Accounts of orders answered before their result, by `resultKey` (see noteIfRejected). */
  const awaitingResult = new Map<string, number>();
  const rejects = (events: readonly BookEvent[]): boolean => events.some((ev) => ev.type === 'rejected');
  const waiters = new Map<string, ((events: BookEvent[]) => void)[]>();
  // Per (account, symbol): the last entry that traded or ended one of its orders. Re-inserted on
  // update, so the oldest entries are the first dropped past `capacity`.
  const touched = new Map<string, number>();
  const touch = (account: number, symbol: string, seq: number): void => {
    const k = `${account}:${symbol}`;
    touched.delete(k);
    touched.set(k, seq);
    if (touched.size > capacity) touched.delete(touched.keys().next().value as string);
  };
  const put = (k: string, events: BookEvent[], seq: number): void => {
    results.set(k, { events, seq });
    if (results.size > capacity) results.delete(results.keys().next().value as string);
    const ws = waiters.get(k);
    if (ws !== undefined) {
      waiters.delete(k);
      for (const w of ws) w(events);
    }
  };
  const apply = (symbol: string, entries: readonly LogEntry[]): void => {
    for (const e of entries) {
      const results = decodeCommandResults(e.payload);
      if (results === undefined) {
        options.onError?.(`order results: malformed entry ${e.seq} of evt.${symbol}`, undefined);
        continue;
      }
      for (const r of results) {
        try {
          for (const ev of r.events) {
            if (ev.type === 'trade') {
              touch(ev.makerAccount, symbol, e.seq);
              touch(ev.takerAccount, symbol, e.seq);
            } else if (ev.type === 'done') touch(ev.account, symbol, e.seq);
          }
          const k = resultKey(symbol, r.cmdSeq, r.part);
          const account = awaitingResult.get(k);
          if (account !== undefined) {
            awaitingResult.delete(k);
            if (rejects(r.events)) touch(account, symbol, e.seq);
          }
          put(k, r.events, e.seq);
        } catch (err) {
          options.onError?.(`order results: malformed events of command ${r.cmdSeq} in evt.${symbol}`, err);
        }
      }
    }
  };
  return {
    apply,
    settleTarget(accountId, symbol) {
      return touched.get(`${accountId}:${symbol}`) ?? 0;
    },
    noteIfRejected(accountId, symbol, cmdSeq, part) {
      const k = resultKey(symbol, cmdSeq, part);
      const r = results.get(k);
      if (r === undefined) {
        awaitingResult.set(k, Number(accountId));
        if (awaitingResult.size > capacity) awaitingResult.delete(awaitingResult.keys().next().value as string);
      } else if (rejects(r.events) && r.seq > (touched.get(`${accountId}:${symbol}`) ?? 0))
        touch(Number(accountId), symbol, r.seq);
    },
    wait(symbol, cmdSeq, timeoutMs, part) {
      const k = resultKey(symbol, cmdSeq, part);
      const found = results.get(k);
      if (found !== undefined) return Promise.resolve(found.events);
      return new Promise((resolve) => {
        const done = (events: BookEvent[] | undefined): void => {
          clearTimeout(timer);
          resolve(events);
        };
        const timer = setTimeout(() => {
          const list = waiters.get(k);
          if (list !== undefined) {
            const i = list.indexOf(done);
            if (i >= 0) list.splice(i, 1);
            if (list.length === 0) waiters.delete(k);
          }
          resolve(undefined);
        }, timeoutMs);
        let list = waiters.get(k);
        if (list === undefined) waiters.set(k, (list = []));
        list.push(done);
      });
    },
  };
}
