/**
 * Logging: pino, JSON lines by default, pretty-printed when stdout is a terminal.
 *
 * @module
 */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** @default 'info' */
  readonly level?: string;
  /** Pretty output (for a terminal). @default false */
  readonly pretty?: boolean;
  /** Fields on every line, e.g. `{ service: 'ballast' }`. */
  readonly base?: Record<string, unknown>;
}

/**
 * Creates the process logger: JSON lines to stdout (pino's asynchronous destination), or pretty
 * lines through pino-pretty. At exit pino flushes what is still queued; the root package.json
 * pins pino's sonic-boom to 5, whose flush gives up on a broken pipe (EPIPE): sonic-boom 4 retried
 * it forever, so a process whose stdout reader had gone (a replica whose supervisor was killed,
 * `… | head`) never exited.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino({
    level: options.level ?? 'info',
    base: options.base ?? {},
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(options.pretty === true
      ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } }
      : {}),
  });
}
