/** Runs SQL on one sqlite connection (a reader connection, or a transaction's). */
export type SqliteQuery = (sql: string, parameters: unknown[]) => Promise<Record<string, unknown>[]>;

/** Runs one step of a statement by itself, on a connection that refuses writes. */
export type SqliteStep = (sql: string, parameters: unknown[]) => Promise<void>;
