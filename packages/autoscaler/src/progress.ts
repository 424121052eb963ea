/**
 * A one-line progress bar for long sweeps, drawn on a TTY stream only (a pipe or a log file gets
 * nothing), redrawn at most every `minIntervalMs`.
 *
 * @module
 */

/** A progress bar; call {@link ProgressBar.update} with the done count, then {@link ProgressBar.done}. */
export interface ProgressBar {
  update(done: number): void;
  done(): void;
}

/** Creates a bar of `total` steps on `stream` (a no-op unless `stream.isTTY`). */
export function createProgressBar(
  stream: NodeJS.WritableStream,
  total: number,
  label: string,
  options: { width?: number; minIntervalMs?: number; now?: () => number } = {},
): ProgressBar {
  const tty = (stream as { isTTY?: boolean }).isTTY === true;
  if (!tty || total <= 0) return { update: () => {}, done: () => {} };
  const width = options.width ?? 30;
  const minInterval = options.minIntervalMs ?? 100;
  const now = options.now ?? (() => performance.now());
  const started = now();
  let last = -Infinity;
  const draw = (done: number): void => {
    const f = Math.min(1, done / total);
    const filled = Math.round(f * width);
    const elapsedS = (now() - started) / 1000;
    const etaS = f > 0 ? (elapsedS / f) * (1 - f) : 0;
    stream.write(
      `\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${(f * 100).toFixed(0)}% eta ${etaS.toFixed(0)}s `,
    );
  };
  return {
    update(done: number) {
      const t = now();
      if (done < total && t - last < minInterval) return;
      last = t;
      draw(done);
    },
    done() {
      draw(total);
      stream.write('\n');
    },
  };
}
