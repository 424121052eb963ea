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
 * Creates the process logger. JSON lines go to stdout with synchronous writes: pino's default
 * (asynchronous) stdout flushes what is still queued when the process exits, and that flush
 * (sonic-boom 4) retries a write that failed with EPIPE forever, so a process whose stdout reader
 * had gone (a replica whose supervisor was killed, `… | head`) never exited. Written
 * synchronously, a line that meets EPIPE turns logging off instead (pino's broken-pipe handling)
 * and there is nothing left to flush at exit. Operational logs are a few lines a second, so the
 * write on the event loop costs nothing that matters.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const settings = {
    level: options.level ?? 'info',
    base: options.base ?? {},
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (options.pretty === true)
    return pino({
      ...settings,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } },
    });
  return pino(settings, pino.destination({ dest: 1, sync: true }));
}
