/**
 * What one message between two processes costs on this machine: the floor under every hop of
 * distributed mode (gateway → oms, oms → PostgreSQL, oms → NATS → matching → …).
 *
 *   npm run bench:ipc -- [--rounds N]
 *
 * Two Node processes ping-pong one byte over a loopback TCP connection (Nagle off), `--rounds`
 * round trips (default 20,000) after a warm-up, in three placements:
 * - `sameCore`: both pinned to core 0 (`taskset`), so a message never wakes another core;
 * - `crossCore`: one on core 0, the other on core 1, so every message wakes the other core;
 * - `unpinned`: where the kernel puts them, as the processes of `ballast cluster` run.
 * For each: the round trip (`rttUs`) and the CPU both processes spent per round trip
 * (`cpuPerRoundTripUs`, user + system, from /proc). A placement is left out (`null`) when
 * `taskset` is missing or the machine has one core. Last line: one JSON object.
 *
 * @module
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer, connect, type Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import { parseBenchArgs, intFlag } from '../lib/args.ts';
import { cpuSeconds } from '../lib/proc.ts';

const args = parseBenchArgs(process.argv.slice(2), {
  rounds: { type: 'string' },
  // internal: this script as the echoing peer
  'echo-port': { type: 'string' },
});

if (args['echo-port'] !== undefined) {
  // The peer: echo every byte back at once.
  const s = connect(Number(args['echo-port']), '127.0.0.1');
  s.setNoDelay(true);
  s.on('data', (d) => s.write(d));
  s.on('close', () => process.exit(0));
} else {
  const rounds = intFlag('rounds', args.rounds, 20_000);
  const warmup = Math.min(2_000, rounds);
  const hasTaskset = spawnSync('taskset', ['--version']).status === 0;
  const cores = availableParallelism();

  /** One placement: `self`/`peer` are taskset core lists, or undefined for no pinning. */
  const run = (self: string | undefined, peer: string | undefined) =>
    new Promise<{ rttUs: number; cpuPerRoundTripUs: number }>((resolve, reject) => {
      if (self !== undefined) spawnSync('taskset', ['-a', '-p', '-c', self, String(process.pid)]);
      const server = createServer((sock: Socket) => {
        sock.setNoDelay(true);
        let n = 0;
        let t0 = 0;
        let cpu0 = 0;
        sock.on('data', () => {
          n++;
          if (n === warmup) {
            t0 = performance.now();
            cpu0 = cpuSeconds(process.pid) + cpuSeconds(child.pid!);
          }
          if (n === warmup + rounds) {
            const us = (performance.now() - t0) * 1000;
            const cpuUs = (cpuSeconds(process.pid) + cpuSeconds(child.pid!) - cpu0) * 1e6;
            sock.destroy();
            server.close();
            resolve({
              rttUs: Math.round((us / rounds) * 10) / 10,
              cpuPerRoundTripUs: Math.round((cpuUs / rounds) * 10) / 10,
            });
            return;
          }
          sock.write('x');
        });
        sock.write('x');
      });
      let child: ReturnType<typeof spawn>;
      server.listen(0, '127.0.0.1', () => {
        const port = String((server.address() as { port: number }).port);
        const node = [process.execPath, ...process.execArgv, import.meta.filename, '--echo-port', port];
        child = peer === undefined ? spawn(node[0]!, node.slice(1)) : spawn('taskset', ['-c', peer, ...node]);
        child.on('error', reject);
      });
    });

  const pinned = hasTaskset && cores >= 2;
  const sameCore = pinned ? await run('0', '0') : null;
  const crossCore = pinned ? await run('0', '1') : null;
  if (pinned) spawnSync('taskset', ['-a', '-p', '-c', `0-${cores - 1}`, String(process.pid)]);
  const unpinned = await run(undefined, undefined);
  const ratio = (a: { cpuPerRoundTripUs: number } | null) =>
    a === null || sameCore === null ? null : Math.round((a.cpuPerRoundTripUs / sameCore.cpuPerRoundTripUs) * 100) / 100;
  process.stderr.write(
    `same core ${JSON.stringify(sameCore)}\ncross core ${JSON.stringify(crossCore)}\nunpinned ${JSON.stringify(unpinned)}\n`,
  );
  console.log(
    JSON.stringify({
      bench: 'ipc',
      node: process.version,
      cores,
      rounds,
      sameCore,
      crossCore,
      unpinned,
      cpuRatioCrossToSame: ratio(crossCore),
      cpuRatioUnpinnedToSame: ratio(unpinned),
    }),
  );
}
