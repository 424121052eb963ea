/**
 * Group commit: requests queue up while one batch is being written; when it finishes, the next
 * batch takes everything that arrived meanwhile (up to `maxBatch`). Under light load a request
 * is written alone and at once; under heavy load batches grow, so the number of transactions
 * stays bounded while throughput grows.
 *
 * @module
 */

/** A queue that hands batches to `write`, one batch at a time. */
export interface GroupCommit<T> {
  /** Queues `item`; `write` will see it in a later batch. */
  push(item: T): void;
}

/**
 * Creates a group committer. `write` must settle every item it is given (it is never called
 * with an empty batch, and never twice at once).
 */
export function createGroupCommit<T>(write: (batch: T[]) => Promise<void>, maxBatch: number): GroupCommit<T> {
  let queue: T[] = [];
  let running = false;
  const run = async (): Promise<void> => {
    running = true;
    try {
      while (queue.length > 0) {
        const batch = queue.length > maxBatch ? queue.splice(0, maxBatch) : queue;
        if (batch === queue) queue = [];
        await write(batch);
      }
    } finally {
      running = false;
    }
  };
  return {
    push(item) {
      queue.push(item);
      if (!running) {
        running = true;
        // Let the requests of this turn of the event loop join the first batch.
        setImmediate(() => void run());
      }
    },
  };
}
