/**
 * Whether a failed order entry call may still have taken effect.
 *
 * @module
 */
import { ErrorCode, isBallastError, neverConnected } from '@ballast/errors';

/** Refusals before any work, and conflicts whose work was rolled back. */
const NOT_DONE = new Set<string>([ErrorCode.Unavailable, ErrorCode.Cancelled, ErrorCode.StateConflict]);

/**
 * Whether an error from the oms's `place` or `cancel` leaves open that the order was written or
 * the cancel appended. False only where it surely was not: a refusal before any work
 * (`UNAVAILABLE`, `CANCELLED`), a conflict that rolled back (`STATE_CONFLICT`), a store never
 * reached (connection refused on every address, a pool connection that timed out while
 * starting, PostgreSQL's 57P03 "cannot connect now"), an error the database answered for a
 * statement (a SQLSTATE outside the connection classes 08 and 57P: the statement, so the
 * transaction, failed), SQLite busy or a constraint. Anything else (a connection lost while a write or an append was out, an
 * error of unknown kind) may have come after the effect.
 */
export function mayHaveTakenEffect(err: unknown): boolean {
  if (isBallastError(err)) return !NOT_DONE.has(err.code);
  if (neverConnected(err)) return false;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    // A SQLSTATE: an error the database answered. 57P03: it cannot take connections now.
    if (/^[0-9A-Z]{5}$/.test(code) && !code.startsWith('E'))
      return code !== '57P03' && (code.startsWith('08') || code.startsWith('57P'));
  }
  const msg = err instanceof Error ? err.message : String(err);
  // pg-pool: a connection that never finished starting.
  return !/SQLITE_BUSY|database is locked|SQLITE_LOCKED|constraint|connection timeout|timeout exceeded when trying to connect/i.test(
    msg,
  );
}
