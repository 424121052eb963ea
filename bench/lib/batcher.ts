/**
 * Group commit for the benches' peer servers: queues items and hands each event-loop turn's to
 * `write` as one batch, with up to `lanes` batches in flight (as the oms writes); each item's
 * promise settles with its own result (`write` answers one result per item, in order) or with the
 * batch's error.
 *
 * @module
 */

/** Returns `submit(item)`, which resolves with the item's result once its batch is written. */
export const batcher = <T, R>(write: (items: T[]) => Promise<R[]>, lanes = 4): ((item: T) => Promise<R>) => {
  let queue: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  let inFlight = 0;
  let scheduled = false;
  const schedule = (): void => {
    if (scheduled || inFlight >= lanes || queue.length === 0) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      const batch = queue;
      queue = [];
      inFlight++;
      write(batch.map((b) => b.item))
        .then(
          (rs) => batch.forEach((b, i) => b.resolve(rs[i] as R)),
          (err: unknown) => batch.forEach((b) => b.reject(err)),
        )
        .finally(() => {
          inFlight--;
          schedule();
        });
    });
  };
  return (item: T): Promise<R> =>
    new Promise<R>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      schedule();
    });
};
