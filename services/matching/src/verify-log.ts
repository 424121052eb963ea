/**
 * Checks one symbol's event log against its command log (invariant I5, and I2 within the log):
 *
 * - event sequences are 1, 2, 3, … (gap-free, increasing);
 * - the entries hold the events of commands 1, 2, 3, … in order, each entry a run of
 *   consecutive command-log entries with their parts in order (an entry's parts split over
 *   consecutive event entries only where one ends and the next continues; see
 *   `encodeCommandResults` of `@ballast/engine`), with no command missing or twice, and none
 *   beyond the command log;
 * - each entry is byte-identical to what a fresh engine produces replaying the command log;
 * - no trade id appears twice.
 *
 * Reads both logs whole: meant for tests, benches and audits, not for the hot path.
 *
 * @module
 */
import {
  OrderBook,
  applyCommandEntry,
  comparePositions,
  decodeCommandResults,
  encodeCommandResults,
  type CommandResult,
} from '@ballast/engine';
import type { EventLog, LogEntry } from '@ballast/state';
import { commandLog, eventLog, takeThrough } from './symbol-replica.ts';

/** The outcome of {@link verifySymbolLog}. */
export interface SymbolLogReport {
  readonly symbol: string;
  /** Command-log entries (each holds one command, or an oms batch's several). */
  readonly commands: number;
  /** Event entries (each holds the events of one or more command-log entries). */
  readonly events: number;
  /** Command-log entries whose events (every part's) are in the event log. */
  readonly matched: number;
  /** Trades among the events. */
  readonly trades: number;
  /** Order ids the book accepted or rejected (every order matching has seen). */
  readonly orderIds: ReadonlySet<number>;
  /** Human-readable violations (at most 20); empty when every check holds. */
  readonly problems: readonly string[];
}

const readAll = async (log: EventLog, name: string, signal?: AbortSignal): Promise<LogEntry[]> => {
  const out: LogEntry[] = [];
  for (;;) {
    const got = await log.read(name, out.length + 1, 1000, signal !== undefined ? { signal } : {});
    if (got.length === 0) return out;
    out.push(...got);
  }
};

/** Verifies `symbol`'s logs; `signal` aborts the reads. */
export async function verifySymbolLog(log: EventLog, symbol: string, signal?: AbortSignal): Promise<SymbolLogReport> {
  const cmds = await readAll(log, commandLog(symbol), signal);
  const evts = await readAll(log, eventLog(symbol), signal);
  const problems: string[] = [];
  const problem = (p: string): void => {
    if (problems.length < 20) problems.push(p);
  };
  const book = new OrderBook();
  const tradeIds = new Set<number>();
  const orderIds = new Set<number>();
  let trades = 0;
  let matched = 0;
  /** Command-log entries applied to the book, and their results not yet met in an event entry. */
  let applied = 0;
  let pending: CommandResult[] = [];
  const at = (r: { cmdSeq: number; part?: number | undefined }): string =>
    r.part === undefined ? String(r.cmdSeq) : `${r.cmdSeq}.${r.part}`;
  for (let i = 0; i < evts.length; i++) {
    const e = evts[i] as LogEntry;
    if (e.seq !== i + 1) problem(`${symbol}: event entry ${i + 1} has sequence ${e.seq}`);
    const results = decodeCommandResults(e.payload);
    if (results === undefined) {
      problem(`${symbol}: event ${e.seq} is not an entry of command results`);
      continue;
    }
    // Where this entry must start: the rest of an entry whose events an earlier one split, or
    // the next entry's first command.
    const head = results[0] as CommandResult;
    const last = results.at(-1) as CommandResult;
    const expected = pending[0] ?? { cmdSeq: applied + 1, part: head.part === undefined ? undefined : 0 };
    if (comparePositions(head, expected) !== 0 || (head.part === undefined) !== (expected.part === undefined))
      problem(`${symbol}: event ${e.seq} starts at command ${at(head)}, expected ${at(expected)}`);
    let complete = true;
    while (applied < last.cmdSeq) {
      const c = cmds[applied];
      if (c === undefined) {
        problem(`${symbol}: event ${e.seq} has no command ${applied + 1}`);
        complete = false;
        break;
      }
      pending.push(...applyCommandEntry(book, c.seq, c.payload));
      applied = c.seq;
    }
    const { taken: replayed, rest } = takeThrough(pending, last);
    pending = rest;
    matched = pending.length === 0 ? applied : applied - 1;
    if (complete && (replayed.length === 0 || encodeCommandResults(replayed) !== e.payload)) {
      problem(`${symbol}: event ${e.seq} differs from a clean replay of commands ${at(head)}..${at(last)}`);
    }
    for (const r of results) {
      for (const ev of r.events) {
        if (ev.type === 'trade') {
          trades++;
          if (tradeIds.has(ev.tradeId)) problem(`${symbol}: trade ${ev.tradeId} appears twice`);
          tradeIds.add(ev.tradeId);
        } else if (ev.type === 'accepted' || ev.type === 'rejected') orderIds.add(ev.orderId);
      }
    }
  }
  return { symbol, commands: cmds.length, events: evts.length, matched, trades, orderIds, problems };
}
