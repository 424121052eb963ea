/**
 * `@ballast/db`: the platform's relational schema and its migrations.
 *
 * @module
 */
export { SystemAccount, type Database } from './schema.ts';
export type * from './schema.ts';
export { createQueryCache, type QueryCache, type QueryCacheOptions, type QueryRunner } from './query-cache.ts';
export { CONFLICT_FUNCTION, migrateToLatest, type SqlDialect } from './migrations.ts';
