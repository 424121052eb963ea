/**
 * Whether a failed call never reached the other side.
 *
 * @module
 */

/** Node and undici codes of a connection that was never made. */
const NEVER_CONNECTED = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * True when `err` says no connection was made, so nothing was sent: its `code` is a refused,
 * unresolved, unreachable or timed-out connect (Node, undici), or, for the AggregateError Node
 * raises after trying every address of a host, every attempt's is.
 */
export function neverConnected(err: unknown): boolean {
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.every(neverConnected);
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && NEVER_CONNECTED.has(code);
}
