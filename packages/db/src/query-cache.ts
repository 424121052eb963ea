/**
 * Compiled-query cache: a hot statement is built and compiled by Kysely once per shape, then run
 * again with new parameters, without building its operation tree or compiling it again.
 *
 * Why: on the order path, building and compiling queries took more of the main thread than
 * SQLite itself spent running them (perf, embedded mode: Kysely 22% of the thread, SQLite 22%).
 * The SQL text of a statement depends only on its shape (which query, how many rows or
 * conditions); the values are parameters. So the first call of a shape builds the query from
 * the caller's data with every value replaced by a placeholder, compiles it, and records where
 * each placeholder landed in the parameter list; later calls read their values from the same
 * places in their own data. Role logic stays Kysely code, for SQLite and PostgreSQL alike.
 *
 * @module
 */
import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';

/** A value of the data, while a shape is compiled: where it sits in the data. */
class Placeholder {
  readonly path: readonly (string | number)[];
  constructor(path: readonly (string | number)[]) {
    this.path = path;
  }
  /** Data values may only be query values: using one in JS logic or as SQL text is a bug. */
  [Symbol.toPrimitive](): never {
    throw new Error(
      `query cache: the value at ${this.path.join('.')} was used in a comparison or as text; only query values may vary`,
    );
  }
}

const isPlain = (v: object): boolean => {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
};

/** `data` with each value (anything but arrays and plain objects) replaced by a placeholder. */
const withPlaceholders = (data: unknown, path: (string | number)[]): unknown => {
  if (data === undefined) {
    throw new Error(`query cache: undefined at ${path.join('.') || 'the top'}; use null, or another shape`);
  }
  if (Array.isArray(data)) return data.map((v, i) => withPlaceholders(v, [...path, i]));
  if (typeof data === 'object' && data !== null && isPlain(data)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(data)) out[k] = withPlaceholders(v, [...path, k]);
    return out;
  }
  return new Placeholder(path);
};

/** One parameter of a compiled shape: a fixed value of the query, or a place in the data. */
type Source = { readonly fixed: unknown } | { readonly path: readonly (string | number)[] };

interface Shape {
  readonly compiled: CompiledQuery;
  readonly sources: readonly Source[];
}

const valueAt = (data: unknown, path: readonly (string | number)[], shape: string): unknown => {
  let v = data as Record<string | number, unknown> | undefined;
  for (const k of path) v = (v as Record<string | number, unknown> | undefined)?.[k] as typeof v;
  if (v === undefined) throw new Error(`query cache: ${shape}: no value at ${path.join('.')}; the shape key is wrong`);
  return v;
};

/** What runs queries: a `Kysely` instance or a transaction. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type QueryRunner = Pick<Kysely<any>, 'executeQuery'>;

/** Options of {@link createQueryCache}. */
export interface QueryCacheOptions {
  /** Shapes kept; past this, queries are built and compiled every time (still correct). @default 1024 */
  readonly maxShapes?: number;
}

/** A compiled-query cache (see the module's description). One per Kysely instance's dialect. */
export interface QueryCache {
  /**
   * Runs the query `build(data)` makes, on `on` (a database or a transaction).
   *
   * `shape` names everything the SQL text depends on: the query, the length of every array in
   * `data`, which optional parts are present. `build` may use the values of `data` only as query
   * values (parameters): a value used in a comparison or spliced into SQL text throws. `data`
   * holds no `undefined` (use `null`).
   *
   * Abort: none of its own; the statement runs as Kysely runs it.
   *
   * @throws Error when `data` does not match its shape; the driver's errors, as Kysely gives them.
   */
  execute<D, R>(on: QueryRunner, shape: string, data: D, build: (data: D) => Compilable<R>): Promise<QueryResult<R>>;
  /** Shapes compiled so far. */
  readonly size: number;
}

/** Creates a {@link QueryCache}. */
export function createQueryCache(options: QueryCacheOptions = {}): QueryCache {
  const maxShapes = options.maxShapes ?? 1024;
  const shapes = new Map<string, Shape>();

  const compile = (shape: string, data: unknown, build: (data: never) => Compilable<unknown>): Shape => {
    const compiled = build(withPlaceholders(data, []) as never).compile();
    const sources = compiled.parameters.map((p): Source =>
      p instanceof Placeholder ? { path: p.path } : { fixed: p },
    );
    return { compiled, sources };
  };

  return {
    execute<D, R>(on: QueryRunner, shape: string, data: D, build: (data: D) => Compilable<R>) {
      let s = shapes.get(shape);
      try {
        if (s === undefined) {
          if (shapes.size >= maxShapes) return on.executeQuery(build(data));
          s = compile(shape, data, build as (data: never) => Compilable<unknown>);
          shapes.set(shape, s);
        }
        const parameters = s.sources.map((src) => ('fixed' in src ? src.fixed : valueAt(data, src.path, shape)));
        const { query, queryId, sql } = s.compiled;
        return on.executeQuery<R>({ query, queryId, sql, parameters } as CompiledQuery<R>);
      } catch (err) {
        return Promise.reject(err as Error);
      }
    },
    get size() {
      return shapes.size;
    },
  };
}
