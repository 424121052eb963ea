/**
 * In-process {@link KeyValue}: a `Map` with revisions and TTLs measured on an injected clock.
 *
 * @module
 */
import { BallastError, ErrorCode } from '@ballast/errors';
import type { KeyValue, KvEntry, PutOptions } from './key-value.ts';

interface Slot {
  value: string;
  revision: number;
  expiresAtMs: number;
}

/** Creates an in-process key-value store. `nowMs` defaults to `Date.now`. */
export function createMemoryKeyValue(options: { nowMs?: () => number } = {}): KeyValue {
  const now = options.nowMs ?? Date.now;
  const slots = new Map<string, Slot>();
  let revision = 0;
  const live = (key: string): Slot | undefined => {
    const s = slots.get(key);
    if (s !== undefined && s.expiresAtMs <= now()) {
      slots.delete(key);
      return undefined;
    }
    return s;
  };
  const conflict = (key: string, expected: number, actual: number): BallastError =>
    new BallastError(ErrorCode.StateConflict, `key ${key}: expected revision ${expected}, found ${actual}`);
  return {
    async get(key): Promise<KvEntry | undefined> {
      const s = live(key);
      return s === undefined ? undefined : { value: s.value, revision: s.revision };
    },
    async put(key, value, opts: PutOptions = {}): Promise<number> {
      opts.signal?.throwIfAborted();
      const s = live(key);
      const current = s?.revision ?? 0;
      if (opts.expectedRevision !== undefined && opts.expectedRevision !== current) {
        throw conflict(key, opts.expectedRevision, current);
      }
      revision++;
      slots.set(key, { value, revision, expiresAtMs: opts.ttlMs === undefined ? Infinity : now() + opts.ttlMs });
      return revision;
    },
    async keys(prefix): Promise<string[]> {
      return [...slots.keys()].filter((k) => k.startsWith(prefix) && live(k) !== undefined);
    },
    async delete(key, opts = {}): Promise<void> {
      opts.signal?.throwIfAborted();
      const current = live(key)?.revision ?? 0;
      if (opts.expectedRevision !== undefined && opts.expectedRevision !== current) {
        throw conflict(key, opts.expectedRevision, current);
      }
      slots.delete(key);
    },
  };
}
