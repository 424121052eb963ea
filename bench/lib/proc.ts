/**
 * Reading a process's CPU time from /proc (Linux), for benches that measure other processes.
 *
 * @module
 */
import { readFileSync } from 'node:fs';

/** CPU seconds (user + system) of a process, from /proc/<pid>/stat, in clock ticks of 10 ms. */
export const cpuSeconds = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
