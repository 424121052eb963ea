/**
 * A read cursor on one JetStream stream for one reader: one ordered consumer that streams
 * entries from a sequence on into a bounded buffer (flow control: it pulls again only as the
 * buffer drains), so a tailing reader pays no round trip per batch instead of creating a
 * server-side consumer per read. The event log keeps one per (log, reader id); idle ones close.
 *
 * @module
 */
import type { Consumer, ConsumerMessages, JetStreamClient } from '@nats-io/jetstream';
import { DeliverPolicy } from '@nats-io/jetstream';
import type { LogEntry } from '@ballast/state';
import type { MsgHdrs } from '@nats-io/transport-node';

/** Turns a delivered message into an entry. */
export type ToEntry = (m: {
  seq: number;
  data: Uint8Array;
  headers?: MsgHdrs | undefined;
  info: { timestampNanos: number };
}) => LogEntry;

/** A streaming reader of one stream from a position. */
export class LogCursor {
  /** The sequence the next entry handed out will have. */
  position: number;
  lastUsedMs: number;
  readonly #buffer: LogEntry[] = [];
  readonly #highWater: number;
  #messages: ConsumerMessages | undefined;
  #consumer: Consumer | undefined;
  #closed = false;
  #failed: unknown;
  readonly #onData = new Set<() => void>();
  #onSpace: (() => void) | undefined;

  private constructor(position: number, highWater: number) {
    this.position = position;
    this.#highWater = highWater;
    this.lastUsedMs = Date.now();
  }

  /** Opens a cursor at `fromSeq` on `stream`. */
  static async open(
    js: JetStreamClient,
    stream: string,
    fromSeq: number,
    toEntry: ToEntry,
    highWater = 2000,
  ): Promise<LogCursor> {
    const c = new LogCursor(fromSeq, highWater);
    const consumer: Consumer = await js.consumers.get(stream, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(1, fromSeq),
    });
    c.#consumer = consumer;
    c.#messages = await consumer.consume({ max_messages: Math.min(highWater, 1000) });
    void c.#pump(toEntry);
    return c;
  }

  async #pump(toEntry: ToEntry): Promise<void> {
    try {
      for await (const m of this.#messages as ConsumerMessages) {
        if (this.#closed) break;
        this.#buffer.push(toEntry(m));
        this.#wake();
        if (this.#buffer.length >= this.#highWater) {
          await new Promise<void>((resolve) => (this.#onSpace = resolve));
        }
      }
    } catch (err) {
      this.#failed = err;
    } finally {
      this.#closed = true;
      this.#wake();
    }
  }

  #wake(): void {
    for (const w of [...this.#onData]) w();
  }

  /** True once closed or failed (the event log then opens a new one). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Entries buffered and not yet handed out. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** The last batch handed out, so a reader retrying it (its handler failed) gets it again. */
  lastBatch: { readonly from: number; readonly entries: LogEntry[] } | undefined;

  /** Hands out up to `limit` buffered entries (none waits). */
  take(limit: number): LogEntry[] {
    this.lastUsedMs = Date.now();
    if (this.#failed !== undefined && this.#buffer.length === 0) throw this.#failed;
    const out = this.#buffer.splice(0, limit);
    const last = out.at(-1);
    if (last !== undefined) {
      this.lastBatch = { from: this.position, entries: out };
      this.position = last.seq + 1;
    }
    if (this.#onSpace !== undefined && this.#buffer.length < this.#highWater / 2) {
      const resume = this.#onSpace;
      this.#onSpace = undefined;
      resume();
    }
    return out;
  }

  /**
   * Resolves when `count` entries (default 1) are buffered, the cursor closes, `maxWaitMs` passes
   * or `signal` aborts (rejecting with its reason).
   */
  async waitForData(maxWaitMs: number, signal?: AbortSignal, count = 1): Promise<void> {
    this.lastUsedMs = Date.now();
    signal?.throwIfAborted();
    const want = Math.min(count, this.#highWater);
    if (this.#buffer.length >= want || this.#closed) return;
    await new Promise<void>((resolve, reject) => {
      // Every way out removes the waiter, so idle polls (a timeout each) leave nothing behind.
      const finish = (err?: unknown): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#onData.delete(done);
        if (err === undefined) resolve();
        else reject(err);
      };
      const done = (): void => {
        if (this.#buffer.length >= want || this.#closed) finish();
      };
      const onAbort = (): void => finish(signal?.reason);
      const timer = setTimeout(() => finish(), maxWaitMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#onData.add(done);
    });
  }

  /**
   * Stops the consumer and deletes it on the server (closing the iterator alone leaves it there,
   * filled up to its pull, until JetStream's inactivity threshold, 5 minutes); buffered entries
   * are dropped. Neither step waits or throws.
   */
  close(): void {
    if (this.#closed && this.#messages === undefined) return;
    this.#closed = true;
    const m = this.#messages;
    const consumer = this.#consumer;
    this.#messages = undefined;
    this.#consumer = undefined;
    this.#onSpace?.();
    void Promise.resolve(m?.close())
      .catch(() => undefined)
      .then(() => consumer?.delete())
      .catch(() => undefined);
    this.#wake();
  }
}
