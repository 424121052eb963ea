/**
 * One symbol's book on one matching replica, as follower or leader.
 *
 * The book always stands at the state after command-log entry `cmdSeq` (one command, or the
 * several of an oms batch: `applyCommandEntry` of `@ballast/engine`), and `evtSeq` is the last
 * event-log entry applied, which holds that entry's events (or, when the entry's events were
 * split, their first parts: the rest are `pending`). An event entry holds the events of a run of
 * consecutive command-log entries, one run per batch the leader applied (`encodeCommandResults`
 * of `@ballast/engine`: `{ cmdSeq, events }` for one command, `{ cmdSeq, parts }` for one entry
 * of several, key `c<cmdSeq>`; `{ cmdSeq, fromCmdSeq, results }` for several entries, key
 * `c<from>-<to>`). One entry per batch rather than per command, on both logs: each entry is a
 * message JetStream stores and delivers to every reader, and on a small machine the messages,
 * not the bytes, are the cost. A run stops at {@link MAX_ENTRY_BYTES} (between command-log
 * entries, or inside one whose events alone exceed it: `{ cmdSeq, from, parts }` continues it),
 * and a command that continues a sampled trace gets an entry of its own, whose headers carry its
 * trace context.
 *
 * - `warm`: the latest snapshot, then every command whose events are in the event log (read to
 *   its end), re-applied silently (the engine is deterministic).
 * - `follow` (hot standby): tails the event log and, for each entry, applies the commands up to
 *   its `cmdSeq` from the command log — so the book never runs ahead of what the leader
 *   published. Each re-computed entry is compared byte for byte with the leader's (a mismatch is
 *   reported: it would mean the engine is not deterministic).
 * - `lead`: catches up with the event log's end, then tails the command log from the next
 *   command and appends each batch's events with the expected last sequence (fencing). Before
 *   each batch, and before each append attempt, it checks the lease's local deadline; a leader
 *   past it stops without writing. A fenced append (another writer moved the log) or a batch
 *   applied but not appended leaves the book ahead of the log: it is marked dirty and rebuilt by
 *   the next `warm`.
 *
 * Snapshots (leader only) after `snapshotEveryCommands` commands or `snapshotEveryMs` with new
 * commands, whichever first, and never before as many commands as the smaller of the book's
 * size (orders) now and at the last snapshot: a snapshot's size grows with the book, so a deep
 * book is snapshotted less often and each snapshot's cost is spread over about as many commands
 * as it writes orders, whatever the book's size (a book of 20,000 orders at 2,500 commands/s was
 * otherwise written, 1.7 MB a time, 2.5 times a second). The smaller of the two: a growing book
 * (every command adding an order) still gets snapshots, and a book that emptied gets one soon. A
 * rebuild then replays at most that many commands, or `snapshotEveryCommands` when more.
 * The newest `snapshotsKept` are kept.
 *
 * @module
 */
import type { Database } from '@ballast/db';
import {
  OrderBook,
  applyCommandEntry,
  comparePositions,
  decodeCommandEntry,
  decodeCommandResults,
  encodeCommandResults,
  type Command,
  type CommandResult,
} from '@ballast/engine';
import {
  SpanKind,
  contextFromCarrier,
  endSpan,
  startSpan,
  traceCarrier,
  tracingEnabled,
  type Span,
} from '@ballast/runtime';
import { sleep, tailLog, type AppendInput, type EventLog, type LogEntry } from '@ballast/state';
import type { Kysely } from 'kysely';

/** The event log of a symbol. */
export const eventLog = (symbol: string): string => `evt.${symbol}`;
/** The command log of a symbol. */
export const commandLog = (symbol: string): string => `cmd.${symbol}`;

/**
 * An event entry's payload holds at most about this many bytes (estimated; a single command's
 * events may take one entry over it alone): a quarter of JetStream's default 1 MiB message limit.
 */
export const MAX_ENTRY_BYTES = 256 * 1024;

/**
 * The de-duplication key of an event entry holding `run` (at least one result): `c<first>` or
 * `c<first>-<last>`, with `.<part>` after the first when it continues an entry from a later part,
 * and after the last when `cut` (the entry's later parts go in the next event entry), so the
 * event entries of one split command-log entry never share a key.
 */
const eventKey = (run: readonly CommandResult[], cut: boolean): string => {
  const first = run[0] as CommandResult;
  const last = run.at(-1) as CommandResult;
  const from = first.part !== undefined && first.part > 0 ? `c${first.cmdSeq}.${first.part}` : `c${first.cmdSeq}`;
  if (!cut && first.cmdSeq === last.cmdSeq && from === `c${first.cmdSeq}`) return from;
  return cut ? `${from}-${last.cmdSeq}.${last.part ?? 0}` : `${from}-${last.cmdSeq}`;
};

/** The estimated payload bytes of a result: about its events' JSON (a trade's, the largest, is under 400). */
const estimatedBytes = (r: CommandResult): number => 16 + 400 * r.events.length;

/**
 * Collects event entries into `out`: results are added one command-log entry at a time (in log
 * order) to a run that ends before an entry that would take it past {@link MAX_ENTRY_BYTES}
 * (estimated from event counts, not serialised twice). An entry's results are split over several
 * event entries only when they alone exceed it (a single command's events may still take an
 * entry over it alone).
 */
const createRuns = (out: AppendInput[]) => {
  let run: CommandResult[] = [];
  let runBytes = 0;
  const endRun = (cut: boolean): void => {
    if (run.length === 0) return;
    out.push({ key: eventKey(run, cut), payload: encodeCommandResults(run) });
    run = [];
    runBytes = 0;
  };
  return {
    /** Adds one command-log entry's results (or the rest of one, continuing where its events stopped). */
    add(results: readonly CommandResult[]): void {
      let bytes = 0;
      for (const r of results) bytes += estimatedBytes(r);
      if (runBytes + bytes > MAX_ENTRY_BYTES) endRun(false);
      for (const r of results) {
        const b = estimatedBytes(r);
        if (run.length > 0 && runBytes + b > MAX_ENTRY_BYTES) endRun(true); // inside this entry
        run.push(r);
        runBytes += b;
      }
    },
    /** Ends the current run (before an entry of its own, and at the end). */
    end(): void {
      endRun(false);
    },
  };
};

/**
 * Splits `pending` (results in log order) into those up to and including position `last` and
 * the rest: an event entry's share of results computed ahead of it.
 */
export const takeThrough = (
  pending: readonly CommandResult[],
  last: CommandResult,
): { taken: CommandResult[]; rest: CommandResult[] } => {
  let n = 0;
  while (n < pending.length && comparePositions(pending[n] as CommandResult, last) <= 0) n++;
  return { taken: pending.slice(0, n), rest: n === pending.length ? [] : pending.slice(n) };
};

/** Why {@link SymbolReplica.lead} returned. */
export type LeadOutcome = 'stopped' | 'lease-lost' | 'fenced';

/** What `lead` needs of the lease: its local validity. */
export interface LeaseCheck {
  valid(): boolean;
}

/** Construction config of {@link createSymbolReplica}. */
export interface SymbolReplicaConfig {
  readonly symbol: string;
  readonly db: Kysely<Database>;
  readonly log: EventLog;
  /**
   * Take a snapshot after this many commands, or after as many commands as the book holds orders
   * (resting and pending stops; the smaller of now and at the last snapshot) when that is more.
   * @default 1000
   */
  readonly snapshotEveryCommands?: number;
  /**
   * Also snapshot when this long has passed since the last one and commands arrived (as many
   * commands as the book holds orders, as above); 0 = off. @default 30000
   */
  readonly snapshotEveryMs?: number;
  /** Snapshots kept per symbol. @default 3 */
  readonly snapshotsKept?: number;
  /** @default Date.now */
  readonly nowMs?: () => number;
  readonly onError?: (message: string, err: unknown) => void;
  /** After each appended batch, with the number of commands applied and trades among their events. */
  readonly onApplied?: (symbol: string, commands: number, trades: number) => void;
  /** After each appended batch (leader), with the event log's last sequence. */
  readonly onAppended?: (symbol: string, evtSeq: number) => void;
}

/** One symbol's book on this replica. */
export interface SymbolReplica {
  readonly symbol: string;
  /** The live book (read-only use). */
  book(): OrderBook;
  /** `cmdSeq`: last command-log entry applied; `evtSeq`: the last event entry applied. */
  position(): { cmdSeq: number; evtSeq: number };
  /** True when the book ran ahead of the event log and must be rebuilt (`warm`). */
  dirty(): boolean;
  /** Entries a follower re-computed differently from the leader (should stay 0). */
  divergences(): number;
  /** (Re)builds the book if dirty or never built, and catches up with the event log's end. Rejects when `signal` aborts. */
  warm(signal: AbortSignal): Promise<void>;
  /** Hot standby: follows the event log until `signal` aborts (resolves then). */
  follow(signal: AbortSignal): Promise<void>;
  /** Leads until `signal` aborts ('stopped'), the lease's deadline passes, or an append is fenced. */
  lead(lease: LeaseCheck, signal: AbortSignal): Promise<LeadOutcome>;
}

let readers = 0;

/** Creates the replica of `config.symbol` (nothing is read until `warm`). */
export function createSymbolReplica(config: SymbolReplicaConfig): SymbolReplica {
  const { db, log, symbol } = config;
  const cmdLog = commandLog(symbol);
  const evtLog = eventLog(symbol);
  const every = config.snapshotEveryCommands ?? 1000;
  const everyMs = config.snapshotEveryMs ?? 30_000;
  const kept = Math.max(1, config.snapshotsKept ?? 3);
  const now = config.nowMs ?? Date.now;
  let book = new OrderBook();
  let cmdSeq = 0;
  let evtSeq = 0;
  let built = false;
  let isDirty = false;
  let diverged = 0;
  let lastSnapCmd = 0;
  let lastSnapMs = now();
  /** Orders the book held at the last snapshot (see the module's note on the cadence). */
  let lastSnapOrders = 0;
  let snapshotting = false;
  /**
   * Results of commands applied (up to `cmdSeq`) whose events are not in the event log yet: the
   * parts of entry `cmdSeq` after those the last event entry holds, when the leader split that
   * entry's events over several event entries (see {@link MAX_ENTRY_BYTES}). A follower compares
   * them with the next event entries; a leader appends them before anything else.
   */
  let pending: CommandResult[] = [];
  const followReader = `follow-${symbol}-${++readers}`;

  /** Reads commands `from`..`to` (inclusive) from the command log. */
  const readCommands = async (from: number, to: number, signal: AbortSignal, readerId?: string) => {
    const out: LogEntry[] = [];
    let next = from;
    const opts = readerId !== undefined ? { signal, readerId } : { signal };
    while (next <= to) {
      const got = await log.read(cmdLog, next, Math.min(1000, to - next + 1), opts);
      if (got.length === 0) {
        await log.waitFor(cmdLog, next - 1, 1000, opts);
        continue;
      }
      for (const e of got) if (e.seq <= to) out.push(e);
      next = (got.at(-1) as LogEntry).seq + 1;
    }
    return out;
  };

  /**
   * Applies the commands behind event entries `entries` (in order) and compares each entry with
   * the results it re-computed. The state moves only in the synchronous part after every read, so
   * an abort leaves it consistent.
   */
  const applyEvents = async (entries: readonly LogEntry[], signal: AbortSignal, readerId?: string): Promise<void> => {
    const parsed = entries.map((e) => ({ seq: e.seq, payload: e.payload, results: decodeCommandResults(e.payload) }));
    let target = cmdSeq;
    for (const p of parsed) {
      const last = p.results?.at(-1)?.cmdSeq;
      if (last !== undefined && last > target) target = last;
    }
    const cmds = target > cmdSeq ? await readCommands(cmdSeq + 1, target, signal, readerId) : [];
    let i = 0;
    for (const p of parsed) {
      const want = p.results;
      if (want !== undefined) {
        const last = want.at(-1) as CommandResult;
        while (cmdSeq < last.cmdSeq) {
          const c = cmds[i++];
          if (c === undefined) throw new Error(`matching ${symbol}: command ${cmdSeq + 1} missing from ${cmdLog}`);
          pending.push(...applyCommandEntry(book, c.seq, c.payload));
          cmdSeq = c.seq;
        }
        // This entry's results: the pending ones up to its last command.
        const { taken: results, rest } = takeThrough(pending, last);
        pending = rest;
        if (results.length > 0 && encodeCommandResults(results) !== p.payload) {
          diverged++;
          const first = results[0] as CommandResult;
          config.onError?.(
            `matching ${symbol}: events of commands ${first.cmdSeq}..${last.cmdSeq} differ from the leader's (event ${p.seq})`,
            undefined,
          );
        }
      }
      evtSeq = p.seq;
    }
  };

  /** Applies event entries from `evtSeq + 1` to the log's end. */
  const catchUp = async (signal: AbortSignal): Promise<void> => {
    for (;;) {
      const entries = await log.read(evtLog, evtSeq + 1, 1000, { signal });
      if (entries.length === 0) return;
      await applyEvents(entries, signal);
    }
  };

  const rebuild = async (signal: AbortSignal): Promise<void> => {
    const snap = await db
      .selectFrom('snapshots')
      .select(['cmd_seq', 'evt_seq', 'bytes'])
      .where('shard', '=', symbol)
      .orderBy('cmd_seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    signal.throwIfAborted();
    book = snap === undefined ? new OrderBook() : OrderBook.restore(snap.bytes);
    cmdSeq = snap === undefined ? 0 : Number(snap.cmd_seq);
    evtSeq = snap === undefined ? 0 : Number(snap.evt_seq);
    lastSnapCmd = cmdSeq;
    lastSnapMs = now();
    lastSnapOrders = snap === undefined ? 0 : ordersInBook();
    built = true;
    isDirty = false;
    pending = [];
  };

  /** Orders in the book, resting and pending stops. */
  const ordersInBook = (): number => {
    const { restingOrders, pendingStops } = book.stats();
    return restingOrders + pendingStops;
  };
  /** Whether the leader should snapshot now (see the module's note on the cadence). */
  const snapshotDue = (): boolean => {
    const since = cmdSeq - lastSnapCmd;
    if (since <= 0) return false;
    if (since < every && !(everyMs > 0 && now() - lastSnapMs >= everyMs)) return false;
    // Only then the book's size (most batches stop above, without reading it).
    return since >= lastSnapOrders || since >= ordersInBook();
  };

  const saveSnapshot = (): void => {
    if (snapshotting) return;
    snapshotting = true;
    const row = {
      shard: symbol,
      cmd_seq: cmdSeq,
      evt_seq: evtSeq,
      bytes: Buffer.from(book.snapshot()),
      created_ms: now(),
    };
    lastSnapCmd = cmdSeq;
    lastSnapMs = now();
    lastSnapOrders = ordersInBook();
    void (async () => {
      try {
        await db
          .insertInto('snapshots')
          .values(row)
          .onConflict((oc) => oc.columns(['shard', 'cmd_seq']).doNothing())
          .execute();
        const keep = await db
          .selectFrom('snapshots')
          .select('cmd_seq')
          .where('shard', '=', symbol)
          .orderBy('cmd_seq', 'desc')
          .limit(kept)
          .execute();
        const oldest = keep.length >= kept ? keep.at(-1)?.cmd_seq : undefined;
        if (oldest !== undefined) {
          await db.deleteFrom('snapshots').where('shard', '=', symbol).where('cmd_seq', '<', oldest).execute();
        }
      } catch (err) {
        config.onError?.(`matching ${symbol}: snapshot failed`, err);
      } finally {
        snapshotting = false;
      }
    })();
  };

  /** Ends each command's span after its batch's event append, with a child span for the append. */
  const traceAppend = (spans: Span[], start: number, batch: number): void => {
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

  /**
   * Appends `out` after `evtSeq` (fenced by it) while the lease holds, retrying other failures
   * with backoff; on success `evtSeq` moves to the last entry. Returns why it stopped otherwise
   * (`fenced`: another writer moved the log, with its error).
   */
  const appendEvents = async (
    out: readonly AppendInput[],
    lease: LeaseCheck,
    signal: AbortSignal,
  ): Promise<{ outcome: 'appended' | 'stopped' | 'lease-lost' } | { outcome: 'fenced'; err: unknown }> => {
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) return { outcome: 'stopped' };
      if (!lease.valid()) return { outcome: 'lease-lost' };
      try {
        const results = await log.append(evtLog, out, { expectedLastSeq: evtSeq });
        evtSeq = (results.at(-1) as { seq: number }).seq;
        return { outcome: 'appended' };
      } catch (err) {
        if ((err as { code?: string }).code === 'STATE_FENCED') return { outcome: 'fenced', err };
        config.onError?.(`matching ${symbol}: event append failed (attempt ${attempt + 1}); retrying`, err);
        await sleep(Math.min(500, 25 * 2 ** attempt), signal).catch(() => undefined);
      }
    }
  };

  return {
    symbol,
    book: () => book,
    position: () => ({ cmdSeq, evtSeq }),
    dirty: () => isDirty,
    divergences: () => diverged,

    async warm(signal) {
      if (!built || isDirty) await rebuild(signal);
      await catchUp(signal);
    },

    async follow(signal) {
      if (!built || isDirty) throw new Error(`matching ${symbol}: follow needs a warm book`);
      try {
        await tailLog(log, evtLog, (entries) => applyEvents(entries, signal, followReader), {
          fromSeq: evtSeq + 1,
          signal,
          onError: (err) => config.onError?.(`matching ${symbol}: following failed; retrying`, err),
        });
      } finally {
        log.endReader?.(cmdLog, followReader); // the commands read behind the events
      }
    },

    async lead(lease, signal) {
      if (!built || isDirty) throw new Error(`matching ${symbol}: lead needs a warm book`);
      await catchUp(signal);
      if (!lease.valid()) return 'lease-lost';
      // The log ends inside an entry whose events were split (a leader stopped between its event
      // entries): its remaining parts' events first, so no command is left without them.
      if (pending.length > 0) {
        const out: AppendInput[] = [];
        const runs = createRuns(out);
        runs.add(pending);
        runs.end();
        const appended = await appendEvents(out, lease, signal);
        if (appended.outcome === 'fenced') {
          // Another writer moved the log; this book is not ahead of it (the rest is only
          // pending), so the next `warm` catches up without a rebuild.
          config.onError?.(`matching ${symbol}: append fenced (another writer); catching up`, appended.err);
          return 'fenced';
        }
        if (appended.outcome !== 'appended') return appended.outcome;
        pending = [];
        config.onAppended?.(symbol, evtSeq);
      }
      const stop = new AbortController();
      const tailSignal = AbortSignal.any([signal, stop.signal]);
      let outcome: LeadOutcome = 'stopped';
      const end = (o: LeadOutcome, dirtyBook: boolean): void => {
        outcome = o;
        if (dirtyBook) isDirty = true;
        stop.abort();
      };

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
          if (stop.signal.aborted) return;
          if (!lease.valid()) return end('lease-lost', false);
          if ((entries[0] as LogEntry).seq !== cmdSeq + 1) {
            // Not the next command (cannot happen with a gap-free log): rebuild rather than guess.
            return end('fenced', true);
          }
          const out: AppendInput[] = [];
          let trades = 0;
          let spans: Span[] | undefined;
          // Untraced results go into runs (event entries); a traced command gets an entry of its own.
          const runs = createRuns(out);
          let commandCount = 0;
          for (const e of entries) {
            const decoded = decodeCommandEntry(e.payload);
            const { commands, several } = decoded;
            if (several) {
              // A batch of the oms (never traced: a traced command has an entry of its own).
              const results = applyCommandEntry(book, e.seq, decoded);
              for (const r of results) for (const ev of r.events) if (ev.type === 'trade') trades++;
              runs.add(results);
              commandCount += results.length;
              continue;
            }
            commandCount++;
            const command = commands[0] as Command;
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
            const headers = span !== undefined ? traceCarrier(span) : undefined;
            if (headers !== undefined) {
              // Its own entry, so its trace context rides in the entry's headers.
              runs.end();
              out.push({ key: `c${e.seq}`, payload: encodeCommandResults([{ cmdSeq: e.seq, events }]), headers });
            } else runs.add([{ cmdSeq: e.seq, events }]);
            if (span !== undefined) span.setAttribute('ballast.events', events.length);
          }
          runs.end();
          // The book has moved on: append these exact results while the lease holds; otherwise
          // the book is ahead of the log and gets rebuilt.
          const appendStart = spans !== undefined ? performance.now() : 0;
          const appended = await appendEvents(out, lease, signal);
          if (appended.outcome === 'fenced') {
            if (spans !== undefined) for (const span of spans) endSpan(span, appended.err);
            // Another writer appended to this log: this book is not authoritative any more.
            config.onError?.(`matching ${symbol}: append fenced (another writer); rebuilding`, appended.err);
            return end('fenced', true);
          }
          if (appended.outcome !== 'appended') {
            if (spans !== undefined) for (const span of spans) endSpan(span, new Error('not appended'));
            return end(appended.outcome, true);
          }
          if (spans !== undefined) traceAppend(spans, appendStart, entries.length);
          cmdSeq = (entries.at(-1) as LogEntry).seq;
          config.onApplied?.(symbol, commandCount, trades);
          config.onAppended?.(symbol, evtSeq);
          if (snapshotDue()) saveSnapshot();
        },
        {
          fromSeq: cmdSeq + 1,
          signal: tailSignal,
          idleWaitMs: 250,
          onError: (err) => config.onError?.(`matching ${symbol}: batch failed`, err),
        },
      );
      return outcome;
    },
  };
}
