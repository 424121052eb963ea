/**
 * Matching failover benchmark. It starts what it measures and stops it at the end:
 *
 *   npm run bench:failover -- [--kills N] [--matchers N] [--lease-ttl-ms MS] [--workers N]
 *
 * On this machine's PostgreSQL and NATS (a private database and stream prefix, dropped at the
 * end) it runs one gateway+oms+ledger process and `--matchers` (default 3) `--role matching`
 * processes: each shard (one per symbol) has a leader and hot standbys. Under a steady order
 * flow (`--workers` closed-loop clients, default 4, crossing orders on BTCUSDT and ETHUSDT) it
 * kills the leader of a shard with SIGKILL `--kills` times (default 20, alternating shards) and
 * starts a replacement each time (as a supervisor would), so standbys remain.
 *
 * Failover time = from the SIGKILL to the first new event in that shard's event log (polled every
 * 5 ms). Afterwards, once everything caught up: acknowledged orders lost (an acknowledged order
 * that matching never accepted or rejected, or that is missing from order history) and duplicate
 * fills (a trade id twice in the trades table or in an event log) are counted, and every event
 * log is checked gap-free and byte-identical to a clean replay of its command log.
 *
 * Last line: `{"bench":"failover","kills":…,"failoverMs":{"p50":…,"p99":…,"max":…},"lostAcked":…,"duplicateFills":…,…}`.
 *
 * @module
 */
import { intFlag, parseBenchArgs } from '../lib/args.ts';
import { quantileSorted } from '../lib/stats.ts';
import { startFailoverRig } from '../../services/ballast/test/failover-rig.ts';

const args = parseBenchArgs(process.argv.slice(2), {
  kills: { type: 'string' },
  matchers: { type: 'string' },
  'lease-ttl-ms': { type: 'string' },
  workers: { type: 'string' },
});
const kills = intFlag('kills', args.kills, 20);
const matchers = intFlag('matchers', args.matchers, 3);
const leaseTtlMs = intFlag('lease-ttl-ms', args['lease-ttl-ms'], 1200);
const workers = intFlag('workers', args.workers, 4);
if (matchers < 2) {
  console.error('bench: --matchers must be at least 2 (a leader and a standby)');
  process.exit(2);
}

const log = (msg: string): void => console.error(`[failover] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const waitFor = async <T>(f: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
};

log(`starting: ${matchers} matching processes, lease TTL ${leaseTtlMs} ms`);
const rig = await startFailoverRig({ name: 'fobench', matchers, leaseTtlMs });
let exitCode = 0;
try {
  const flow = rig.startFlow(workers);
  const samples: number[] = [];
  const perKill: { shard: string; ms: number }[] = [];
  try {
    await waitFor(async () => (await rig.lastEvent('BTCUSDT')) > 50, 30_000, 'order flow');
    for (let k = 0; k < kills; k++) {
      const shard = rig.symbols[k % rig.symbols.length] as string;
      const leader = await waitFor(() => rig.leaderOf(shard), 15_000, `a leader of ${shard}`);
      const t0 = performance.now();
      await rig.kill(leader);
      const atKill = await rig.lastEvent(shard);
      const replacement = rig.startMatcher();
      await waitFor(
        async () => (await rig.lastEvent(shard)) > atKill,
        30_000,
        `events on ${shard} after kill ${k + 1}`,
      );
      const ms = Math.round(performance.now() - t0);
      samples.push(ms);
      perKill.push({ shard, ms });
      log(`kill ${k + 1}/${kills} (${shard}, pid ${leader.child.pid}): first new event after ${ms} ms`);
      await replacement;
      // Let rebalancing settle (the replacement takes a shard from a replica leading two).
      await sleep(leaseTtlMs);
    }
  } finally {
    await flow.stop();
  }
  log(`verifying ${flow.acked()} acknowledged orders`);
  const verdict = await rig.verify(120_000);
  const sorted = [...samples].sort((a, b) => a - b);
  const result = {
    bench: 'failover',
    kills: samples.length,
    failoverMs: {
      p50: quantileSorted(sorted, 0.5),
      p99: quantileSorted(sorted, 0.99),
      max: sorted.at(-1) ?? 0,
    },
    lostAcked: verdict.lostAcked,
    duplicateFills: verdict.duplicateFills,
    acked: verdict.acked,
    trades: verdict.trades,
    invariantsOk: verdict.problems.length === 0,
    problems: verdict.problems.slice(0, 10),
    leaseTtlMs,
    matchers,
    workers,
    targetP99Ms: 2000,
    targetMet: quantileSorted(sorted, 0.99) <= 2000 && verdict.lostAcked === 0 && verdict.duplicateFills === 0,
    perKill,
  };
  if (verdict.problems.length > 0) exitCode = 1;
  console.log(JSON.stringify(result));
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  await rig.close();
}
process.exit(exitCode);
