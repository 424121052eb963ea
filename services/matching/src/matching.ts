/**
 * The matching role: one order book per symbol, fed by the symbol's command log in order; the
 * events of each command are appended to the symbol's event log as one entry
 * (`{ cmdSeq, events }`, de-duplication key `c<cmdSeq>`), with the expected last sequence so a
 * second writer is refused.
 *
 * On start a book is rebuilt: latest snapshot, then the commands whose events are already in
 * the event log are re-applied silently (the engine is deterministic), then matching continues
 * from the first command without events. Snapshots are taken every `snapshotEveryCommands`.
 *
 * Tracing (when on): a command whose entry carries a sampled W3C trace context gets a consumer
 * span `apply cmd.<symbol>` (its child spans: the log read that fetched it and the event append
 * of its batch, with the batch's times), and its event entry carries that span's context, so the
 * ledger and market data continue the order's trace. Untraced commands cost one check each.
 *
 * @module
 */
import type { Database } from '@ballast/db';
import { OrderBook, type BookEvent, type Command } from '@ballast/engine';
import type { Markets } from '@ballast/contracts';
import {
  SpanKind,
  contextFromCarrier,
  endSpan,
  startSpan,
  traceCarrier,
  tracingEnabled,
  type Span,
} from '@ballast/runtime';
import { tailLog, type AppendInput, type EventLog, type LogEntry } from '@ballast/state';
import type { Kysely } from 'kysely';

/** The event log of a symbol. */
export const eventLog = (symbol: string): string => `evt.${symbol}`;

/** One event-log entry: the events of one command. */
export interface EventEntry {
  readonly cmdSeq: number;
  readonly events: BookEvent[];
}

/** Construction config of the matching role. */
export interface MatchingConfig {
  readonly db: Kysely<Database>;
  readonly log: EventLog;
  readonly markets: Markets;
  /** Take a snapshot after this many commands. @default 1000 */
  readonly snapshotEveryCommands?: number;
  /** @default Date.now */
  readonly nowMs?: () => number;
  readonly onError?: (message: string, err: unknown) => void;
  /** Called after each batch is appended, with the number of commands applied. */
  readonly onApplied?: (symbol: string, commands: number, trades: number) => void;
}

/** The matching role. */
export interface Matching {
  /** Rebuilds every book, then matches until `signal` aborts; resolves when all loops stopped. */
  run(signal: AbortSignal): Promise<void>;
  /** Resolves once every book is rebuilt and matching has started. */
  ready(): Promise<void>;
  /** The live book of a symbol (read-only use: tests, diagnostics). */
  book(symbol: string): OrderBook | undefined;
}

const decode = (payload: string): Command => {
  try {
    return JSON.parse(payload) as Command;
  } catch {
    return {} as Command; // rejected by the engine as INVALID_COMMAND
  }
};

/** Creates the matching role. */
export function createMatching(config: MatchingConfig): Matching {
  const { db, log } = config;
  const every = config.snapshotEveryCommands ?? 1000;
  const now = config.nowMs ?? Date.now;
  const books = new Map<string, OrderBook>();
  let resolveReady!: () => void;
  const readyP = new Promise<void>((r) => (resolveReady = r));

  const runSymbol = async (symbol: string, signal: AbortSignal, started: () => void): Promise<void> => {
    const cmdLog = `cmd.${symbol}`;
    const evtLog = eventLog(symbol);
    const snap = await db
      .selectFrom('snapshots')
      .select(['cmd_seq', 'bytes'])
      .where('shard', '=', symbol)
      .orderBy('cmd_seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    const book = snap === undefined ? new OrderBook() : OrderBook.restore(snap.bytes);
    const stepDown = new AbortController();
    let cmdSeq = snap === undefined ? 0 : Number(snap.cmd_seq);
    let evtSeq = await log.lastSeq(evtLog, { signal });
    let doneUpTo = 0;
    if (evtSeq > 0) {
      const last = (await log.read(evtLog, evtSeq, 1, { signal }))[0] as LogEntry;
      doneUpTo = (JSON.parse(last.payload) as EventEntry).cmdSeq;
    }
    // Re-apply commands whose events are already in the log.
    while (cmdSeq < doneUpTo) {
      const entries = await log.read(cmdLog, cmdSeq + 1, Math.min(1000, doneUpTo - cmdSeq), { signal });
      if (entries.length === 0) break;
      for (const e of entries) book.apply(decode(e.payload));
      cmdSeq = (entries.at(-1) as LogEntry).seq;
    }
    books.set(symbol, book);
    let lastSnapshotAt = snap === undefined ? 0 : Number(snap.cmd_seq);
    started();

    // With tracing on, the tail reads through this wrapper, which remembers when the last read ran.
    let lastRead = { start: 0, end: 0 };
    const tailed: EventLog = tracingEnabled()
      ? {
          ...log,
          read: async (name, fromSeq, limit, options) => {
            const start = performance.now();
            const entries = await log.read(name, fromSeq, limit, options);
            lastRead = { start, end: performance.now() };
            return entries;
          },
        }
      : log;

    await tailLog(
      tailed,
      cmdLog,
      async (entries) => {
        const out: AppendInput[] = [];
        let trades = 0;
        let spans: Span[] | undefined;
        for (const e of entries) {
          const command = decode(e.payload);
          const parent = e.headers !== undefined ? contextFromCarrier(e.headers) : undefined;
          let span: Span | undefined;
          if (parent !== undefined) {
            span = startSpan(`apply ${cmdLog}`, {
              parent,
              kind: SpanKind.CONSUMER,
              attributes: {
                'messaging.operation.type': 'process',
                'messaging.destination.name': cmdLog,
                'ballast.symbol': symbol,
                'ballast.cmd_seq': e.seq,
                'ballast.command': String(command.type),
                ...(typeof command.orderId === 'number' ? { 'ballast.order_id': command.orderId } : {}),
              },
            });
            endSpan(
              startSpan(`read ${cmdLog}`, {
                parent,
                kind: SpanKind.CLIENT,
                startTime: lastRead.start,
                attributes: { 'ballast.batch.size': entries.length },
              }),
              undefined,
              lastRead.end,
            );
            (spans ??= []).push(span);
          }
          const events = book.apply(command);
          for (const ev of events) if (ev.type === 'trade') trades++;
          const entry = { key: `c${e.seq}`, payload: JSON.stringify({ cmdSeq: e.seq, events }) };
          const headers = span !== undefined ? traceCarrier(span) : undefined;
          out.push(headers !== undefined ? { ...entry, headers } : entry);
          if (span !== undefined) span.setAttribute('ballast.events', events.length);
        }
        // The book has moved on: append these exact results until it works (or we stop and a
        // restart rebuilds the book from the log).
        const appendStart = spans !== undefined ? performance.now() : 0;
        for (let attempt = 0; ; attempt++) {
          try {
            const results = await log.append(evtLog, out, { expectedLastSeq: evtSeq });
            evtSeq = (results.at(-1) as { seq: number }).seq;
            if (spans !== undefined) traceAppend(spans, evtLog, appendStart, entries.length);
            break;
          } catch (err) {
            if (spans !== undefined && (signal.aborted || (err as { code?: string }).code === 'STATE_FENCED')) {
              for (const span of spans) endSpan(span, err);
            }
            if (signal.aborted) throw err;
            if ((err as { code?: string }).code === 'STATE_FENCED') {
              // Another writer appended to this shard: this book is no longer authoritative.
              config.onError?.(`matching ${symbol}: fenced by another writer; stepping down`, err);
              stepDown.abort(err);
              throw err;
            }
            config.onError?.(`matching ${symbol}: event append failed (attempt ${attempt + 1}); retrying`, err);
            await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
          }
        }
        cmdSeq = (entries.at(-1) as LogEntry).seq;
        config.onApplied?.(symbol, entries.length, trades);
        if (cmdSeq - lastSnapshotAt >= every) {
          lastSnapshotAt = cmdSeq;
          try {
            await db
              .insertInto('snapshots')
              .values({
                shard: symbol,
                cmd_seq: cmdSeq,
                evt_seq: evtSeq,
                bytes: Buffer.from(book.snapshot()),
                created_ms: now(),
              })
              .onConflict((oc) => oc.columns(['shard', 'cmd_seq']).doNothing())
              .execute();
            // Keep the two newest.
            const keep = await db
              .selectFrom('snapshots')
              .select('cmd_seq')
              .where('shard', '=', symbol)
              .orderBy('cmd_seq', 'desc')
              .limit(2)
              .execute();
            const oldest = keep.at(-1)?.cmd_seq;
            if (oldest !== undefined) {
              await db.deleteFrom('snapshots').where('shard', '=', symbol).where('cmd_seq', '<', oldest).execute();
            }
          } catch (err) {
            config.onError?.(`matching ${symbol}: snapshot failed`, err);
          }
        }
      },
      {
        fromSeq: cmdSeq + 1,
        signal: AbortSignal.any([signal, stepDown.signal]),
        onError: (err) => config.onError?.(`matching ${symbol}: batch failed`, err),
      },
    );
  };

  /** Ends each command's span after its batch's event append, with a child span for the append. */
  const traceAppend = (spans: Span[], evtLog: string, start: number, batch: number): void => {
    const end = performance.now();
    for (const span of spans) {
      const append = startSpan(`append ${evtLog}`, {
        parent: span,
        kind: SpanKind.CLIENT,
        startTime: start,
        attributes: { 'ballast.batch.size': batch },
      });
      endSpan(append, undefined, end);
      span.end(end);
    }
  };

  return {
    async run(signal) {
      const symbols = config.markets.list.map((m) => m.symbol);
      let started = 0;
      const loops = symbols.map((s) =>
        runSymbol(s, signal, () => {
          if (++started === symbols.length) resolveReady();
        }).catch((err) => {
          config.onError?.(`matching ${s}: stopped`, err);
        }),
      );
      if (symbols.length === 0) resolveReady();
      await Promise.all(loops);
    },
    ready: () => readyP,
    book: (symbol) => books.get(symbol),
  };
}
