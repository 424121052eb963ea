/**
 * Tiny flag parser for bench scripts: `--name value` and `--flag`, with defaults and a clear
 * error (exit 2) for unknown or malformed flags.
 *
 * @module
 */
import { parseArgs } from 'node:util';

/** Parses `argv` with `node:util` parseArgs; prints the problem and exits 2 on bad input. */
export function parseBenchArgs<T extends Record<string, { type: 'string' | 'boolean'; default?: string | boolean }>>(
  argv: string[],
  options: T,
): Record<keyof T, string | boolean | undefined> {
  try {
    const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
    return values as unknown as Record<keyof T, string | boolean | undefined>;
  } catch (err) {
    console.error(`bench: ${(err as Error).message}`);
    process.exit(2);
  }
}

/** A positive safe integer from a flag, or exit 2 naming the flag. */
export function intFlag(name: string, value: string | boolean | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isSafeInteger(n) || n <= 0) {
    console.error(`bench: --${name} must be a positive integer, got ${String(value)}`);
    process.exit(2);
  }
  return n;
}
