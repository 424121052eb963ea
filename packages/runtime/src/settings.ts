/**
 * Settings from flags and environment variables, declared once with their parser, default and
 * description. Unknown flags, unknown `BALLAST_*` variables and invalid values are errors that
 * name the setting (the CLI exits 2 on them).
 *
 * Precedence: flag > environment variable > default.
 *
 * @module
 */
import { BallastError, ErrorCode } from '@ballast/errors';

/** One setting. */
export interface SettingSpec<T> {
  /** Flag name without dashes, e.g. `http-port`. */
  readonly flag: string;
  /** Environment variable, e.g. `BALLAST_HTTP_PORT`. */
  readonly env: string;
  readonly description: string;
  /** `true` for a flag that takes no value (`--dev`); its env var takes `true`/`false`/`1`/`0`. */
  readonly boolean?: boolean;
  /** Parses a raw value; throws an Error whose message says what is expected. */
  readonly parse: (raw: string) => T;
  readonly default: T;
  /** Shown in help instead of the default value. */
  readonly defaultLabel?: string;
}

/** A map of settings. */
export type SettingsSpec = Record<string, SettingSpec<unknown>>;
/** The parsed values of a {@link SettingsSpec}. */
export type SettingsOf<S extends SettingsSpec> = { [K in keyof S]: S[K] extends SettingSpec<infer T> ? T : never };

/** `BALLAST_*` variables that are not settings: the test switch, and the replica name `ballast cluster` gives its children. */
const NON_SETTING_ENV = new Set(['BALLAST_REQUIRE_SERVICES', 'BALLAST_REPLICA']);

/** Parses a boolean env value. */
export const parseBool = (raw: string): boolean => {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new Error('expected true or false');
};

/** Parses an integer in `[min, max]`. */
export const intIn =
  (min: number, max: number) =>
  (raw: string): number => {
    if (!/^-?\d+$/.test(raw)) throw new Error(`expected an integer from ${min} to ${max}`);
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new Error(`expected an integer from ${min} to ${max}`);
    return n;
  };

/** Parses one of `values`. */
export const oneOf =
  <T extends string>(...values: T[]) =>
  (raw: string): T => {
    if (!(values as string[]).includes(raw)) throw new Error(`expected one of ${values.join(', ')}`);
    return raw as T;
  };

/** Parses a non-empty string. */
export const nonEmpty = (raw: string): string => {
  if (raw.length === 0) throw new Error('expected a non-empty value');
  return raw;
};

/**
 * Reads `spec` from `argv` (`--flag value`, `--flag=value`, `--bool-flag`) and `env`.
 *
 * @throws BallastError `CONFIG_INVALID` naming the first unknown or invalid setting.
 */
export function loadSettings<S extends SettingsSpec>(
  spec: S,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): SettingsOf<S> {
  const byFlag = new Map<string, [string, SettingSpec<unknown>]>();
  const byEnv = new Map<string, [string, SettingSpec<unknown>]>();
  for (const [key, s] of Object.entries(spec)) {
    byFlag.set(s.flag, [key, s]);
    byEnv.set(s.env, [key, s]);
  }
  const invalid = (msg: string): never => {
    throw new BallastError(ErrorCode.ConfigInvalid, msg);
  };
  const raw = new Map<string, { value: string; from: string }>();
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('BALLAST_') || value === undefined) continue;
    const found = byEnv.get(name);
    if (found === undefined) {
      if (NON_SETTING_ENV.has(name)) continue;
      invalid(`unknown environment variable ${name}`);
    } else {
      raw.set(found[0], { value, from: name });
    }
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) invalid(`unexpected argument ${JSON.stringify(arg)}`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const found = byFlag.get(name);
    if (found === undefined) return invalid(`unknown flag --${name}`);
    const [key, s] = found;
    let value: string;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (s.boolean === true) value = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined) return invalid(`flag --${name} needs a value`);
      value = next;
      i++;
    }
    raw.set(key, { value, from: `--${name}` });
  }
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(spec)) {
    const r = raw.get(key);
    if (r === undefined) {
      out[key] = s.default;
      continue;
    }
    try {
      out[key] = s.boolean === true ? parseBool(r.value) : s.parse(r.value);
    } catch (err) {
      invalid(`invalid ${r.from}=${JSON.stringify(r.value)}: ${(err as Error).message}`);
    }
  }
  return out as SettingsOf<S>;
}

/** A help text listing every setting with its flag, variable, default and description. */
export function settingsHelp(spec: SettingsSpec): string {
  const rows = Object.values(spec).map((s) => {
    const def = s.defaultLabel ?? (s.boolean === true ? 'false' : JSON.stringify(s.default));
    return `  --${s.flag}${s.boolean === true ? '' : ' VALUE'}\n      ${s.env}  (default ${def})\n      ${s.description}`;
  });
  return rows.join('\n');
}
