/**
 * A service registry on any {@link KeyValue}: each instance keeps `<service>.<id>` alive with a
 * TTL while it runs (renewed well before expiry) and deletes it when it stops; callers list the
 * live instances. A crashed instance disappears after its TTL.
 *
 * @module
 */
import type { KeyValue } from './key-value.ts';
import { sleep } from './waits.ts';

/** One registered instance. */
export interface Instance {
  readonly id: string;
  readonly url: string;
}

/** Options of {@link registerInstance}. */
export interface RegisterOptions {
  readonly service: string;
  readonly id: string;
  readonly url: string;
  /** @default 6000 */
  readonly ttlMs?: number;
  /** @default ttlMs / 3 */
  readonly renewMs?: number;
  readonly onError?: (err: unknown) => void;
}

/** Keeps the instance registered until `signal` aborts, then removes it. */
export async function registerInstance(kv: KeyValue, o: RegisterOptions, signal: AbortSignal): Promise<void> {
  const ttl = o.ttlMs ?? 6000;
  const renew = o.renewMs ?? Math.floor(ttl / 3);
  const key = `${o.service}.${o.id}`;
  const value = JSON.stringify({ id: o.id, url: o.url });
  while (!signal.aborted) {
    try {
      await kv.put(key, value, { ttlMs: ttl });
    } catch (err) {
      o.onError?.(err);
    }
    // Returns at once when the abort came while the put was out; leaves no listener behind.
    await sleep(renew, signal);
  }
  await kv.delete(key).catch(() => undefined);
}

/** The live instances of `service`. */
export async function listInstances(kv: KeyValue, service: string): Promise<Instance[]> {
  const out: Instance[] = [];
  for (const k of await kv.keys(`${service}.`)) {
    const e = await kv.get(k);
    if (e === undefined) continue;
    try {
      const v = JSON.parse(e.value) as Instance;
      if (typeof v.url === 'string' && typeof v.id === 'string') out.push(v);
    } catch {
      // not ours: ignore
    }
  }
  return out;
}
