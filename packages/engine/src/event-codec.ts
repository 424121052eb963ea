/**
 * Canonical bytes for events: one JSON object a line, fields in the order the engine creates
 * them. Two runs are "byte-identical" when these bytes are equal.
 *
 * @module
 */
import type { BookEvent } from './types.ts';

const encoder = new TextEncoder();

/** One event as its canonical JSON text (no trailing newline). */
export function encodeEvent(event: BookEvent): string {
  return JSON.stringify(event);
}

/** Events as canonical bytes: UTF-8 JSON lines, each ending in `\n`. */
export function encodeEvents(events: readonly BookEvent[]): Uint8Array {
  let text = '';
  for (const e of events) text += JSON.stringify(e) + '\n';
  return encoder.encode(text);
}
