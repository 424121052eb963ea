/**
 * One command-log entry applied to a book. An entry's payload is one command (a JSON object) or
 * several (a JSON array of objects, applied in order: the oms appends a batch's commands for one
 * symbol as one entry, so the log stores, and every reader receives, one message per batch
 * rather than one per order).
 *
 * A payload that is not JSON, or an empty array, is applied as an empty command, and an element
 * that is not a command as it is: the book rejects both (`INVALID_COMMAND`), deterministically, so
 * leader, standby and a replay agree.
 *
 * @module
 */
import type { CommandResult } from './command-results.ts';
import type { OrderBook } from './order-book.ts';
import type { Command } from './types.ts';

/** The commands of an entry payload, and whether it held several (an array). */
export function decodeCommandEntry(payload: string): { readonly commands: Command[]; readonly several: boolean } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return { commands: [{} as Command], several: false };
  }
  if (!Array.isArray(parsed)) return { commands: [parsed as Command], several: false };
  if (parsed.length === 0) return { commands: [{} as Command], several: false };
  return { commands: parsed as Command[], several: true };
}

/**
 * Applies command-log entry `cmdSeq` (its payload, or the payload already decoded by
 * {@link decodeCommandEntry}) to `book`: one result for an entry of one command, one per part
 * (numbered from 0) for an entry of several.
 */
export function applyCommandEntry(
  book: OrderBook,
  cmdSeq: number,
  entry: string | ReturnType<typeof decodeCommandEntry>,
): CommandResult[] {
  const { commands, several } = typeof entry === 'string' ? decodeCommandEntry(entry) : entry;
  if (!several) return [{ cmdSeq, events: book.apply(commands[0] as Command) }];
  return commands.map((c, part) => ({ cmdSeq, part, events: book.apply(c) }));
}
