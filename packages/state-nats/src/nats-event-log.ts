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
 * - Atomicity: entries of one call are published one after another, each expecting the previous
 *   one; a failure midway leaves a prefix stored. Callers retry the same keyed entries, which the
 *   de-duplication makes idempotent.
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
import { headers as natsHeaders, nanos, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';

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

  return {
    async append(log: string, entries: readonly AppendInput[], opts: AppendOptions = {}): Promise<AppendResult[]> {
      opts.signal?.throwIfAborted();
      try {
        await ensure(log);
        const out: AppendResult[] = [];
        let expected = opts.expectedLastSeq;
        for (const e of entries) {
          const ack = await js.publish(subjectOf(log), encoder.encode(e.payload), {
            ...(e.key !== undefined ? { msgID: e.key } : {}),
            ...(e.headers !== undefined ? { headers: toNats(e.headers) } : {}),
            ...(expected !== undefined ? { expect: { lastSequence: expected } } : {}),
          });
          out.push({ seq: ack.seq, duplicate: ack.duplicate });
          if (expected !== undefined && !ack.duplicate) expected = ack.seq;
        }
        return out;
      } catch (err) {
        throw classifyNatsError(err, `append to ${log}`);
      }
    },

    async read(log: string, fromSeq: number, limit: number, opts: WaitOptions = {}): Promise<LogEntry[]> {
      opts.signal?.throwIfAborted();
      try {
        const last = await lastSeqOf(log);
        const want = Math.min(limit, last - fromSeq + 1);
        if (want <= 0) return [];
        const consumer = await js.consumers.get(streamOf(log), {
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: Math.max(1, fromSeq),
        });
        const out: LogEntry[] = [];
        const msgs = await consumer.fetch({ max_messages: want, expires: 5000 });
        for await (const m of msgs) {
          const headers = fromNats(m.headers);
          out.push({
            seq: m.seq,
            key: m.headers?.get('Nats-Msg-Id') || null,
            payload: decoder.decode(m.data),
            timeMs: Math.floor(m.info.timestampNanos / 1e6),
            ...(headers !== undefined ? { headers } : {}),
          });
          if (out.length >= want) break;
        }
        await consumer.delete().catch(() => undefined);
        return out;
      } catch (err) {
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
        if ((await lastSeqOf(log)) > afterSeq) return;
        opts.signal?.throwIfAborted();
        const consumer = await js.consumers.get(streamOf(log), {
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: afterSeq + 1,
        });
        const aborted = new Promise<never>((_, reject) => {
          opts.signal?.addEventListener('abort', () => reject(opts.signal?.reason), { once: true });
        });
        aborted.catch(() => undefined);
        try {
          await Promise.race([consumer.next({ expires: Math.max(1000, maxWaitMs) }), aborted]);
        } finally {
          await consumer.delete().catch(() => undefined);
        }
      } catch (err) {
        if (opts.signal?.aborted === true) throw opts.signal.reason;
        throw classifyNatsError(err, `wait on ${log}`);
      }
    },
  };
}
