/**
 * Classifies ioredis errors: connection trouble is retryable; script and command errors are not.
 *
 * @module
 */
import { BallastError, ErrorCode, isBallastError } from '@ballast/errors';

/** Wraps a Redis error with a Ballast reason. */
export function classifyRedisError(err: unknown, what: string): BallastError {
  if (isBallastError(err)) return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (
    /ECONNREFUSED|ECONNRESET|ETIMEDOUT|Connection is closed|connect|MaxRetriesPerRequest|LOADING|TRYAGAIN/i.test(msg)
  ) {
    return new BallastError(ErrorCode.StateConnection, `${what}: ${msg}`, { cause: err, retryable: true });
  }
  return new BallastError(ErrorCode.StateInvalid, `${what}: ${msg}`, { cause: err });
}
