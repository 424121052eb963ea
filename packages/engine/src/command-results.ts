/**
 * The payload of one event-log entry: the events of the commands of one command-log entry, or
 * of a run of consecutive command-log entries (a matching batch), by their sequence in the
 * command log.
 *
 * A command-log entry holds one command (a JSON object) or several (a JSON array: the oms appends
 * each batch's commands for a symbol as one entry, see {@link applyCommandEntry}). The commands
 * of a several-command entry are its parts, numbered from 0.
 *
 * - one entry of one command: `{"cmdSeq":7,"events":[…]}` (the format of every entry before runs
 *   existed);
 * - one entry of several: `{"cmdSeq":7,"parts":[[…],[…]]}`, the events of its parts in order;
 * - a run: `{"cmdSeq":9,"fromCmdSeq":7,"results":[[…],{"parts":[[…],[…]]},[…]]}`, the events of
 *   entries 7, 8 (two parts) and 9 in order.
 *
 * The events of one entry of several commands may be split over consecutive event entries (when
 * they are too many for one message): a payload's last entry may stop before its last part, and
 * the next payload's first entry then starts at a later part, which it names (`"from"`:
 * `{"cmdSeq":7,"from":120,"parts":[…]}`, or `{"from":120,"parts":[…]}` as a run's first element).
 *
 * `cmdSeq` is the last entry in all forms, so a reader that only wants "how far has matching
 * come" reads one field. Encoding is canonical (fields in this order), so two engines that
 * produced the same events produce the same bytes: a standby compares entries byte for byte.
 *
 * @module
 */
import type { BookEvent } from './types.ts';

/**
 * The events one command produced, with the sequence of its entry in the command log and, for a
 * command of a several-command entry, its index there (`part`, from 0; absent for an entry of
 * one command).
 */
export interface CommandResult {
  readonly cmdSeq: number;
  readonly part?: number;
  readonly events: BookEvent[];
}

/** One entry's element of a payload: its events, or its parts' events (from part `from`). */
type EntryElement = BookEvent[] | { from?: number; parts: BookEvent[][] };

/**
 * Groups `results` by entry, checking that entries are consecutive and that each entry's parts
 * follow one another from 0 (the first entry's may start later), or it has one result without a
 * part. Throws a RangeError otherwise.
 */
const byEntry = (results: readonly CommandResult[]): { first: number; elements: EntryElement[] } => {
  const head = results[0];
  if (head === undefined) throw new RangeError('encodeCommandResults: no results');
  const elements: EntryElement[] = [];
  let seq = head.cmdSeq - 1;
  for (let i = 0; i < results.length;) {
    const r = results[i] as CommandResult;
    if (r.cmdSeq !== seq + 1) throw new RangeError('encodeCommandResults: commands are not consecutive');
    seq = r.cmdSeq;
    if (r.part === undefined) {
      elements.push(r.events);
      i++;
      continue;
    }
    const from = r.part;
    if (!(Number.isSafeInteger(from) && from >= 0) || (from > 0 && elements.length > 0))
      throw new RangeError('encodeCommandResults: only the first entry may start after its part 0');
    const parts: BookEvent[][] = [];
    while (i < results.length && (results[i] as CommandResult).cmdSeq === seq) {
      const p = results[i] as CommandResult;
      if (p.part !== from + parts.length) throw new RangeError('encodeCommandResults: parts are not consecutive');
      parts.push(p.events);
      i++;
    }
    elements.push(from > 0 ? { from, parts } : { parts });
  }
  return { first: head.cmdSeq, elements };
};

/**
 * The entry payload of `results`: the commands of consecutive command-log entries (`cmdSeq`
 * increasing by one from entry to entry, each entry's parts in order from 0; the first entry's
 * may start at a later part, continuing an earlier payload, and the last entry's may stop before
 * its last), at least one. Throws a RangeError for an empty or non-consecutive list (a caller's
 * bug).
 */
export function encodeCommandResults(results: readonly CommandResult[]): string {
  const { first, elements } = byEntry(results);
  if (elements.length === 1) {
    const only = elements[0] as EntryElement;
    if (Array.isArray(only)) return JSON.stringify({ cmdSeq: first, events: only });
    return only.from !== undefined
      ? JSON.stringify({ cmdSeq: first, from: only.from, parts: only.parts })
      : JSON.stringify({ cmdSeq: first, parts: only.parts });
  }
  return JSON.stringify({ cmdSeq: first + elements.length - 1, fromCmdSeq: first, results: elements });
}

/** The results of one entry's element (`first`: the payload's first), or `undefined` when it is not one. */
const fromElement = (cmdSeq: number, element: unknown, first: boolean): CommandResult[] | undefined => {
  if (Array.isArray(element)) return [{ cmdSeq, events: element as BookEvent[] }];
  const e = element as { from?: unknown; parts?: unknown } | null;
  const parts = e?.parts;
  if (!Array.isArray(parts) || parts.length === 0) return undefined;
  let from = 0;
  if (e?.from !== undefined) {
    // Only a payload's first entry continues one, from a part after 0 (0 is never written).
    if (!first || !isSeq(e.from)) return undefined;
    from = e.from;
  }
  const out: CommandResult[] = [];
  for (let i = 0; i < parts.length; i++) {
    const events: unknown = parts[i];
    if (!Array.isArray(events)) return undefined;
    out.push({ cmdSeq, part: from + i, events: events as BookEvent[] });
  }
  return out;
};

/**
 * The command results of an entry payload in command order, or `undefined` when it is not one
 * (not JSON, a sequence that is not a positive integer, events that are not arrays, a run whose
 * length does not match its sequences, parts that are not a non-empty list, a `from` that is not
 * a positive integer or not on the first entry). The events themselves are not validated.
 */
export function decodeCommandResults(payload: string): CommandResult[] | undefined {
  let p: {
    cmdSeq?: unknown;
    fromCmdSeq?: unknown;
    events?: unknown;
    from?: unknown;
    parts?: unknown;
    results?: unknown;
  };
  try {
    p = JSON.parse(payload) as typeof p;
  } catch {
    return undefined;
  }
  if (p === null || typeof p !== 'object' || !isSeq(p.cmdSeq)) return undefined;
  if (p.fromCmdSeq === undefined) {
    if (p.events !== undefined)
      return Array.isArray(p.events) && p.from === undefined && p.parts === undefined
        ? [{ cmdSeq: p.cmdSeq, events: p.events }]
        : undefined;
    return fromElement(p.cmdSeq, p.from !== undefined ? { from: p.from, parts: p.parts } : { parts: p.parts }, true);
  }
  const { fromCmdSeq, results } = p;
  if (!isSeq(fromCmdSeq) || fromCmdSeq > p.cmdSeq) return undefined;
  if (!Array.isArray(results) || results.length !== p.cmdSeq - fromCmdSeq + 1) return undefined;
  const out: CommandResult[] = [];
  for (let i = 0; i < results.length; i++) {
    const got = fromElement(fromCmdSeq + i, results[i], i === 0);
    if (got === undefined) return undefined;
    out.push(...got);
  }
  return out;
}

const isSeq = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n > 0;

/**
 * Compares two command positions (entry sequence, then part; an entry of one command is part 0):
 * negative when `a` comes first, 0 when the same, positive when `a` comes after.
 */
export const comparePositions = (
  a: { readonly cmdSeq: number; readonly part?: number | undefined },
  b: { readonly cmdSeq: number; readonly part?: number | undefined },
): number => (a.cmdSeq !== b.cmdSeq ? a.cmdSeq - b.cmdSeq : (a.part ?? 0) - (b.part ?? 0));
