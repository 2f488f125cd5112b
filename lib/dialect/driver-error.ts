/**
 * Reading what a driver said about a failed statement. A leaf: it imports
 * nothing of sasync, so that errors.ts and every dialect can use it.
 */

/** What the drivers and TypeORM's QueryFailedError say about a failed statement. */
export interface DriverFields {
  /** postgres SQLSTATE (`40001`) or sqlite code (`SQLITE_BUSY`). */
  readonly code?: string;
  readonly detail?: string;
  readonly sql?: string;
  readonly parameters?: readonly unknown[];
}

/**
 * Reads the driver's fields from an error, wherever TypeORM put them (on the
 * error, on its `driverError`, or further down its `cause` chain).
 */
export function driverFields(error: unknown, seen = new Set<unknown>()): DriverFields {
  if (typeof error !== 'object' || error === null || seen.has(error)) return {};
  seen.add(error);
  const e = error as Record<string, unknown>;
  const d = ((typeof e.driverError === 'object' && e.driverError) || e) as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const code = str(d.code) ?? str(e.code);
  const own: DriverFields = {
    code,
    detail: str(d.detail),
    sql: str(e.query),
    parameters: Array.isArray(e.parameters) ? e.parameters : undefined,
  };
  return code === undefined ? { ...driverFields(e.cause, seen), ...defined(own) } : own;
}

/** The driver's error code (postgres SQLSTATE, sqlite `SQLITE_*`), wherever TypeORM put it. */
export function driverErrorCode(error: unknown): string | undefined {
  return driverFields(error).code;
}

/**
 * A driver error from a statement sasync ran on the driver itself, given the
 * fields TypeORM's QueryFailedError has, so that TransactionError finds the
 * SQL, parameters and code the same way.
 */
export function statementError(err: unknown, sql: string, parameters: unknown[]): unknown {
  return typeof err === 'object' && err !== null ? Object.assign(err, { query: sql, parameters }) : err;
}

function defined(fields: DriverFields): DriverFields {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}
