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
 * `cmdSeq` is the last entry in all three, so a reader that only wants "how far has matching
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

/** One entry's element of a payload: its events, or its parts' events. */
type EntryElement = BookEvent[] | { parts: BookEvent[][] };

/**
 * Groups `results` by entry, checking that entries are consecutive and that each entry's parts
 * are 0, 1, 2, … (or it has one result without a part). Throws a RangeError otherwise.
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
    const parts: BookEvent[][] = [];
    while (i < results.length && (results[i] as CommandResult).cmdSeq === seq) {
      const p = results[i] as CommandResult;
      if (p.part !== parts.length) throw new RangeError('encodeCommandResults: parts are not 0, 1, 2, …');
      parts.push(p.events);
      i++;
    }
    elements.push({ parts });
  }
  return { first: head.cmdSeq, elements };
};

/**
 * The entry payload of `results`: the commands of consecutive command-log entries (`cmdSeq`
 * increasing by one from entry to entry, each entry's parts in order), at least one. Throws a
 * RangeError for an empty or non-consecutive list (a caller's bug).
 */
export function encodeCommandResults(results: readonly CommandResult[]): string {
  const { first, elements } = byEntry(results);
  if (elements.length === 1) {
    const only = elements[0] as EntryElement;
    return Array.isArray(only)
      ? JSON.stringify({ cmdSeq: first, events: only })
      : JSON.stringify({ cmdSeq: first, parts: only.parts });
  }
  return JSON.stringify({ cmdSeq: first + elements.length - 1, fromCmdSeq: first, results: elements });
}

/** The results of one entry's element, or `undefined` when it is not one. */
const fromElement = (cmdSeq: number, element: unknown): CommandResult[] | undefined => {
  if (Array.isArray(element)) return [{ cmdSeq, events: element as BookEvent[] }];
  const parts = (element as { parts?: unknown } | null)?.parts;
  if (!Array.isArray(parts) || parts.length === 0) return undefined;
  const out: CommandResult[] = [];
  for (let part = 0; part < parts.length; part++) {
    const events: unknown = parts[part];
    if (!Array.isArray(events)) return undefined;
    out.push({ cmdSeq, part, events: events as BookEvent[] });
  }
  return out;
};

/**
 * The command results of an entry payload in command order, or `undefined` when it is not one
 * (not JSON, a sequence that is not a positive integer, events that are not arrays, a run whose
 * length does not match its sequences, parts that are not a non-empty list). The events
 * themselves are not validated.
 */
export function decodeCommandResults(payload: string): CommandResult[] | undefined {
  let p: { cmdSeq?: unknown; fromCmdSeq?: unknown; events?: unknown; parts?: unknown; results?: unknown };
  try {
    p = JSON.parse(payload) as typeof p;
  } catch {
    return undefined;
  }
  if (p === null || typeof p !== 'object' || !isSeq(p.cmdSeq)) return undefined;
  if (p.fromCmdSeq === undefined) {
    if (p.events !== undefined) return Array.isArray(p.events) ? [{ cmdSeq: p.cmdSeq, events: p.events }] : undefined;
    return fromElement(p.cmdSeq, { parts: p.parts });
  }
  const { fromCmdSeq, results } = p;
  if (!isSeq(fromCmdSeq) || fromCmdSeq > p.cmdSeq) return undefined;
  if (!Array.isArray(results) || results.length !== p.cmdSeq - fromCmdSeq + 1) return undefined;
  const out: CommandResult[] = [];
  for (let i = 0; i < results.length; i++) {
    const got = fromElement(fromCmdSeq + i, results[i]);
    if (got === undefined) return undefined;
    out.push(...got);
  }
  return out;
}

const isSeq = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n > 0;
