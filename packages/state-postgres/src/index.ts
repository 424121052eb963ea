/**
 * `@ballast/state-postgres`: Kysely on PostgreSQL, with driver errors classified.
 *
 * @module
 */
export { classifyPostgresError, openPostgres, type OpenPostgresOptions } from './postgres.ts';
