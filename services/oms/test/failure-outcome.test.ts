import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BallastError, ErrorCode } from '@ballast/errors';
import { mayHaveTakenEffect } from '@ballast/oms';

const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });

describe('whether a failed order entry call may still have taken effect', () => {
  it('is no for refusals before any work, rolled-back conflicts, stores never reached and statements the database failed', () => {
    for (const err of [
      new BallastError(ErrorCode.Unavailable, 'the command log is unreachable', { retryable: true }),
      new BallastError(ErrorCode.Cancelled, 'the caller left'),
      new BallastError(ErrorCode.StateConflict, 'balance changed during order entry', { retryable: true }),
      withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
      withCode('getaddrinfo ENOTFOUND db', 'ENOTFOUND'),
      withCode('could not serialize access', '40001'),
      withCode('duplicate key value violates unique constraint', '23505'),
      withCode('canceling statement due to statement timeout', '57014'),
      new Error('SQLITE_BUSY: database is locked'),
      new AggregateError([withCode('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED'), withCode('x', 'ECONNREFUSED')]),
      withCode('the database system is starting up', '57P03'),
      new Error('timeout exceeded when trying to connect'),
      new Error('Connection terminated due to connection timeout'),
    ])
      assert.equal(mayHaveTakenEffect(err), false, err.message);
  });

  it('is yes for a connection lost while a write or append was out, and for anything of unknown kind', () => {
    for (const err of [
      new Error('Connection terminated unexpectedly'),
      withCode('terminating connection due to administrator command', '57P01'),
      withCode('connection failure', '08006'),
      withCode('read ECONNRESET', 'ECONNRESET'),
      new BallastError(ErrorCode.StateConnection, 'publish: no ack', { retryable: true }),
      new BallastError(ErrorCode.Timeout, 'deadline', { retryable: true }),
      new BallastError(ErrorCode.StateInvalid, 'invalid ack response'),
      new TypeError('x is undefined'),
      withCode('write EPIPE', 'EPIPE'),
      new AggregateError([withCode('refused', 'ECONNREFUSED'), withCode('read ECONNRESET', 'ECONNRESET')]),
      'a string',
    ])
      assert.equal(mayHaveTakenEffect(err), true, String(err));
  });
});
