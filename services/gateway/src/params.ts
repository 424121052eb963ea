/**
 * Request parameters as Binance takes them: query string and/or form (or JSON) body, merged;
 * every value a string. Unknown parameters are refused; values are checked here and converted
 * to exact integers per market.
 *
 * @module
 */
import { parseDecimal, toSteps, type Market, type Markets } from '@ballast/contracts';
import { ApiCode, ApiError, badRequest, mandatory } from './api-error.ts';

/** Parameters of one request. */
export class Params {
  readonly #values: Map<string, string>;
  constructor(values: Map<string, string>) {
    this.#values = values;
  }

  /** Merges query and body; refuses names outside `allowed` and non-string values. */
  static from(query: unknown, body: unknown, allowed: readonly string[]): Params {
    const values = new Map<string, string>();
    const add = (src: unknown): void => {
      if (src === undefined || src === null || src === '') return;
      if (typeof src !== 'object' || Array.isArray(src)) {
        throw new ApiError(400, ApiCode.MalformedBody, 'Malformed request: parameters must be key=value pairs.');
      }
      for (const [k, v] of Object.entries(src as Record<string, unknown>)) {
        if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
          throw badRequest(ApiCode.InvalidParameter, `Parameter '${k}' must be a single value.`);
        }
        values.set(k, String(v));
      }
    };
    add(query);
    add(body);
    for (const k of values.keys()) {
      if (!allowed.includes(k)) throw badRequest(ApiCode.UnknownParam, `Unknown parameter '${k}'.`);
    }
    return new Params(values);
  }

  /** The raw value, or `undefined` when absent or empty. */
  opt(name: string): string | undefined {
    const v = this.#values.get(name);
    return v === undefined || v === '' ? undefined : v;
  }

  /** The raw value; -1102 when absent. */
  req(name: string): string {
    const v = this.opt(name);
    if (v === undefined) throw mandatory(name);
    return v;
  }

  /** An integer in `[min, max]`, or `fallback` when absent. */
  int(name: string, fallback: number | undefined, min: number, max: number): number | undefined {
    const v = this.opt(name);
    if (v === undefined) return fallback;
    if (!/^-?\d{1,16}$/.test(v)) throw badRequest(ApiCode.InvalidParameter, `Parameter '${name}' must be an integer.`);
    const n = Number(v);
    if (n < min || n > max) {
      throw badRequest(ApiCode.InvalidParameter, `Parameter '${name}' must be between ${min} and ${max}.`);
    }
    return n;
  }

  /** One of `values` (upper-case API enums), or `undefined` when absent. */
  enumOf<T extends string>(name: string, values: readonly T[], code: number): T | undefined {
    const v = this.opt(name);
    if (v === undefined) return undefined;
    if (!(values as readonly string[]).includes(v)) throw badRequest(code, `Invalid ${name} '${v}'.`);
    return v as T;
  }
}

/** The market named by `symbol`; -1121 when unknown. */
export function marketOf(markets: Markets, symbol: string): Market {
  const m = markets.bySymbol.get(symbol);
  if (m === undefined) throw badRequest(ApiCode.BadSymbol, 'Invalid symbol.');
  return m;
}

/** A decimal parameter as a whole number of `step`s (never rounded: finer is a filter failure). */
export function stepsParam(
  p: Params,
  name: string,
  step: { mantissa: bigint; scale: number },
  filter: string,
): bigint | undefined {
  const raw = p.opt(name);
  if (raw === undefined) return undefined;
  const d = parseDecimal(raw);
  if (d === null)
    throw badRequest(
      ApiCode.IllegalChars,
      `Illegal characters found in parameter '${name}'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.`,
    );
  const steps = toSteps(d, step);
  if (steps === null)
    throw badRequest(ApiCode.FilterFailure, `Filter failure: ${filter} (${name} is finer than its step)`);
  if (steps <= 0n) throw badRequest(ApiCode.InvalidParameter, `Parameter '${name}' must be greater than zero.`);
  return steps;
}
