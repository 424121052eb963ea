/**
 * Checks one symbol's event log against its command log (invariant I5, and I2 within the log):
 *
 * - event sequences are 1, 2, 3, … (gap-free, increasing);
 * - the entries hold the events of commands 1, 2, 3, … in order, each entry a run of
 *   consecutive command-log entries, each with all its parts (see `encodeCommandResults` of
 *   `@ballast/engine`), with no command missing or twice, and none beyond the command log;
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
  decodeCommandResults,
  encodeCommandResults,
  type CommandResult,
} from '@ballast/engine';
import type { EventLog, LogEntry } from '@ballast/state';
import { commandLog, eventLog } from './symbol-replica.ts';

/** The outcome of {@link verifySymbolLog}. */
export interface SymbolLogReport {
  readonly symbol: string;
  /** Command-log entries (each holds one command, or an oms batch's several). */
  readonly commands: number;
  /** Event entries (each holds the events of one or more command-log entries). */
  readonly events: number;
  /** Command-log entries whose events are in the event log. */
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
  for (let i = 0; i < evts.length; i++) {
    const e = evts[i] as LogEntry;
    if (e.seq !== i + 1) problem(`${symbol}: event entry ${i + 1} has sequence ${e.seq}`);
    const results = decodeCommandResults(e.payload);
    if (results === undefined) {
      problem(`${symbol}: event ${e.seq} is not an entry of command results`);
      continue;
    }
    const first = (results[0] as CommandResult).cmdSeq;
    if (first !== matched + 1) problem(`${symbol}: event ${e.seq} starts at command ${first}, expected ${matched + 1}`);
    const replayed: CommandResult[] = [];
    let complete = true;
    for (let seq = first; seq <= (results.at(-1) as CommandResult).cmdSeq; seq++) {
      const c = cmds[seq - 1];
      if (c === undefined) {
        problem(`${symbol}: event ${e.seq} has no command ${seq}`);
        complete = false;
        break;
      }
      replayed.push(...applyCommandEntry(book, c.seq, c.payload));
    }
    matched = (results.at(-1) as CommandResult).cmdSeq;
    if (complete && encodeCommandResults(replayed) !== e.payload) {
      problem(`${symbol}: event ${e.seq} differs from a clean replay of commands ${first}..${matched}`);
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
