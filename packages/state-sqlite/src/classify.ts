/**
 * Classifies SQLite driver errors into Ballast's neutral reasons.
 *
 * @module
 */
import { BallastError, ErrorCode, isBallastError } from '@ballast/errors';

/** Wraps a driver error: busy/locked → retryable conflict; constraint → conflict; else invalid. */
export function classifySqliteError(err: unknown, what: string): BallastError {
  if (isBallastError(err)) return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (/SQLITE_BUSY|database is locked|SQLITE_LOCKED/i.test(msg)) {
    return new BallastError(ErrorCode.StateConflict, `${what}: database busy`, { cause: err, retryable: true });
  }
  if (/constraint/i.test(msg)) {
    return new BallastError(ErrorCode.StateConflict, `${what}: ${msg}`, { cause: err });
  }
  if (/not open|closed|disk I\/O|SQLITE_IOERR|SQLITE_CANTOPEN/i.test(msg)) {
    return new BallastError(ErrorCode.StateConnection, `${what}: ${msg}`, { cause: err, retryable: true });
  }
  return new BallastError(ErrorCode.StateInvalid, `${what}: ${msg}`, { cause: err });
}
