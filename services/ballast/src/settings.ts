/**
 * Every setting of `ballast start`, with its flag, environment variable, default and check.
 *
 * @module
 */
import { intIn, nonEmpty, oneOf, type SettingSpec } from '@ballast/runtime';
import { parseShardMap } from '@ballast/matching';

const s = <T>(spec: SettingSpec<T>): SettingSpec<T> => spec;

/** The roles of the program. */
export const ROLES = ['gateway', 'oms', 'matching', 'ledger', 'marketdata'] as const;
/** One of {@link ROLES}. */
export type Role = (typeof ROLES)[number];
const ROLES_ALL: readonly Role[] = ROLES;
const url =
  (...protocols: string[]) =>
  (raw: string): string => {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw new Error(`expected a URL (${protocols.join(' or ')}//...)`);
    }
    if (!protocols.includes(u.protocol)) throw new Error(`expected a ${protocols.join(' or ')}// URL`);
    return raw;
  };
const host = (raw: string): string => {
  if (!/^[0-9a-zA-Z.:-]{1,253}$/.test(raw)) throw new Error('expected a host name or IP address');
  return raw;
};

/** The settings of `ballast start` (and `ballast migrate`, which uses the store settings). */
export const START_SETTINGS = {
  roles: s({
    flag: 'role',
    env: 'BALLAST_ROLE',
    description:
      'Roles to run, comma-separated: gateway, oms, matching, ledger, marketdata, or all. A subset needs --postgres and --nats; a gateway without the oms finds oms replicas in the registry (needs --internal-token).',
    parse: (raw): readonly Role[] => {
      const names = raw.split(',').map((r) => r.trim());
      const out = new Set<Role>();
      for (const n of names) {
        if (n === 'all') for (const r of ROLES) out.add(r);
        else if ((ROLES as readonly string[]).includes(n)) out.add(n as Role);
        else throw new Error(`unknown role ${JSON.stringify(n)} (expected ${ROLES.join(', ')} or all)`);
      }
      return [...out];
    },
    default: [...ROLES_ALL] as readonly Role[],
    defaultLabel: 'all',
  }),
  httpHost: s({
    flag: 'http-host',
    env: 'BALLAST_HTTP_HOST',
    description: 'Address of the REST and WebSocket API.',
    parse: host,
    default: '0.0.0.0',
  }),
  httpPort: s({
    flag: 'http-port',
    env: 'BALLAST_HTTP_PORT',
    description: 'Port of the REST and WebSocket API (0 = any free port).',
    parse: intIn(0, 65535),
    default: 8080,
  }),
  adminHost: s({
    flag: 'admin-host',
    env: 'BALLAST_ADMIN_HOST',
    description: 'Address of the admin API (keep it private).',
    parse: host,
    default: '127.0.0.1',
  }),
  adminPort: s({
    flag: 'admin-port',
    env: 'BALLAST_ADMIN_PORT',
    description: 'Port of the admin API (0 = any free port).',
    parse: intIn(0, 65535),
    default: 8081,
  }),
  opsPort: s({
    flag: 'ops-port',
    env: 'BALLAST_OPS_PORT',
    description:
      'Port of a separate health and metrics listener on 127.0.0.1 (0 = any free port, -1 = none). `ballast cluster` gives each replica one, so replicas sharing the API port can be probed one by one.',
    parse: intIn(-1, 65535),
    default: -1,
    defaultLabel: 'none',
  }),
  adminToken: s({
    flag: 'admin-token',
    env: 'BALLAST_ADMIN_TOKEN',
    description:
      'Bearer token of the admin API, at least 16 characters. When unset, one is generated and kept in <data-dir>/admin-token.',
    parse: (raw) => {
      if (raw.length < 16) throw new Error('expected at least 16 characters');
      return raw;
    },
    default: '',
    defaultLabel: 'generated',
  }),
  dataDir: s({
    flag: 'data-dir',
    env: 'BALLAST_DATA_DIR',
    description: 'Folder for the embedded database and the admin token.',
    parse: nonEmpty,
    default: './data',
  }),
  dbPath: s({
    flag: 'db-path',
    env: 'BALLAST_DB_PATH',
    description: 'SQLite database file.',
    parse: nonEmpty,
    default: '',
    defaultLabel: '<data-dir>/ballast.db',
  }),
  postgresUrl: s({
    flag: 'postgres',
    env: 'BALLAST_POSTGRES_URL',
    description:
      'PostgreSQL URL (postgres://user@host:port/db): keep balances, orders and the ledger there instead of SQLite. Needs --nats.',
    parse: url('postgres:', 'postgresql:'),
    default: '',
    defaultLabel: 'embedded SQLite',
  }),
  postgresPrepared: s({
    flag: 'postgres-prepared-statements',
    env: 'BALLAST_POSTGRES_PREPARED_STATEMENTS',
    description:
      'true: queries run as named prepared statements (parsed and planned once per connection); false behind a pooler in transaction mode that does not support them.',
    parse: (raw): boolean => {
      if (raw !== 'true' && raw !== 'false') throw new Error('expected true or false');
      return raw === 'true';
    },
    default: true,
  }),
  natsUrl: s({
    flag: 'nats',
    env: 'BALLAST_NATS_URL',
    description: 'NATS URL (nats://host:port): keep the command and event logs in JetStream.',
    parse: url('nats:'),
    default: '',
    defaultLabel: 'embedded SQLite',
  }),
  natsPrefix: s({
    flag: 'nats-prefix',
    env: 'BALLAST_NATS_PREFIX',
    description: 'Namespace of JetStream streams and subjects, so deployments can share a NATS server.',
    parse: (raw) => {
      if (!/^[A-Za-z][A-Za-z0-9_-]{0,31}$/.test(raw))
        throw new Error('expected a letter, then up to 31 letters, digits, _ or -');
      return raw;
    },
    default: 'ballast',
  }),
  internalToken: s({
    flag: 'internal-token',
    env: 'BALLAST_INTERNAL_TOKEN',
    description:
      'Shared secret of the internal API (gateway → oms), at least 16 characters; needed when they run in separate processes.',
    parse: (raw) => {
      if (raw.length < 16) throw new Error('expected at least 16 characters');
      return raw;
    },
    default: '',
    defaultLabel: 'none',
  }),
  advertiseUrl: s({
    flag: 'advertise-url',
    env: 'BALLAST_ADVERTISE_URL',
    description: 'URL other processes use to reach this one (registered for the oms role).',
    parse: url('http:', 'https:'),
    default: '',
    defaultLabel: 'http://<bound address>:<port>',
  }),
  redisUrl: s({
    flag: 'redis',
    env: 'BALLAST_REDIS_URL',
    description: 'Redis URL (redis://host:port): share rate-limit state across gateway replicas.',
    parse: url('redis:', 'rediss:'),
    default: '',
    defaultLabel: 'in-process',
  }),
  sqliteSync: s({
    flag: 'sqlite-synchronous',
    env: 'BALLAST_SQLITE_SYNCHRONOUS',
    description: 'NORMAL survives a process crash (kill -9); FULL also survives power loss, slower.',
    parse: oneOf('NORMAL', 'FULL'),
    default: 'NORMAL' as 'NORMAL' | 'FULL',
  }),
  marketsFile: s({
    flag: 'markets-file',
    env: 'BALLAST_MARKETS_FILE',
    description: 'JSON file with { assets, markets } (default: BTCUSDT, ETHUSDT, ETHBTC).',
    parse: nonEmpty,
    default: '',
    defaultLabel: 'built-in',
  }),
  makerFeeBps: s({
    flag: 'maker-fee-bps',
    env: 'BALLAST_MAKER_FEE_BPS',
    description: 'Maker fee in basis points.',
    parse: intIn(0, 1000),
    default: 10,
  }),
  takerFeeBps: s({
    flag: 'taker-fee-bps',
    env: 'BALLAST_TAKER_FEE_BPS',
    description: 'Taker fee in basis points.',
    parse: intIn(0, 1000),
    default: 10,
  }),
  ledgerBatchIntervalMs: s({
    flag: 'ledger-batch-interval-ms',
    env: 'BALLAST_LEDGER_BATCH_INTERVAL_MS',
    description:
      'The ledger settles at most one batch per symbol per this many ms, so events that arrive meanwhile share one transaction (0 = settle each arrival at once).',
    parse: intIn(0, 1000),
    default: 20,
  }),
  omsLanes: s({
    flag: 'oms-lanes',
    env: 'BALLAST_OMS_LANES',
    description:
      'Order batches each oms writes to PostgreSQL at once (orders split by account, so one slow batch holds only its lane). One lane makes the fewest, largest transactions; raise it only when PostgreSQL has cores to spare and a batch mostly waits (disk commit, network) rather than computes (SQLite always uses one).',
    parse: intIn(1, 64),
    default: 1,
  }),
  omsCommandEntries: s({
    flag: 'oms-command-entries',
    env: 'BALLAST_OMS_COMMAND_ENTRIES',
    description:
      "How the oms appends commands to a symbol's command log: `batch`, a batch's commands for the symbol as one entry (one message per batch: far fewer messages for JetStream and every reader); `order`, one entry per order, the format of versions before batch entries, which their matching, ledger and gateways read. Run `order` while such replicas are still up during a rollout, then switch to `batch` (docs/operations.md).",
    parse: oneOf('batch', 'order'),
    default: 'batch' as 'batch' | 'order',
  }),
  omsBatchesInFlight: s({
    flag: 'oms-batches-in-flight',
    env: 'BALLAST_OMS_BATCHES_IN_FLIGHT',
    description:
      'Order batches (and, apart, cancel batches) a gateway has out to one oms replica at once; what arrives meanwhile waits at the gateway and leaves as one batch when one answers. Match it to --oms-lanes: an oms writes one batch per lane at a time, so more only queue there.',
    parse: intIn(1, 64),
    default: 1,
  }),
  snapshotEvery: s({
    flag: 'snapshot-every',
    env: 'BALLAST_SNAPSHOT_EVERY',
    description:
      'Order-book snapshot after this many commands per symbol (and at least as many as its book holds orders, now and at the last snapshot).',
    parse: intIn(10, 10_000_000),
    default: 1000,
  }),
  snapshotEveryMs: s({
    flag: 'snapshot-every-ms',
    env: 'BALLAST_SNAPSHOT_EVERY_MS',
    description:
      'Also snapshot a symbol this long after its last snapshot when commands arrived (as many as its book holds orders; 0 = off).',
    parse: intIn(0, 86_400_000),
    default: 30_000,
  }),
  shards: s({
    flag: 'shards',
    env: 'BALLAST_SHARDS',
    description:
      'Matching shards: symbols are spread over s0..s<N-1> by consistent hashing; 0 = one shard per symbol. Every matching replica must use the same value.',
    parse: intIn(0, 4096),
    default: 0,
    defaultLabel: 'one per symbol',
  }),
  shardMap: s({
    flag: 'shard-map',
    env: 'BALLAST_SHARD_MAP',
    description: 'Explicit symbol → shard assignments, e.g. BTCUSDT=s0,ETHUSDT=s1 (others follow --shards).',
    parse: (raw): Readonly<Record<string, string>> => parseShardMap(raw),
    default: {} as Readonly<Record<string, string>>,
    defaultLabel: 'none',
  }),
  leaseTtlMs: s({
    flag: 'lease-ttl-ms',
    env: 'BALLAST_LEASE_TTL_MS',
    description:
      'Matching shard lease lifetime: a crashed leader is replaced about this long after it stops renewing (renewed every third of it). Shorter = faster failover, more false failovers on pauses.',
    parse: intIn(300, 120_000),
    default: 3000,
  }),
  shutdownGraceMs: s({
    flag: 'shutdown-grace-ms',
    env: 'BALLAST_SHUTDOWN_GRACE_MS',
    description: 'Longest a graceful shutdown may take.',
    parse: intIn(100, 600_000),
    default: 10_000,
  }),
  wsMaxBufferBytes: s({
    flag: 'ws-max-buffer-bytes',
    env: 'BALLAST_WS_MAX_BUFFER_BYTES',
    description: 'Unsent bytes after which a slow WebSocket client is disconnected.',
    parse: intIn(1024, 1 << 30),
    default: 1 << 20,
  }),
  bodyLimitBytes: s({
    flag: 'body-limit-bytes',
    env: 'BALLAST_BODY_LIMIT_BYTES',
    description: 'Largest request body.',
    parse: intIn(256, 1 << 20),
    default: 16 * 1024,
  }),
  ordersPer10s: s({
    flag: 'orders-per-10s',
    env: 'BALLAST_ORDERS_PER_10S',
    description: 'New orders allowed per account per 10 s (429, code -1015, beyond); 0 = unlimited.',
    parse: intIn(0, 10_000_000),
    default: 100,
  }),
  requestsPerMinute: s({
    flag: 'requests-per-minute',
    env: 'BALLAST_REQUESTS_PER_MINUTE',
    description: 'API requests allowed per client IP per minute (429, code -1003, beyond); 0 = unlimited.',
    parse: intIn(0, 100_000_000),
    default: 6000,
  }),
  rateLimitOnFailure: s({
    flag: 'rate-limit-on-redis-failure',
    env: 'BALLAST_RATE_LIMIT_ON_REDIS_FAILURE',
    description:
      'When Redis does not answer: open lets requests through, closed answers 503. Counted and logged either way.',
    parse: oneOf('open', 'closed'),
    default: 'open' as 'open' | 'closed',
  }),
  dev: s({
    flag: 'dev',
    env: 'BALLAST_DEV',
    description: 'Development conveniences: POST /dev/accounts and POST /dev/faucet on the public API.',
    boolean: true,
    parse: () => true,
    default: false,
  }),
  logLevel: s({
    flag: 'log-level',
    env: 'BALLAST_LOG_LEVEL',
    description: 'Log level.',
    parse: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
    default: 'info',
  }),
  logFormat: s({
    flag: 'log-format',
    env: 'BALLAST_LOG_FORMAT',
    description: 'json, pretty, or auto (pretty on a terminal).',
    parse: oneOf('auto', 'json', 'pretty'),
    default: 'auto',
  }),
  otlpEndpoint: s({
    flag: 'otlp-endpoint',
    env: 'BALLAST_OTLP_ENDPOINT',
    description:
      'OpenTelemetry collector (OTLP/HTTP, e.g. http://localhost:4318): export traces there, one trace per order across every process. Empty = tracing off, at no cost.',
    parse: (raw) => (raw === '' ? '' : url('http:', 'https:')(raw)),
    default: '',
    defaultLabel: 'off',
  }),
  traceSampleRatio: s({
    flag: 'trace-sample-ratio',
    env: 'BALLAST_TRACE_SAMPLE_RATIO',
    description:
      'Fraction of new traces recorded (0..1) when --otlp-endpoint is set; continued traces follow their caller.',
    parse: (raw) => {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new Error('expected a number from 0 to 1');
      return n;
    },
    default: 1,
  }),
};

/** Parsed settings of `ballast start`. */
export type StartSettings = { [K in keyof typeof START_SETTINGS]: (typeof START_SETTINGS)[K]['default'] };
