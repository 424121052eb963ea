/**
 * Settings of `ballast autoscale live`, each with its flag and its own `BALLAST_AUTOSCALE_*`
 * variable (the recommender ignores the other `BALLAST_*` variables, which belong to the
 * cluster it watches).
 *
 * @module
 */
import { BallastError, ErrorCode } from '@ballast/errors';
import { intIn, loadSettings, nonEmpty, oneOf, type SettingSpec, type SettingsOf } from '@ballast/runtime';
import { ROLES, type Role } from '../settings.ts';

const s = <T>(spec: SettingSpec<T>): SettingSpec<T> => spec;

/** Roles the recommender may scale: every one but matching, which scales by shards. */
export const SCALABLE_ROLES: readonly Role[] = ROLES.filter((r) => r !== 'matching');

const numberIn =
  (min: number, max: number) =>
  (raw: string): number => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max)
      throw new Error(`expected a number from ${min} to ${max}`);
    return n;
  };

const roleOf = (name: string): Role => {
  if (name === 'matching') throw new Error('matching scales by shards, not replicas (docs/autoscaling.md)');
  if (!(SCALABLE_ROLES as readonly string[]).includes(name))
    throw new Error(`unknown role ${JSON.stringify(name)} (expected ${SCALABLE_ROLES.join(', ')})`);
  return name as Role;
};

/** Parses `gateway=1,oms=2`; roles not named keep `fallback`. */
export const parseRoleCounts =
  (fallback: number) =>
  (raw: string): Readonly<Record<Role, number>> => {
    const out = Object.fromEntries(ROLES.map((r) => [r, fallback])) as Record<Role, number>;
    for (const part of raw.split(',')) {
      const m = /^\s*([a-z]+)\s*=\s*(\d{1,2})\s*$/.exec(part);
      if (m === null) throw new Error(`expected role=count pairs separated by commas, got ${JSON.stringify(part)}`);
      const n = Number(m[2]);
      if (n > 64) throw new Error('a role has at most 64 replicas');
      out[roleOf(m[1] as string)] = n;
    }
    return out;
  };

const ONE = Object.fromEntries(ROLES.map((r) => [r, 1])) as Readonly<Record<Role, number>>;
const FOUR = Object.fromEntries(ROLES.map((r) => [r, 4])) as Readonly<Record<Role, number>>;

/** Every setting of `ballast autoscale live`. */
export const AUTOSCALE_LIVE_SETTINGS = {
  stateDir: s({
    flag: 'state-dir',
    env: 'BALLAST_AUTOSCALE_STATE_DIR',
    description: "State folder of the `ballast cluster` to scale (its control.json gives the control API's address).",
    parse: nonEmpty,
    default: './data/cluster',
  }),
  kubernetes: s({
    flag: 'kubernetes',
    env: 'BALLAST_AUTOSCALE_KUBERNETES',
    description:
      "Scale Ballast's Deployments on Kubernetes (pods labelled app.kubernetes.io/name=ballast) instead of a `ballast cluster`; in a pod, with its service account (deploy/k8s/autoscaler).",
    boolean: true,
    parse: (raw) => raw === 'true',
    default: false,
  }),
  kubeApiUrl: s({
    flag: 'kube-api-url',
    env: 'BALLAST_AUTOSCALE_KUBE_API_URL',
    description: 'With --kubernetes: the API server (e.g. http://127.0.0.1:8001 through `kubectl proxy`).',
    parse: nonEmpty,
    default: '',
    defaultLabel: 'in-cluster (KUBERNETES_SERVICE_HOST, service-account token and CA)',
  }),
  namespace: s({
    flag: 'namespace',
    env: 'BALLAST_AUTOSCALE_NAMESPACE',
    description: "With --kubernetes: namespace of Ballast's Deployments.",
    parse: nonEmpty,
    default: '',
    defaultLabel: "the pod's own namespace (in-cluster), else default",
  }),
  deploymentPrefix: s({
    flag: 'deployment-prefix',
    env: 'BALLAST_AUTOSCALE_DEPLOYMENT_PREFIX',
    description: "With --kubernetes: a role's Deployment is <prefix><role>.",
    parse: nonEmpty,
    default: 'ballast-',
  }),
  intervalMs: s({
    flag: 'interval-ms',
    env: 'BALLAST_AUTOSCALE_INTERVAL_MS',
    description: 'Time between two decisions (each scrapes every replica).',
    parse: intIn(200, 600_000),
    default: 2000,
  }),
  scrapeTimeoutMs: s({
    flag: 'scrape-timeout-ms',
    env: 'BALLAST_AUTOSCALE_SCRAPE_TIMEOUT_MS',
    description:
      "Longest wait for the status or one replica's /metrics (less than --interval-ms); a ready replica that does not answer puts its role in degraded mode.",
    parse: intIn(50, 60_000),
    default: 1000,
  }),
  metricsHost: s({
    flag: 'metrics-host',
    env: 'BALLAST_AUTOSCALE_METRICS_HOST',
    description: "Address of the recommender's own /metrics (ballast_autoscaler_desired_replicas for KEDA or an HPA).",
    parse: nonEmpty,
    default: '127.0.0.1',
  }),
  metricsPort: s({
    flag: 'metrics-port',
    env: 'BALLAST_AUTOSCALE_METRICS_PORT',
    description: "Port of the recommender's own /metrics and /status (0 = any free port).",
    parse: intIn(0, 65535),
    default: 9464,
  }),
  roles: s({
    flag: 'roles',
    env: 'BALLAST_AUTOSCALE_ROLES',
    description: `Roles to scale, comma-separated (${SCALABLE_ROLES.join(', ')}; matching scales by shards).`,
    parse: (raw): readonly Role[] => [...new Set(raw.split(',').map((r) => roleOf(r.trim())))],
    default: ['gateway', 'oms'] as readonly Role[],
    defaultLabel: 'gateway,oms',
  }),
  min: s({
    flag: 'min',
    env: 'BALLAST_AUTOSCALE_MIN',
    description: 'Fewest replicas per role, e.g. gateway=2,oms=1 (roles not named: 1).',
    parse: parseRoleCounts(1),
    default: ONE,
    defaultLabel: '1 per role',
  }),
  max: s({
    flag: 'max',
    env: 'BALLAST_AUTOSCALE_MAX',
    description: 'Most replicas per role, e.g. gateway=8,oms=4 (roles not named: 4).',
    parse: parseRoleCounts(4),
    default: FOUR,
    defaultLabel: '4 per role',
  }),
  dryRun: s({
    flag: 'dry-run',
    env: 'BALLAST_AUTOSCALE_DRY_RUN',
    description: 'Only recommend (publish the metric): never ask the cluster to scale.',
    boolean: true,
    parse: (raw) => raw === 'true',
    default: false,
  }),
  targetElu: s({
    flag: 'target-elu',
    env: 'BALLAST_AUTOSCALE_TARGET_ELU',
    description: 'Event-loop utilization to aim for per ready replica.',
    parse: numberIn(0.01, 1),
    default: 0.6,
  }),
  targetInFlight: s({
    flag: 'target-in-flight',
    env: 'BALLAST_AUTOSCALE_TARGET_IN_FLIGHT',
    description: 'In-flight requests to aim for per replica (0 = signal off).',
    parse: numberIn(0, 1_000_000),
    default: 0,
  }),
  sloP99Ms: s({
    flag: 'slo-p99-ms',
    env: 'BALLAST_AUTOSCALE_SLO_P99_MS',
    description: 'p99 request latency SLO; above it the role gets up to 50% more replicas (0 = signal off).',
    parse: numberIn(0, 600_000),
    default: 250,
  }),
  scaleDownWindowS: s({
    flag: 'scale-down-window-s',
    env: 'BALLAST_AUTOSCALE_SCALE_DOWN_WINDOW_S',
    description: 'Scale down to the highest recommendation of this window (stabilization).',
    parse: numberIn(0, 3600),
    default: 60,
  }),
  scaleDownHysteresis: s({
    flag: 'scale-down-hysteresis',
    env: 'BALLAST_AUTOSCALE_SCALE_DOWN_HYSTERESIS',
    description: 'Scale down only when the recommendation is below current × (1 − this).',
    parse: numberIn(0, 0.9),
    default: 0.1,
  }),
  readyDelayS: s({
    flag: 'ready-delay-s',
    env: 'BALLAST_AUTOSCALE_READY_DELAY_S',
    description:
      'First estimate of the time a new replica needs to become ready (the prediction horizon), replaced by measurements.',
    parse: numberIn(0, 600),
    default: 10,
  }),
  trendWindowS: s({
    flag: 'trend-window-s',
    env: 'BALLAST_AUTOSCALE_TREND_WINDOW_S',
    description:
      "Forecast trend: a least-squares line through the orders/s of this many seconds (0 = Holt's smoothed trend).",
    parse: numberIn(0, 600),
    default: 10,
  }),
  forecastHoldS: s({
    flag: 'forecast-hold-s',
    env: 'BALLAST_AUTOSCALE_FORECAST_HOLD_S',
    description:
      'Replicas still starting for a forecast that has not been made again for this long, and that the observed load does not need, are withdrawn.',
    parse: numberIn(0, 3600),
    default: 20,
  }),
  reactive: s({
    flag: 'reactive',
    env: 'BALLAST_AUTOSCALE_REACTIVE',
    description: 'Turn the predictive term (forecast of orders/s over the horizon, burst headroom) off.',
    boolean: true,
    parse: (raw) => raw === 'true',
    default: false,
  }),
  degraded: s({
    flag: 'degraded',
    env: 'BALLAST_AUTOSCALE_DEGRADED',
    description: 'When ELU is missing (a scrape failed): hold the current count, or fall back to --min.',
    parse: oneOf('hold', 'floor'),
    default: 'hold' as 'hold' | 'floor',
  }),
  logLevel: s({
    flag: 'log-level',
    env: 'BALLAST_AUTOSCALE_LOG_LEVEL',
    description: 'Log level (debug logs every decision).',
    parse: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
    default: 'info',
  }),
  logFormat: s({
    flag: 'log-format',
    env: 'BALLAST_AUTOSCALE_LOG_FORMAT',
    description: 'json, pretty, or auto (pretty on a terminal).',
    parse: oneOf('auto', 'json', 'pretty'),
    default: 'auto',
  }),
};

/** Parsed settings of `ballast autoscale live`. */
export type AutoscaleLiveSettings = SettingsOf<typeof AUTOSCALE_LIVE_SETTINGS>;

/**
 * Loads and checks the settings from `argv` and the `BALLAST_AUTOSCALE_*` variables of `env`.
 *
 * @throws BallastError `CONFIG_INVALID` naming the bad flag.
 */
export function loadAutoscaleLiveSettings(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): AutoscaleLiveSettings {
  const own = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('BALLAST_AUTOSCALE_')));
  const settings = loadSettings(AUTOSCALE_LIVE_SETTINGS, argv, own) as AutoscaleLiveSettings;
  const invalid = (msg: string): never => {
    throw new BallastError(ErrorCode.ConfigInvalid, msg);
  };
  if (settings.scrapeTimeoutMs >= settings.intervalMs)
    invalid(
      `invalid --scrape-timeout-ms=${settings.scrapeTimeoutMs}: must be less than --interval-ms (${settings.intervalMs})`,
    );
  for (const role of settings.roles) {
    const min = settings.min[role];
    const max = settings.max[role];
    if (min < 1 && role !== 'marketdata') invalid(`invalid --min: ${role} needs at least 1 replica`);
    if (max < 1) invalid(`invalid --max: ${role} needs at least 1 replica`);
    if (min > max) invalid(`invalid --min/--max: ${role} min ${min} is above max ${max}`);
  }
  return settings;
}
