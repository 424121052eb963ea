/**
 * JetStream publishes with their acknowledgements matched through one inbox subscription.
 *
 * `js.publish` of nats.js makes each publish a request: a timer, a deferred and, when the request
 * ends, an `Error` (with its stack trace) for a cancel that no one sees. Under load that is a
 * measurable share of the CPU of the processes that append (the oms, one publish per order). Here a
 * publish is a plain message with a reply subject `<inbox>.<n>`; one subscription on `<inbox>.*`
 * answers them, and one timer, running only while publishes wait, fails those waiting longer than
 * `timeoutMs`. The acknowledgement is parsed as JetStream sends it (`{stream, seq, duplicate}` or
 * `{error}`), errors as nats.js raises them, so callers classify both in one way.
 *
 * @module
 */
import { JetStreamApiError } from '@nats-io/jetstream';
import { NoRespondersError, createInbox, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';

/** What JetStream answered a stored (or de-duplicated) publish. */
export interface PublishAck {
  /** The message's stream sequence (the first one's, for a duplicate). */
  readonly seq: number;
  /** Whether the message id was already in the stream's duplicate window (nothing stored). */
  readonly duplicate: boolean;
}

interface Waiting {
  readonly subject: string;
  readonly resolve: (ack: PublishAck) => void;
  readonly reject: (err: Error) => void;
  readonly sentMs: number;
}

const decoder = new TextDecoder();

/** Publishes to JetStream and waits for each acknowledgement without a request object per message. */
export class AckedPublisher {
  readonly #nc: NatsConnection;
  readonly #timeoutMs: number;
  readonly #inbox: string;
  readonly #waiting = new Map<number, Waiting>();
  #subscribed = false;
  #next = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** `timeoutMs`: how long a publish waits for its acknowledgement before it fails (retryable). */
  constructor(nc: NatsConnection, timeoutMs: number) {
    if (!(Number.isFinite(timeoutMs) && timeoutMs > 0))
      throw new RangeError(`publish timeout must be a positive number of ms, got ${timeoutMs}`);
    this.#nc = nc;
    this.#timeoutMs = timeoutMs;
    // The connection's own inbox prefix, as its requests use (a deployment may restrict inboxes).
    this.#inbox = createInbox((nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    void nc.closed().then(() => this.#failAll(new Error('connection closed')));
    // The server refuses a publish the account may not make with an error that names the subject,
    // not with an answer to the reply subject: fail those publishes at once rather than at the
    // timeout, with the server's reason.
    void (async () => {
      for await (const st of nc.status()) {
        if (st.type !== 'error') continue;
        const e = st.error as Error & { operation?: string; subject?: string };
        if (e.name === 'PermissionViolationError' && e.operation === 'publish' && e.subject !== undefined)
          this.#failSubject(e.subject, e);
      }
    })();
  }

  /**
   * Publishes `payload` to `subject` with `headers` (JetStream's `Nats-Msg-Id`,
   * `Nats-Expected-Last-Sequence`, …) and resolves with JetStream's acknowledgement. Rejects with
   * a `JetStreamApiError` when JetStream refuses it, a `NoRespondersError` when no stream takes the
   * subject, an `Error` whose message says `timeout` or `connection closed`; a permissions
   * violation (of this publish, or of the inbox subscription) as the server reported it.
   */
  publish(subject: string, payload: Uint8Array, headers: MsgHdrs | undefined): Promise<PublishAck> {
    const id = ++this.#next;
    return new Promise<PublishAck>((resolve, reject) => {
      try {
        if (!this.#subscribed) {
          this.#nc.subscribe(`${this.#inbox}.*`, { callback: (err, msg) => this.#onAck(err, msg) });
          this.#subscribed = true;
        }
        this.#nc.publish(subject, payload, {
          reply: `${this.#inbox}.${id}`,
          ...(headers !== undefined ? { headers } : {}),
        });
      } catch (err) {
        reject(err as Error);
        return;
      }
      this.#waiting.set(id, { subject, resolve, reject, sentMs: performance.now() });
      this.#timer ??= setTimeout(() => this.#expire(), this.#timeoutMs);
    });
  }

  #onAck(err: Error | null, msg: Msg): void {
    if (err !== null) {
      // The subscription ended (a permissions error): the next publish subscribes again.
      this.#subscribed = false;
      this.#failAll(err);
      return;
    }
    const id = Number(msg.subject.slice(this.#inbox.length + 1));
    const w = this.#waiting.get(id);
    if (w === undefined) return; // timed out already
    this.#waiting.delete(id);
    // A status message: 503 when no stream listens on the subject (JetStream not ready).
    if (msg.data.length === 0 && msg.headers?.hasError === true) {
      const code = msg.headers.code;
      w.reject(
        code === 503
          ? new NoRespondersError(w.subject)
          : new Error(`publish failed: ${code} ${msg.headers.description}`),
      );
      return;
    }
    let ack: {
      stream?: string;
      seq?: number;
      duplicate?: boolean;
      error?: { code: number; err_code: number; description: string };
    };
    try {
      ack = JSON.parse(decoder.decode(msg.data)) as typeof ack;
    } catch (e) {
      w.reject(new Error('invalid ack response', { cause: e }));
      return;
    }
    if (ack.error !== undefined) w.reject(new JetStreamApiError(ack.error));
    else if (typeof ack.seq !== 'number' || !ack.stream) w.reject(new Error('invalid ack response'));
    else w.resolve({ seq: ack.seq, duplicate: ack.duplicate === true });
  }

  /** Fails publishes waiting longer than the timeout; runs again while any wait. */
  #expire(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (const [id, w] of this.#waiting) {
      // Insertion order is send order: the first one still in time ends the sweep.
      if (now - w.sentMs < this.#timeoutMs) break;
      this.#waiting.delete(id);
      w.reject(new Error(`timeout: no JetStream acknowledgement within ${this.#timeoutMs} ms`));
    }
    const first = this.#waiting.values().next();
    if (!first.done) {
      this.#timer = setTimeout(() => this.#expire(), Math.max(1, this.#timeoutMs - (now - first.value.sentMs)));
    }
  }

  #failSubject(subject: string, err: Error): void {
    for (const [id, w] of this.#waiting) {
      if (w.subject !== subject) continue;
      this.#waiting.delete(id);
      w.reject(err);
    }
  }

  #failAll(err: Error): void {
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const w of waiting) w.reject(err);
  }
}
