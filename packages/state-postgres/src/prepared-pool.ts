/**
 * Named prepared statements for Kysely on `pg`: each distinct SQL text of a query (SELECT,
 * INSERT, UPDATE, DELETE, WITH) gets a name, so PostgreSQL parses and plans it once per
 * connection instead of on every execution. Kysely's statements are few and fixed in shape (a
 * multi-row insert has one text per row count), so the set stays small; past `maxNames` texts,
 * new ones run unnamed as before.
 *
 * Not for a pooler in transaction mode without protocol-level prepared statements (PgBouncer
 * before 1.21): turn it off there (`preparedStatements: false`).
 *
 * @module
 */
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';

const NAMEABLE = /^\s*(select|insert|update|delete|with)\b/i;

/** Wraps `pool` so that Kysely's queries run as named prepared statements. */
export function preparedStatementPool(pool: pg.Pool, maxNames = 2000): PostgresPool {
  const names = new Map<string, string>();
  const nameOf = (text: string): string | undefined => {
    let name = names.get(text);
    if (name === undefined && names.size < maxNames && NAMEABLE.test(text)) {
      name = `ballast_${names.size.toString(36)}`;
      names.set(text, name);
    }
    return name;
  };
  return {
    // Kysely opens a control connection of this class to cancel a query whose signal aborts.
    Client: (pool as unknown as { Client: NonNullable<PostgresPool['Client']> }).Client,
    options: pool.options,
    end: () => pool.end(),
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      return {
        get processID() {
          return (client as unknown as { processID?: number }).processID;
        },
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        query(sqlOrCursor: any, parameters?: ReadonlyArray<unknown>): any {
          if (typeof sqlOrCursor !== 'string') return client.query(sqlOrCursor);
          const name = nameOf(sqlOrCursor);
          return name === undefined
            ? client.query(sqlOrCursor, parameters as unknown[])
            : client.query({ name, text: sqlOrCursor, values: parameters as unknown[] });
        },
        release: (destroy?: boolean) => client.release(destroy),
      } as PostgresPoolClient;
    },
  };
}
