/**
 * `@ballast/autoscaler`: autoscaling policies and the simulator that compares them — the exact
 * Kubernetes HPA v2 and Knative KPA baselines, Ballast's predictive multi-signal policy, a
 * discrete-event simulator on real and synthetic traces, Pareto sweeps, plots and the
 * `autoscale simulate` command — and the live recommender that runs the policy on a cluster's
 * scraped metrics (`live/`).
 *
 * @module
 */
export {
  HPA_DEFAULT_TOLERANCE,
  HpaMetricError,
  hpaExternalAverageReplicas,
  hpaExternalValueReplicas,
  hpaPodsReplicas,
  hpaResourceReplicas,
  type HpaPodSample,
  type HpaPodState,
  type HpaProposal,
} from './hpa-replicas.ts';
export {
  HPA_DOWNSCALE_STABILIZATION_S,
  HPA_SYNC_PERIOD_S,
  HpaController,
  resolveHpaBehavior,
  type HpaBehavior,
  type HpaDecision,
  type HpaMetricInput,
  type HpaScalingPolicy,
  type HpaScalingRules,
  type HpaSpec,
  type ResolvedHpaScalingRules,
} from './hpa-controller.ts';
export { KPA_TICK_S, KpaAutoscaler, type KpaDecision, type KpaOptions } from './kpa.ts';
export {
  BurstDetector,
  HoltForecaster,
  LinearTrend,
  type BurstDetectorOptions,
  type HoltOptions,
  type LinearTrendOptions,
} from './forecast.ts';
export {
  BallastPolicy,
  type BallastPolicyOptions,
  type BallastRecommendation,
  type BallastReplica,
  type BallastSignalName,
  type BallastSignals,
  type BallastStatus,
} from './ballast-policy.ts';
export {
  POD_DELETION_COST_ANNOTATION,
  chooseReplicasToRemove,
  podDeletionCosts,
  removalOrder,
  type RemovalCandidate,
} from './removal.ts';
export { deriveSeed, mulberry32, type Rng } from './prng.ts';
export {
  TraceFormatError,
  loadTraceFile,
  parseAlibabaQps,
  parseFlashCrashEvents,
  parseRateCsv,
  rescalePeak,
  resampleToSeconds,
  type AlibabaQpsOptions,
  type FlashCrashEvent,
  type Trace,
  type TraceBurst,
} from './trace.ts';
export { bundledFlashCrashEvents, generateCryptoTrace, hawkesOnsets, type SyntheticOptions } from './synthetic.ts';
export {
  resolvePlant,
  simulate,
  sloUtilization,
  type PlantOptions,
  type PlantView,
  type PolicyDecision,
  type PolicyDriver,
  type SimReplica,
  type SimResult,
  type SimSeries,
  type SimulateOptions,
  type WindowMetrics,
} from './simulator.ts';
export {
  PolicyName,
  ballastDriver,
  BALLAST_BENCH_BASE,
  BALLAST_TUNED_OPTIONS,
  driverFor,
  hpaDriver,
  kpaDriver,
  type BallastDriverOptions,
  type HpaDriverOptions,
  type KpaDriverOptions,
} from './drivers.ts';
export { bestWithinBudget, paretoFront, type TradeoffPoint } from './pareto.ts';
export {
  SWEEP_SIZE,
  averageResults,
  defaultGrid,
  sweep,
  type KnobSetting,
  type SweepOptions,
  type SweepPoint,
} from './sweep.ts';
export { renderHtmlReport } from './plot.ts';
export { createProgressBar, type ProgressBar } from './progress.ts';
export { runAutoscaleCommand, type AutoscaleIo } from './cli.ts';
export { PromParseError, parsePrometheusText, type PromSample } from './live/prometheus-text.ts';
export {
  OPS_ROUTES,
  histogramQuantile,
  marketActivity,
  readReplica,
  roleSignals,
  type ReplicaReading,
  type ReplicaWindow,
} from './live/replica-metrics.ts';
export {
  LiveRecommender,
  type LiveAction,
  type LiveClock,
  type LiveCluster,
  type LiveClusterStatus,
  type LiveDecision,
  type LiveRecommenderOptions,
  type LiveReplicaStatus,
  type LiveRoleConfig,
  type LiveScaleEvent,
} from './live/live-recommender.ts';
export { fitUsl, uslThroughput, type UslFit, type UslPoint } from './usl.ts';
