/**
 * `ballast autoscale simulate ...`: the command-line entry, as a function the `ballast` CLI wires.
 *
 *   simulate --trace FILE|synthetic --policy hpa|kpa|ballast|all [--seed S] [--out plot.html]
 *            [--sweep] [--seeds N] [--peak ORDERS_PER_S] [--hours H]
 *
 * Prints one line per run (or per sweep point) and, last, one JSON object. Exit codes: 0 done,
 * 1 failed (e.g. trace unreadable), 2 invalid arguments (the message names the argument), 130
 * aborted through `io.signal`.
 *
 * @module
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { driverFor, PolicyName } from './drivers.ts';
import { renderHtmlReport } from './plot.ts';
import { createProgressBar } from './progress.ts';
import { resolvePlant, simulate, type SimResult } from './simulator.ts';
import { sweep, type SweepPoint } from './sweep.ts';
import { generateCryptoTrace } from './synthetic.ts';
import { loadTraceFile, type Trace } from './trace.ts';

/** Streams (and an optional abort signal) for {@link runAutoscaleCommand}. */
export interface AutoscaleIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly signal?: AbortSignal;
}

const USAGE =
  'usage: autoscale simulate --trace FILE|synthetic --policy hpa|kpa|ballast|all [--seed S] [--out plot.html] [--sweep] [--seeds N] [--peak ORDERS_PER_S] [--hours H]';

class UsageError extends Error {}

const positiveNumber = (name: string, v: string | undefined, fallback: number, integer = false): number => {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isSafeInteger(n))) {
    throw new UsageError(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(v)}`);
  }
  return n;
};

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

/**
 * Runs `argv` (without the `autoscale` word, e.g. `['simulate', '--trace', 'synthetic', ...]`);
 * resolves to the exit code.
 */
export async function runAutoscaleCommand(argv: string[], io: AutoscaleIo): Promise<number> {
  const out = (s: string): void => void io.stdout.write(`${s}\n`);
  const err = (s: string): void => void io.stderr.write(`${s}\n`);
  let args: {
    trace: string;
    policies: PolicyName[];
    seed: number;
    out: string | undefined;
    sweep: boolean;
    seeds: number;
    peak: number;
    hours: number;
  };
  try {
    const [command, ...rest] = argv;
    if (command !== 'simulate') {
      throw new UsageError(
        command === undefined ? 'missing command (simulate)' : `unknown command ${JSON.stringify(command)}`,
      );
    }
    let values;
    try {
      ({ values } = parseArgs({
        args: rest,
        strict: true,
        allowPositionals: false,
        options: {
          trace: { type: 'string' },
          policy: { type: 'string' },
          seed: { type: 'string' },
          out: { type: 'string' },
          sweep: { type: 'boolean' },
          seeds: { type: 'string' },
          peak: { type: 'string' },
          hours: { type: 'string' },
        },
      }));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (values.trace === undefined || values.trace === '')
      throw new UsageError('--trace is required (a file or "synthetic")');
    const policyArg = values.policy ?? '';
    const known = Object.values(PolicyName) as string[];
    if (policyArg !== 'all' && !known.includes(policyArg)) {
      throw new UsageError(
        `--policy must be one of hpa, kpa, ballast, all; got ${JSON.stringify(values.policy ?? '')}`,
      );
    }
    const seed = values.seed === undefined ? 1 : Number(values.seed);
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new UsageError(`--seed must be a non-negative integer, got ${JSON.stringify(values.seed)}`);
    args = {
      trace: values.trace,
      policies: policyArg === 'all' ? (known as PolicyName[]) : [policyArg as PolicyName],
      seed,
      out: values.out,
      sweep: values.sweep === true,
      seeds: positiveNumber('seeds', values.seeds, 1, true),
      peak: positiveNumber('peak', values.peak, 3000),
      hours: positiveNumber('hours', values.hours, 24),
    };
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`autoscale: ${e.message}`);
    err(USAGE);
    return 2;
  }

  const makeTrace = (seed: number): Trace =>
    args.trace === 'synthetic'
      ? generateCryptoTrace({ seed, durationS: Math.round(args.hours * 3600) })
      : loadTraceFile(args.trace, { peakOrdersPerS: args.peak });
  let fileTrace: Trace | undefined;
  try {
    if (args.trace !== 'synthetic') fileTrace = makeTrace(args.seed);
  } catch (e) {
    err(`autoscale: cannot read --trace ${args.trace}: ${(e as Error).message}`);
    return 1;
  }
  const traceFor = (seed: number): Trace => fileTrace ?? makeTrace(seed);
  const plant = resolvePlant();
  const seeds = Array.from({ length: args.seeds }, (_, i) => args.seed + i);

  try {
    if (args.sweep) {
      const result: Record<string, { points: SweepPoint[]; front: SweepPoint[] }> = {};
      for (const policy of args.policies) {
        const bar = createProgressBar(io.stderr, 8 * seeds.length, `sweep ${policy}`);
        const r = sweep({
          trace: traceFor,
          policy,
          seeds,
          onProgress: (d) => bar.update(d),
          ...(io.signal ? { signal: io.signal } : {}),
        });
        bar.done();
        result[policy] = r;
        for (const p of r.points) {
          const onFront = r.front.includes(p) ? ' *pareto' : '';
          out(
            `${policy.padEnd(8)} ${p.label.padEnd(18)} slo-violation-min ${round(p.sloViolationMin, 1)}  replica-hours ${round(p.replicaHours, 1)}  actions/h ${round(p.scalingActionsPerHour, 1)}${onFront}`,
          );
        }
      }
      const json = Object.fromEntries(
        Object.entries(result).map(([k, v]) => [
          k,
          v.front.map((p) => ({
            label: p.label,
            sloViolationMin: round(p.sloViolationMin),
            replicaHours: round(p.replicaHours),
          })),
        ]),
      );
      out(JSON.stringify({ command: 'autoscale simulate', trace: traceFor(args.seed).name, seeds, pareto: json }));
      return 0;
    }

    const runs: SimResult[] = [];
    for (const policy of args.policies) {
      for (const seed of seeds) {
        io.signal?.throwIfAborted();
        const r = simulate({
          trace: traceFor(seed),
          policy: driverFor(policy, 0.7, plant),
          seed,
          recordSeries: args.out !== undefined && seed === args.seed,
        });
        runs.push(r);
        out(
          `${policy.padEnd(8)} seed ${seed}  slo-violation-min ${r.sloViolationMin}  replica-hours ${round(r.replicaHours, 1)}  over ${round(r.overProvisionedReplicaHours, 1)}  under ${round(r.underProvisionedReplicaHours)}  time-to-capacity-p95 ${r.timeToCapacityS.p95}s  actions/h ${round(r.scalingActionsPerHour, 1)}`,
        );
      }
    }
    if (args.out !== undefined) {
      const withSeries = runs.filter((r) => r.series !== undefined);
      writeFileSync(
        args.out,
        renderHtmlReport(`autoscale simulate — ${withSeries[0]?.trace ?? ''}`, withSeries, plant.sloP99Ms),
      );
      err(`autoscale: wrote ${args.out}`);
    }
    out(
      JSON.stringify({
        command: 'autoscale simulate',
        runs: runs.map((r) => ({
          policy: r.policy,
          trace: r.trace,
          seed: r.seed,
          sloViolationMin: r.sloViolationMin,
          replicaHours: round(r.replicaHours),
          overProvisionedReplicaHours: round(r.overProvisionedReplicaHours),
          underProvisionedReplicaHours: round(r.underProvisionedReplicaHours),
          timeToCapacityS: r.timeToCapacityS,
          scalingActionsPerHour: round(r.scalingActionsPerHour),
        })),
      }),
    );
    return 0;
  } catch (e) {
    if ((e as Error).name === 'AbortError') {
      err('autoscale: aborted');
      return 130;
    }
    err(`autoscale: ${(e as Error).message}`);
    return 1;
  }
}
