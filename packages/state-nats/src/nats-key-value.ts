/**
 * {@link KeyValue} on NATS KV (one bucket). Revisions are the bucket's stream sequences;
 * compare-and-set uses KV `create` (revision 0) and `update` (revision r).
 *
 * Per-key TTLs need nats-server 2.11; to work on older servers too, the expiry is kept in the
 * stored value (`{"v":…,"e":expiresAtMs}`) and checked against the injected clock: an expired
 * entry reads as absent and can be re-created with expected revision 0. Keep clocks in sync
 * (NTP) across replicas; leases should use TTLs well above clock skew.
 *
 * @module
 */
import { BallastError, ErrorCode } from '@ballast/errors';
import type { KeyValue, KvEntry, PutOptions } from '@ballast/state';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { classifyNatsError } from './nats-event-log.ts';

interface Envelope {
  v: string;
  e: number | null;
}

/** Creates (or opens) the bucket `bucket` and returns it as a {@link KeyValue}. */
export async function createNatsKeyValue(
  nc: NatsConnection,
  bucket: string,
  options: { nowMs?: () => number } = {},
): Promise<KeyValue> {
  const now = options.nowMs ?? Date.now;
  const kv = await new Kvm(jetstream(nc)).create(bucket, { history: 1 });
  const jsm = await jetstreamManager(nc);
  const subjectPrefix = `$KV.${bucket}.`;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const read = async (key: string): Promise<{ env: Envelope | null; revision: number }> => {
    const e = await kv.get(key);
    if (e === null || e.operation !== 'PUT') return { env: null, revision: e?.revision ?? 0 };
    try {
      return { env: JSON.parse(decoder.decode(e.value)) as Envelope, revision: e.revision };
    } catch {
      return { env: null, revision: e.revision };
    }
  };
  const live = (env: Envelope | null): env is Envelope => env !== null && (env.e === null || env.e > now());
  const conflict = (key: string, expected: number, cause?: unknown): BallastError =>
    new BallastError(ErrorCode.StateConflict, `key ${key}: revision ${expected} is not current`, { cause });
  const isWrongSeq = (err: unknown): boolean => /wrong last sequence|key exists/i.test(String((err as Error)?.message));

  return {
    async get(key): Promise<KvEntry | undefined> {
      try {
        const { env, revision } = await read(key);
        return live(env) ? { value: env.v, revision } : undefined;
      } catch (err) {
        throw classifyNatsError(err, `get ${key}`);
      }
    },
    async put(key, value, opts: PutOptions = {}): Promise<number> {
      opts.signal?.throwIfAborted();
      const data = encoder.encode(
        JSON.stringify({ v: value, e: opts.ttlMs === undefined ? null : now() + opts.ttlMs }),
      );
      try {
        if (opts.expectedRevision === undefined) return await kv.put(key, data);
        const { env, revision } = await read(key);
        const current = live(env) ? revision : 0;
        if (opts.expectedRevision !== current) throw conflict(key, opts.expectedRevision);
        // Absent (never written, deleted, or expired): create, or update the stale entry in place.
        if (current === 0) return revision === 0 ? await kv.create(key, data) : await kv.update(key, data, revision);
        return await kv.update(key, data, revision);
      } catch (err) {
        if (err instanceof BallastError) throw err;
        if (isWrongSeq(err)) throw conflict(key, opts.expectedRevision ?? -1, err);
        throw classifyNatsError(err, `put ${key}`);
      }
    },
    async keys(prefix): Promise<string[]> {
      // The bucket stream's subjects, from one stream-info request (paged by the client), not
      // `kv.keys()`: that one runs an ordered consumer, which was seen never to finish under load
      // (and a registry listing must not hang).
      try {
        const out: string[] = [];
        const filter = `${subjectPrefix}${prefix.endsWith('.') ? `${prefix}>` : '>'}`;
        const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: filter });
        for (const subject of Object.keys(info.state.subjects ?? {})) {
          const k = subject.slice(subjectPrefix.length);
          if (!k.startsWith(prefix)) continue;
          const { env } = await read(k);
          if (live(env)) out.push(k);
        }
        return out;
      } catch (err) {
        throw classifyNatsError(err, `keys ${prefix}`);
      }
    },
    async delete(key, opts = {}): Promise<void> {
      opts.signal?.throwIfAborted();
      try {
        if (opts.expectedRevision === undefined) {
          await kv.delete(key);
          return;
        }
        const { env, revision } = await read(key);
        const current = live(env) ? revision : 0;
        if (opts.expectedRevision !== current) throw conflict(key, opts.expectedRevision);
        await kv.delete(key, { previousSeq: revision });
      } catch (err) {
        if (err instanceof BallastError) throw err;
        if (isWrongSeq(err)) throw conflict(key, opts.expectedRevision ?? -1, err);
        throw classifyNatsError(err, `delete ${key}`);
      }
    },
  };
}
