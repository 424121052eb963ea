/**
 * Settings of `ballast cluster` (its own; the `ballast start` settings it also accepts are passed
 * to every replica).
 *
 * @module
 */
import { intIn, nonEmpty, type SettingSpec } from '@ballast/runtime';
import { ROLES, START_SETTINGS, type Role } from '../settings.ts';

const s = <T>(spec: SettingSpec<T>): SettingSpec<T> => spec;

/** Parses `gateway=2,oms=2,...`; roles not named get 0 unless `base` gives them a count. */
export function parseReplicas(raw: string, base: Readonly<Record<Role, number>>): Record<Role, number> {
  const out = { ...base };
  for (const part of raw.split(',')) {
    const m = /^\s*([a-z]+)\s*=\s*(\d{1,3})\s*$/.exec(part);
    if (m === null) throw new Error(`expected role=count pairs separated by commas, got ${JSON.stringify(part)}`);
    const [, role, count] = m as unknown as [string, string, string];
    if (!(ROLES as readonly string[]).includes(role))
      throw new Error(`unknown role ${JSON.stringify(role)} (expected ${ROLES.join(', ')})`);
    out[role as Role] = Number(count);
  }
  if (out.gateway < 1 || out.oms < 1 || out.matching < 1 || out.ledger < 1)
    throw new Error('needs at least one gateway, oms, matching and ledger replica');
  return out;
}

/** Replica counts when `--replicas` names none. */
export const DEFAULT_REPLICAS: Readonly<Record<Role, number>> = {
  gateway: 2,
  oms: 2,
  matching: 1,
  ledger: 1,
  marketdata: 1,
};

/** The settings only the supervisor reads. */
export const CLUSTER_ONLY_SETTINGS = {
  replicas: s({
    flag: 'replicas',
    env: 'BALLAST_CLUSTER_REPLICAS',
    description:
      'Replicas per role, e.g. gateway=2,oms=2,matching=2,ledger=1,marketdata=1 (roles not named keep the default; matching replicas beyond the first are hot standbys and share shard leadership).',
    parse: (raw) => parseReplicas(raw, DEFAULT_REPLICAS),
    default: DEFAULT_REPLICAS as Record<Role, number>,
    defaultLabel: 'gateway=2,oms=2,matching=1,ledger=1,marketdata=1',
  }),
  controlPort: s({
    flag: 'control-port',
    env: 'BALLAST_CLUSTER_CONTROL_PORT',
    description: 'Port of the supervisor control API on 127.0.0.1 (status, scale; 0 = any free port).',
    parse: intIn(0, 65535),
    default: 8079,
  }),
  stateDir: s({
    flag: 'state-dir',
    env: 'BALLAST_CLUSTER_STATE_DIR',
    description: 'Folder of the supervisor: control.json (address + token), admin-token, logs/<role>-<n>.log.',
    parse: nonEmpty,
    default: './data/cluster',
  }),
  readyTimeoutMs: s({
    flag: 'ready-timeout-ms',
    env: 'BALLAST_CLUSTER_READY_TIMEOUT_MS',
    description:
      'Longest a replica may take to report ready before it is killed and restarted (gateways and market data replay the event logs first).',
    parse: intIn(1000, 3_600_000),
    default: 120_000,
  }),
  restartMaxMs: s({
    flag: 'restart-max-ms',
    env: 'BALLAST_CLUSTER_RESTART_MAX_MS',
    description: 'Longest wait before restarting a replica that keeps crashing (the backoff starts at 250 ms).',
    parse: intIn(250, 600_000),
    default: 10_000,
  }),
};

const passThrough: Omit<typeof START_SETTINGS, 'roles'> = (({ roles, ...rest }) => (void roles, rest))(START_SETTINGS);

/** Everything `ballast cluster` accepts: its own settings and those of `ballast start` but `--role`. */
export const CLUSTER_SETTINGS = { ...passThrough, ...CLUSTER_ONLY_SETTINGS };

/** Parsed settings of `ballast cluster`. */
export type ClusterSettings = {
  [K in keyof typeof CLUSTER_SETTINGS]: (typeof CLUSTER_SETTINGS)[K]['default'];
};

/** Flags and variables of the supervisor alone (not passed to replicas). */
export const CLUSTER_ONLY_FLAGS: ReadonlySet<string> = new Set(Object.values(CLUSTER_ONLY_SETTINGS).map((x) => x.flag));
/** @see CLUSTER_ONLY_FLAGS */
export const CLUSTER_ONLY_ENV: ReadonlySet<string> = new Set(Object.values(CLUSTER_ONLY_SETTINGS).map((x) => x.env));
