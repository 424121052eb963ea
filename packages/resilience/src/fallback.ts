/**
 * Fallback: when the call fails (with an error `when` accepts), answer with a value or the result
 * of a function instead.
 *
 * @module
 */
import type { CallContext } from './context.ts';
import type { Policy } from './policy.ts';

/** Creates a fallback policy. */
export function fallback<T>(
  value: T | ((err: unknown, ctx: CallContext) => T | Promise<T>),
  options: { when?: (err: unknown) => boolean; name?: string } = {},
): Policy {
  const when = options.when ?? (() => true);
  return {
    name: options.name ?? 'fallback',
    execute(next, ctx) {
      return next(ctx).catch((err: unknown) => {
        if (!when(err)) throw err;
        return typeof value === 'function' ? (value as (e: unknown, c: CallContext) => T)(err, ctx) : value;
      });
    },
  };
}
