/**
 * `@ballast/db`: the platform's relational schema and its migrations.
 *
 * @module
 */
export { SystemAccount, type Database } from './schema.ts';
export type * from './schema.ts';
export { migrateToLatest, type SqlDialect } from './migrations.ts';
