/**
 * A background WAL checkpointer: a worker thread with its own connection to the database copies
 * the write-ahead log back into the database file, so the fsyncs of a checkpoint (milliseconds to
 * tens of milliseconds on a real disk) never stall the thread that serves requests.
 *
 * Every `intervalMs` it runs a PASSIVE checkpoint, which neither blocks the writer nor changes
 * the WAL header (so a transaction of the writer never finds its snapshot moved). Under steady
 * writes a passive checkpoint never catches up with the very last frame, so the WAL never starts
 * over by itself: the writer's own connection keeps a large `wal_autocheckpoint`, and when the
 * WAL passes it, that checkpoint has only the frames written since the thread's last pass to copy,
 * after which the next transaction writes the WAL from its start again (see `openSqlite`).
 *
 * @module
 */
import { Worker } from 'node:worker_threads';

/** Options of {@link startCheckpointer}. */
export interface CheckpointerOptions {
  /** The database file (in WAL mode, not opened in exclusive locking mode). */
  readonly path: string;
  /** Time between passive checkpoints. @default 100 */
  readonly intervalMs?: number;
  /** Called with a checkpoint's error (the checkpointer keeps running). */
  readonly onError?: (message: string) => void;
  /** Longest wait in `stop()` for the thread to close its connection. @default 2000 */
  readonly stopTimeoutMs?: number;
}

/** A running checkpointer. */
export interface Checkpointer {
  /**
   * Stops the worker and waits (synchronously, at most `stopTimeoutMs`) until its connection is
   * closed, so the caller's connection is the last one and nothing holds the file afterwards.
   */
  stop(): void;
}

// CommonJS, run by the worker with `eval: true`: no file to locate at run time.
const WORKER_SOURCE = `
const { DatabaseSync } = require('node:sqlite');
const { parentPort, workerData } = require('node:worker_threads');
const db = new DatabaseSync(workerData.path);
db.exec('PRAGMA busy_timeout = 1000');
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
let failing = false;
const tick = () => {
  try {
    passive.get();
    failing = false;
  } catch (err) {
    if (!failing) parentPort.postMessage({ error: String(err && err.message ? err.message : err) });
    failing = true;
  }
};
const timer = setInterval(tick, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  try { db.close(); } catch {}
  Atomics.store(workerData.closed, 0, 1);
  Atomics.notify(workerData.closed, 0);
  parentPort.close();
});
`;

/** Starts the checkpointer thread for the database at `path` (it does not keep the process alive). */
export function startCheckpointer(options: CheckpointerOptions): Checkpointer {
  // Set to 1 by the thread once its connection is closed.
  const closed = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      path: options.path,
      intervalMs: options.intervalMs ?? 100,
      closed,
    },
  });
  worker.unref();
  let exited = false;
  worker.on('message', (m: { error?: string }) => {
    if (m.error !== undefined) options.onError?.(`WAL checkpoint failed: ${m.error}`);
  });
  worker.on('error', (err) => {
    exited = true;
    options.onError?.(`WAL checkpointer stopped: ${err.message}`);
  });
  let stopped = false;
  worker.on('exit', () => {
    exited = true;
  });
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      if (exited) return;
      worker.postMessage('stop');
      // A connection closed after ours would be the last one: it would checkpoint and delete the
      // WAL while a new process (a restart, a test) may already be opening the file.
      if (Atomics.wait(closed, 0, 0, options.stopTimeoutMs ?? 2000) === 'timed-out') {
        options.onError?.('WAL checkpointer did not close its connection in time; closing anyway');
      }
    },
  };
}
