/**
 * Autoscaling benchmark: HPA (Kubernetes default behavior), KPA (Knative defaults) and Ballast's
 * policy on the same simulated plant, per trace:
 *
 * - `alibaba-genai-qps`: the Alibaba GenAI serving QPS trace (research use only; read in place
 *   from ../shared/data/traces/ or --alibaba PATH, never copied), rescaled to a 3000 orders/s peak;
 * - `synthetic-crypto`: 24 h of synthetic crypto activity with Hawkes-clustered flash-crash bursts
 *   (one trace per seed).
 *
 * Each policy gets the same tuning effort: 8 knob settings, each averaged over the seeds. The
 * budget is 110% of the replica-hours of HPA at a 70% target (the common default); each policy's
 * reported point is its setting with the fewest SLO-violation minutes within that budget.
 * `ballast` applies its decisions at once, as `ballast autoscale live` does (the scale subresource on
 * Kubernetes, `ballast cluster scale` on one machine); `ballastViaKeda` (reported apart, not used
 * for the target) runs the same grid through Prometheus → KEDA → HPA, 15 s later.
 *
 *   npm run bench:autoscale -- [--seeds N] [--alibaba PATH]
 *
 * Last line: one JSON object.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  bestWithinBudget,
  createProgressBar,
  defaultGrid,
  generateCryptoTrace,
  loadTraceFile,
  sweep,
  SWEEP_SIZE,
  type PolicyName,
  type SweepPoint,
  type Trace,
} from '@ballast/autoscaler';
import { intFlag, parseBenchArgs } from '../lib/args.ts';

const args = parseBenchArgs(process.argv.slice(2), {
  seeds: { type: 'string' },
  alibaba: { type: 'string' },
});
const seedCount = intFlag('seeds', args.seeds, 3);
const seeds = Array.from({ length: seedCount }, (_, i) => i + 1);
const alibabaPath =
  (args.alibaba as string | undefined) ??
  fileURLToPath(new URL('../../../shared/data/traces/alibaba-genai-qps.csv.gz', import.meta.url));
if (!existsSync(alibabaPath)) {
  console.error(
    `bench:autoscale: the Alibaba trace is missing at ${alibabaPath}\n` +
      'It is read in place from ../shared/data/traces/ (research use only, never copied into the repository);\n' +
      'pass --alibaba PATH to point at alibaba-genai-qps.csv.gz.',
  );
  process.exit(1);
}

const log = (m: string): void => void process.stderr.write(`${m}\n`);
const alibaba = loadTraceFile(alibabaPath, { peakOrdersPerS: 3000, name: 'alibaba-genai-qps' });
const synthetic = new Map<number, Trace>();
const traces: Record<string, Trace | ((seed: number) => Trace)> = {
  'alibaba-genai-qps': alibaba,
  'synthetic-crypto': (seed) => {
    let t = synthetic.get(seed);
    if (t === undefined) synthetic.set(seed, (t = generateCryptoTrace({ seed })));
    return t;
  },
};
const policies: PolicyName[] = ['hpa', 'kpa', 'ballast'];
/**
 * Extra, reported apart: the same Ballast grid applied through Prometheus → KEDA → HPA (a 15 s
 * actuation delay) instead of directly.
 */
const viaKedaGrid = defaultGrid('ballast', {}, { actuationDelayS: 15 });
const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;
const started = performance.now();

const out: Record<string, Record<string, unknown>> = {};
const ratios: Record<string, unknown> = {};
const total = Object.keys(traces).length * (policies.length + 1) * SWEEP_SIZE * seeds.length;
const bar = createProgressBar(process.stderr, total, 'bench:autoscale');
let done = 0;
let allMet = true;
for (const [name, trace] of Object.entries(traces)) {
  const sweeps: Record<string, SweepPoint[]> = {};
  for (const policy of policies) {
    const base = done;
    const grid = defaultGrid(policy);
    sweeps[policy] = sweep({ trace, policy, seeds, grid, onProgress: (d) => bar.update((done = base + d)) }).points;
  }
  {
    const base = done;
    sweeps.ballastViaKeda = sweep({
      trace,
      policy: 'ballast',
      seeds,
      grid: viaKedaGrid,
      onProgress: (d) => bar.update((done = base + d)),
    }).points;
  }
  const hpaDefault = sweeps.hpa!.find((p) => p.knobs.targetUtilizationPct === 70)!;
  const budget = hpaDefault.replicaHours * 1.1;
  const picks: Record<string, SweepPoint> = {};
  const entry: Record<string, unknown> = {
    hpaDefault: { sloViolationMin: round(hpaDefault.sloViolationMin), replicaHours: round(hpaDefault.replicaHours) },
    replicaHourBudget: round(budget),
  };
  for (const policy of [...policies, 'ballastViaKeda']) {
    const best = bestWithinBudget(sweeps[policy]!, budget)!;
    picks[policy] = best;
    entry[policy] = {
      sloViolationMin: round(best.sloViolationMin),
      replicaHours: round(best.replicaHours),
      withinBudget: best.replicaHours <= budget,
      knobs: best.label,
      overProvisionedReplicaHours: round(best.overProvisionedReplicaHours),
      underProvisionedReplicaHours: round(best.underProvisionedReplicaHours),
      timeToCapacityP95S: round(best.timeToCapacityP95S, 1),
      scalingActionsPerHour: round(best.scalingActionsPerHour, 1),
    };
    log(
      `${name} ${policy.padEnd(8)} ` +
        sweeps[policy]!.map(
          (p) => `${p.label}: ${round(p.sloViolationMin, 1)} min / ${round(p.replicaHours, 1)} rh`,
        ).join(' | '),
    );
  }
  out[name] = entry;
  const sloRatio = picks.hpa!.sloViolationMin > 0 ? picks.ballast!.sloViolationMin / picks.hpa!.sloViolationMin : null;
  const rhRatio = picks.ballast!.replicaHours / picks.hpa!.replicaHours;
  // Within the budget too: bestWithinBudget falls back to the cheapest setting when none fits.
  const met = sloRatio !== null && sloRatio <= 0.5 && rhRatio <= 1.1 && picks.ballast!.replicaHours <= budget;
  allMet &&= met;
  ratios[name] = {
    ballastOverHpaSloViolationMin: sloRatio === null ? null : round(sloRatio, 3),
    ballastOverHpaReplicaHours: round(rhRatio, 3),
    ballastOverHpaDefaultSloViolationMin:
      hpaDefault.sloViolationMin > 0 ? round(picks.ballast!.sloViolationMin / hpaDefault.sloViolationMin, 3) : null,
    ballastViaKedaOverHpaSloViolationMin:
      picks.hpa!.sloViolationMin > 0
        ? round(picks.ballastViaKeda!.sloViolationMin / picks.hpa!.sloViolationMin, 3)
        : null,
    targetMet: met,
  };
}
bar.done();
const seconds = (performance.now() - started) / 1000;
log(`bench:autoscale: ${total} simulations in ${seconds.toFixed(1)} s`);
console.log(
  JSON.stringify({
    bench: 'autoscale',
    seeds,
    settingsPerPolicy: SWEEP_SIZE,
    target: "ballast SLO-violation minutes <= 50% of hpa's at <= 110% of hpa's replica-hours",
    traces: out,
    ratios: { ...ratios, targetMetOnAllTraces: allMet },
    seconds: round(seconds, 1),
  }),
);
