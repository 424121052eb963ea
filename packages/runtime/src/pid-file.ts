/**
 * An exclusive pid file: proof that one process alone uses a folder or a file (a data folder's
 * SQLite database, a cluster's state folder).
 *
 * @module
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

/**
 * Takes the pid file at `path` (created exclusively, so two processes starting at once cannot
 * both take it); a stale file — its process gone, as after `kill -9` — is replaced. Returns the
 * pid of a live holder, or `undefined` once this process holds it. The file is removed when the
 * process exits, or earlier by {@link releasePidFile}.
 */
export function takePidFile(path: string): number | undefined {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      const release = (): void => releasePidFile(path);
      held.set(path, release);
      process.once('exit', release);
      return undefined;
    } catch {
      let pid = NaN;
      try {
        pid = Number(readFileSync(path, 'utf8').trim());
      } catch {
        /* removed meanwhile: try again */
      }
      try {
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
          process.kill(pid, 0);
          return pid;
        }
      } catch {
        /* stale: its process is gone */
      }
      rmSync(path, { force: true });
    }
  }
  return undefined;
}

const held = new Map<string, () => void>();

/** Removes a pid file this process took with {@link takePidFile}; does nothing otherwise. */
export function releasePidFile(path: string): void {
  const release = held.get(path);
  if (release === undefined) return;
  held.delete(path);
  process.removeListener('exit', release);
  rmSync(path, { force: true });
}
