/**
 * The payload of one event-log entry: the events of one command, or of a run of consecutive
 * commands (a matching batch), by their sequence in the command log.
 *
 * - one command: `{"cmdSeq":7,"events":[…]}` (the format of every entry before runs existed);
 * - a run: `{"cmdSeq":9,"fromCmdSeq":7,"results":[[…],[…],[…]]}`, the events of commands 7, 8
 *   and 9 in order.
 *
 * `cmdSeq` is the last command in both, so a reader that only wants "how far has matching come"
 * reads one field. Encoding is canonical (fields in this order), so two engines that produced
 * the same events produce the same bytes: a standby compares entries byte for byte.
 *
 * @module
 */
import type { BookEvent } from './types.ts';

/** The events one command produced, with the command's sequence in its command log. */
export interface CommandResult {
  readonly cmdSeq: number;
  readonly events: BookEvent[];
}

/**
 * The entry payload of `results`: consecutive commands (`cmdSeq` increasing by one), at least
 * one. Throws a RangeError for an empty or non-consecutive list (a caller's bug).
 */
export function encodeCommandResults(results: readonly CommandResult[]): string {
  const first = results[0];
  if (first === undefined) throw new RangeError('encodeCommandResults: no results');
  if (results.length === 1) return JSON.stringify({ cmdSeq: first.cmdSeq, events: first.events });
  for (let i = 1; i < results.length; i++) {
    if ((results[i] as CommandResult).cmdSeq !== first.cmdSeq + i) {
      throw new RangeError('encodeCommandResults: commands are not consecutive');
    }
  }
  return JSON.stringify({
    cmdSeq: first.cmdSeq + results.length - 1,
    fromCmdSeq: first.cmdSeq,
    results: results.map((r) => r.events),
  });
}

/**
 * The command results of an entry payload in command order, or `undefined` when it is not one
 * (not JSON, a sequence that is not a positive integer, events that are not arrays, a run whose
 * length does not match its sequences). The events themselves are not validated.
 */
export function decodeCommandResults(payload: string): CommandResult[] | undefined {
  let p: { cmdSeq?: unknown; fromCmdSeq?: unknown; events?: unknown; results?: unknown };
  try {
    p = JSON.parse(payload) as typeof p;
  } catch {
    return undefined;
  }
  if (p === null || typeof p !== 'object' || !isSeq(p.cmdSeq)) return undefined;
  if (p.fromCmdSeq === undefined) return Array.isArray(p.events) ? [{ cmdSeq: p.cmdSeq, events: p.events }] : undefined;
  const { fromCmdSeq, results } = p;
  if (!isSeq(fromCmdSeq) || fromCmdSeq > p.cmdSeq) return undefined;
  if (!Array.isArray(results) || results.length !== p.cmdSeq - fromCmdSeq + 1) return undefined;
  const out: CommandResult[] = [];
  for (let i = 0; i < results.length; i++) {
    const events: unknown = results[i];
    if (!Array.isArray(events)) return undefined;
    out.push({ cmdSeq: fromCmdSeq + i, events: events as BookEvent[] });
  }
  return out;
}

const isSeq = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n > 0;
