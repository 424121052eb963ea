/**
 * `@ballast/state-sqlite`: the embedded adapters (node:sqlite): a Kysely dialect and the EventLog.
 *
 * @module
 */
export { openSqlite, type OpenSqliteOptions } from './node-sqlite-dialect.ts';
export { createSqliteEventLog, type SqliteEventLog } from './sqlite-event-log.ts';
export { classifySqliteError } from './classify.ts';
