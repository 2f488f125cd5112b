/** The databases benchmarked. */
export type DbKind = 'sqlite' | 'postgres';

/**
 * The benchmarked transaction: insert one row, then select it by id. The
 * same schema and SQL for every implementation; raw SQL with the driver's own
 * placeholders (`?` on sqlite, `$1` on postgres).
 */
export interface Workload {
  readonly kind: DbKind;
  /** Statements each subject runs on its connection once it is open, before anything else (sqlite: `synchronous`). */
  readonly setup: readonly string[];
  readonly createTable: (table: string) => string;
  readonly dropTable: (table: string) => string;
  /** On postgres with `RETURNING id`; on sqlite the driver's `lastID` gives the id. */
  readonly insert: (table: string) => string;
  readonly select: (table: string) => string;
  /** The new row's id from what TypeORM's `query()` returned for {@link insert}. */
  readonly typeormInsertedId: (result: unknown) => number;
}

/**
 * sqlite's `synchronous`, set explicitly on every subject: FULL waits for
 * the WAL's fsync at every COMMIT (durable), NORMAL (what SQLite advises
 * with WAL) does not, so the transaction is bound by CPU, not by the disk.
 */
export const SQLITE_SYNC = ['FULL', 'NORMAL'] as const;
export type SqliteSync = (typeof SQLITE_SYNC)[number];

/** The sqlite workload with `synchronous` set to `sync` on every subject. */
export const sqliteWorkloadWith = (sync: SqliteSync): Workload => ({
  ...sqliteWorkload,
  setup: [`PRAGMA synchronous = ${sync}`],
});

export const sqliteWorkload: Workload = {
  kind: 'sqlite',
  setup: ['PRAGMA synchronous = FULL'],
  createTable: (t) =>
    `CREATE TABLE "${t}" (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(40) NOT NULL, n INTEGER NOT NULL)`,
  dropTable: (t) => `DROP TABLE IF EXISTS "${t}"`,
  // TypeORM runs a statement starting with "INSERT " through sqlite3's run()
  // and returns `lastID`: a RETURNING clause's rows would be dropped.
  insert: (t) => `INSERT INTO "${t}" (name, n) VALUES (?, ?)`,
  select: (t) => `SELECT id, name, n FROM "${t}" WHERE id = ?`,
  typeormInsertedId: (result) => result as number,
};

export const postgresWorkload: Workload = {
  kind: 'postgres',
  setup: [],
  createTable: (t) => `CREATE TABLE "${t}" (id SERIAL PRIMARY KEY, name VARCHAR(40) NOT NULL, n INTEGER NOT NULL)`,
  dropTable: (t) => `DROP TABLE IF EXISTS "${t}"`,
  insert: (t) => `INSERT INTO "${t}" (name, n) VALUES ($1, $2) RETURNING id`,
  select: (t) => `SELECT id, name, n FROM "${t}" WHERE id = $1`,
  typeormInsertedId: (result) => (result as { id: number }[])[0]!.id,
};

/** Parameters of the INSERT for transaction `i`. */
export const insertParams = (i: number): [string, number] => [`row ${i}`, i];

/** A table name of this process for one implementation, so that parallel runs never collide. */
export const tableName = (impl: string): string => `sasync_bench_${process.pid}_${impl}`;
