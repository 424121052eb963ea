/**
 * {@link EventLog} on NATS JetStream. Each log is one stream (`BALLAST_<log>` with `.` → `_`)
 * capturing one subject (`ballast.<log>`), so stream sequences are the log's gap-free sequence.
 *
 * - De-duplication: the entry key is the `Nats-Msg-Id`; JetStream remembers ids for the stream's
 *   duplicate window (`duplicateWindowMs`, default 1 hour), so a key re-used after that window is
 *   appended again. The outbox and matching retry within seconds, well inside it.
 * - Fencing: `expectedLastSeq` is sent as the expected last stream sequence; a stale writer's
 *   append is refused (`STATE_FENCED`).
 * - Headers: an entry's headers (W3C `traceparent`, …) are NATS message headers beside
 *   JetStream's own `Nats-*` ones, which `read` leaves out.
 * - Appends: each entry is a JetStream publish acknowledged through one inbox subscription
 *   (`acked-publisher.ts`), not a request object per entry.
 * - Atomicity: entries of one call are published pipelined, in order. Fenced, each expects the
 *   one before, so a failure midway leaves a prefix stored; unfenced, a failed entry may be
 *   followed by stored ones (the oms's outbox then publishes it later, after them). Callers retry
 *   the same keyed entries, which the de-duplication makes idempotent.
 * - Reads: a tailing reader (one giving a `readerId`) streams through its own ordered consumer
 *   kept open between calls (`log-cursor.ts`), so batches and waits cost no round trip; other
 *   reads are direct gets (a few entries) or a short-lived ordered consumer.
 *
 * @module
 */
import { BallastError, ErrorCode } from '@ballast/errors';
import {
  DeliverPolicy,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type {
  AppendInput,
  AppendOptions,
  AppendResult,
  EntryHeaders,
  EventLog,
  LogEntry,
  WaitOptions,
} from '@ballast/state';
import { AckedPublisher } from './acked-publisher.ts';
import { LogCursor, type ToEntry } from './log-cursor.ts';
import {
  NoRespondersError,
  headers as natsHeaders,
  nanos,
  type MsgHdrs,
  type NatsConnection,
} from '@nats-io/transport-node';

/** Options of {@link createNatsEventLog}. */
export interface NatsEventLogOptions {
  /** How long JetStream remembers entry keys. @default 3600000 */
  readonly duplicateWindowMs?: number;
  /** `file` (durable) or `memory`. @default 'file' */
  readonly storage?: 'file' | 'memory';
  /** Replicas per stream (a NATS cluster). @default 1 */
  readonly replicas?: number;
  /**
   * Namespace of the streams and subjects, so several deployments (or test runs) can share a
   * NATS server: stream `<PREFIX>_<log>`, subject `<prefix>.<log>`. @default 'ballast'
   */
  readonly prefix?: string;
  /** How long an append waits for JetStream's acknowledgement of each entry. @default 5000 */
  readonly publishTimeoutMs?: number;
}

const WRONG_LAST_SEQUENCE = 10071;

const toNats = (h: EntryHeaders): MsgHdrs => {
  const out = natsHeaders();
  for (const k in h) out.set(k, h[k] as string);
  return out;
};
/** The entry's own headers: every message header except JetStream's `Nats-*`. */
const fromNats = (h: MsgHdrs | undefined): EntryHeaders | undefined => {
  if (h === undefined) return undefined;
  let out: Record<string, string> | undefined;
  for (const k of h.keys()) {
    if (k.length >= 5 && k.slice(0, 5).toLowerCase() === 'nats-') continue;
    (out ??= {})[k] = h.get(k);
  }
  return out;
};

/** The stream name of a log. */
export const streamName = (log: string, prefix = 'ballast'): string =>
  `${prefix.toUpperCase()}_${log.replace(/[^A-Za-z0-9_-]/g, '_')}`;
/** The subject of a log. */
export const subjectName = (log: string, prefix = 'ballast'): string => `${prefix.toLowerCase()}.${log}`;

/** Maps a NATS error to a Ballast reason. */
export function classifyNatsError(err: unknown, what: string): BallastError {
  if (err instanceof BallastError) return err;
  if (err instanceof JetStreamApiError) {
    if (err.code === WRONG_LAST_SEQUENCE) {
      return new BallastError(ErrorCode.StateFenced, `${what}: ${err.message}`, { cause: err });
    }
    return new BallastError(ErrorCode.StateInvalid, `${what}: ${err.message}`, { cause: err });
  }
  const msg = err instanceof Error ? err.message : String(err);
  if (/timeout|closed|disconnect|no responders|connection/i.test(msg)) {
    return new BallastError(ErrorCode.StateConnection, `${what}: ${msg}`, { cause: err, retryable: true });
  }
  return new BallastError(ErrorCode.StateInvalid, `${what}: ${msg}`, { cause: err });
}

/** Creates the JetStream event log over `nc`. Streams are created on first use. */
export async function createNatsEventLog(nc: NatsConnection, options: NatsEventLogOptions = {}): Promise<EventLog> {
  const prefix = options.prefix ?? 'ballast';
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,31}$/.test(prefix)) throw new RangeError(`invalid NATS prefix ${prefix}`);
  const streamOf = (log: string): string => streamName(log, prefix);
  const subjectOf = (log: string): string => subjectName(log, prefix);
  const js = jetstream(nc);
  const jsm: JetStreamManager = await jetstreamManager(nc);
  const ready = new Map<string, Promise<void>>();
  const ensure = (log: string): Promise<void> => {
    let p = ready.get(log);
    if (p === undefined) {
      p = (async () => {
        const name = streamOf(log);
        try {
          await jsm.streams.info(name);
        } catch {
          await jsm.streams.add({
            name,
            subjects: [subjectOf(log)],
            storage: options.storage === 'memory' ? 'memory' : 'file',
            num_replicas: options.replicas ?? 1,
            duplicate_window: nanos(options.duplicateWindowMs ?? 3_600_000),
          } as never);
        }
      })();
      p.catch(() => ready.delete(log));
      ready.set(log, p);
    }
    return p;
  };
  const lastSeqOf = async (log: string): Promise<number> => {
    await ensure(log);
    const info = await jsm.streams.info(streamOf(log));
    return info.state.last_seq;
  };
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();

  // Tailing readers (with a reader id): one streaming cursor each (see log-cursor.ts).
  const cursors = new Map<string, LogCursor>();
  const CURSOR_IDLE_MS = 60_000;
  const toEntry: ToEntry = (m) => {
    const headers = fromNats(m.headers);
    return {
      seq: m.seq,
      key: m.headers?.get('Nats-Msg-Id') || null,
      payload: decoder.decode(m.data),
      timeMs: Math.floor(m.info.timestampNanos / 1e6),
      ...(headers !== undefined ? { headers } : {}),
    };
  };
  /** The reader's cursor, (re)opened at `position` unless it is there (or closed). */
  let sweptMs = 0;
  const cursorKey = (log: string, readerId: string): string => `${log}\u0000${readerId}`;
  const cursorFor = async (log: string, readerId: string, position: number): Promise<LogCursor> => {
    const now = Date.now();
    if (now - sweptMs > CURSOR_IDLE_MS / 4) {
      // Idle readers' consumers are closed now and then, not on every read (the hot path).
      sweptMs = now;
      for (const [k, c] of cursors) {
        if (c.closed || now - c.lastUsedMs > CURSOR_IDLE_MS) {
          c.close();
          cursors.delete(k);
        }
      }
    }
    const key = cursorKey(log, readerId);
    const found = cursors.get(key);
    if (found !== undefined && !found.closed && found.position === position) return found;
    found?.close();
    await ensure(log);
    const c = await LogCursor.open(js, streamOf(log), position, toEntry);
    cursors.set(key, c);
    return c;
  };
  /** A plain read: direct gets for a few entries, else a short-lived ordered consumer. */
  const plainRead = async (log: string, from: number, limit: number): Promise<LogEntry[]> => {
    const last = await lastSeqOf(log);
    const want = Math.min(limit, last - from + 1);
    if (want <= 0) return [];
    const out: LogEntry[] = [];
    if (want <= 8) {
      for (let seq = from; seq < from + want; seq++) {
        const m = await jsm.streams.getMessage(streamOf(log), { seq });
        if (m === null) break;
        out.push(
          toEntry({ seq: m.seq, data: m.data, headers: m.header, info: { timestampNanos: m.time.getTime() * 1e6 } }),
        );
      }
      return out;
    }
    const consumer = await js.consumers.get(streamOf(log), {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: from,
    });
    try {
      const msgs = await consumer.fetch({ max_messages: want, expires: 5000 });
      for await (const m of msgs) {
        out.push(toEntry(m));
        if (out.length >= want) break;
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
    return out;
  };
  const publisher = new AckedPublisher(nc, options.publishTimeoutMs ?? 5000);
  const publish = (log: string, e: AppendInput, expect: number | undefined) => {
    let h = e.headers !== undefined ? toNats(e.headers) : undefined;
    if (e.key !== undefined) (h ??= natsHeaders()).set('Nats-Msg-Id', e.key);
    if (expect !== undefined) (h ??= natsHeaders()).set('Nats-Expected-Last-Sequence', String(expect));
    return publisher.publish(subjectOf(log), encoder.encode(e.payload), h);
  };

  return {
    async append(log: string, entries: readonly AppendInput[], opts: AppendOptions = {}): Promise<AppendResult[]> {
      opts.signal?.throwIfAborted();
      try {
        await ensure(log);
        const base = opts.expectedLastSeq;
        // Pipelined: every publish of the call is in flight at once (one connection keeps their
        // order), so a batch costs about one round trip. Fenced appends expect base, base + 1, …
        // optimistically; a duplicate in the middle shifts the rest, which are then re-sent one by
        // one expecting the right sequence.
        const settled = await Promise.allSettled(
          entries.map((e, i) => publish(log, e, base === undefined ? undefined : base + i)),
        );
        const out: AppendResult[] = [];
        let expected = base;
        let sawDuplicate = false;
        for (let i = 0; i < entries.length; i++) {
          const r = settled[i] as PromiseSettledResult<{ seq: number; duplicate: boolean }>;
          if (r.status === 'rejected') {
            if (!sawDuplicate || base === undefined) throw r.reason;
            // Shifted by an earlier duplicate: finish one by one.
            for (let j = i; j < entries.length; j++) {
              const ack = await publish(log, entries[j] as AppendInput, expected);
              out.push({ seq: ack.seq, duplicate: ack.duplicate });
              if (!ack.duplicate) expected = ack.seq;
            }
            return out;
          }
          out.push({ seq: r.value.seq, duplicate: r.value.duplicate });
          if (r.value.duplicate) sawDuplicate = true;
          else if (expected !== undefined) expected = r.value.seq;
        }
        return out;
      } catch (err) {
        // No stream takes the subject: deleted, or lost with a memory-stored server. The next
        // append looks again and creates it, rather than retrying against nothing forever.
        if (err instanceof NoRespondersError) ready.delete(log);
        throw classifyNatsError(err, `append to ${log}`);
      }
    },

    async read(log: string, fromSeq: number, limit: number, opts: WaitOptions = {}): Promise<LogEntry[]> {
      opts.signal?.throwIfAborted();
      const from = Math.max(1, fromSeq);
      try {
        if (opts.readerId === undefined) return await plainRead(log, from, limit);
        const retry = cursors.get(cursorKey(log, opts.readerId))?.lastBatch;
        if (retry !== undefined && retry.from === from && retry.entries.length <= limit) return retry.entries;
        // A tail gets what its cursor has received, [] when nothing yet (it then waits with
        // waitFor, which costs no round trip): no stream-info request per read — under load those
        // queue in JetStream's API and slow every publish.
        const cursor = await cursorFor(log, opts.readerId, from);
        return cursor.take(limit);
      } catch (err) {
        if (opts.signal?.aborted === true) throw opts.signal.reason;
        throw classifyNatsError(err, `read ${log}`);
      }
    },

    async lastSeq(log: string, opts: WaitOptions = {}): Promise<number> {
      opts.signal?.throwIfAborted();
      try {
        return await lastSeqOf(log);
      } catch (err) {
        throw classifyNatsError(err, `last sequence of ${log}`);
      }
    },

    async waitFor(log: string, afterSeq: number, maxWaitMs: number, opts: WaitOptions = {}): Promise<void> {
      opts.signal?.throwIfAborted();
      try {
        if (opts.readerId !== undefined) {
          // The reader's cursor streams: waiting for the next entry costs no round trip.
          const cursor = await cursorFor(log, opts.readerId, afterSeq + 1);
          await cursor.waitForData(maxWaitMs, opts.signal);
          return;
        }
        if ((await lastSeqOf(log)) > afterSeq) return;
        const cursor = await LogCursor.open(js, streamOf(log), afterSeq + 1, toEntry, 1);
        try {
          await cursor.waitForData(maxWaitMs, opts.signal);
        } finally {
          cursor.close();
        }
      } catch (err) {
        if (opts.signal?.aborted === true) throw opts.signal.reason;
        throw classifyNatsError(err, `wait on ${log}`);
      }
    },

    endReader(log: string, readerId: string): void {
      const key = cursorKey(log, readerId);
      cursors.get(key)?.close();
      cursors.delete(key);
    },
  };
}
