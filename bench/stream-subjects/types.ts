import type { DbKind } from '../workload';

/** Rows read per round trip, by every subject (sasync's default too). */
export const BATCH_SIZE = 500;

/**
 * How sasync's rows are consumed: issue 3's three ways; `slow` lets the event
 * loop run every 100 rows; `batches` iterates `batches()` (arrays of rows).
 */
export const SASYNC_MODES = ['for-await', 'consume', 'subscribe', 'slow', 'batches'] as const;
export type SasyncMode = (typeof SASYNC_MODES)[number];

/** The peers' streams (with `--peers`, postgres only): Kysely `stream()`, postgres.js `cursor()`, Knex `stream()`. */
export const STREAM_PEERS = ['kysely', 'postgresjs', 'knex'] as const;
export type StreamPeer = (typeof STREAM_PEERS)[number];

/** One subject of the streaming table. */
export type StreamCase =
  | { readonly impl: 'sasync'; readonly mode: SasyncMode; readonly keyed: boolean }
  | { readonly impl: 'raw' }
  | { readonly impl: 'typeorm' }
  | { readonly impl: 'peer'; readonly peer: StreamPeer };

/** Where the tables are (plain data: sent to the subject's own process). */
export interface Place {
  readonly kind: DbKind;
  /** sasync's target: the postgres URL, or `sqlite:<file>`. */
  readonly target: string;
  /** The postgres URL, or the sqlite file, for the raw driver. */
  readonly raw: string;
  /** The measured table and a small one of the same shape for warming up. */
  readonly table: string;
  readonly warmTable: string;
  readonly rows: number;
  readonly warmRows: number;
}

export type Job =
  | { readonly op: 'stream'; readonly place: Place; readonly case: StreamCase }
  | { readonly op: 'prepare'; readonly place: Place; readonly count: number; readonly rounds: number };

export interface StreamSample {
  readonly rowsPerSecond: number;
  /** user + system CPU of the subject's process during the run. */
  readonly cpuSeconds: number;
  /** From the start of the read to the first row (sqlite without key: the temp-table copy). */
  readonly firstRowSeconds: number;
  readonly baselineRss: number;
  /** The largest RSS seen during the run (sampled every 20 ms and at the end) minus the baseline. */
  readonly rssGrowth: number;
}

/** Selects per second in each interleaved round; undefined when the build has no `prepare()`. */
export type PrepareResult = { readonly query: number; readonly prepared: number }[] | undefined;

/** What a read saw: rows, the sum of their ids, and `performance.now()` at the first row. */
export interface ReadResult {
  count: number;
  sum: number;
  firstRowAt: number;
}

/** An open subject: reads every row of a table, in id order. */
export interface StreamSubject {
  read(table: string): Promise<ReadResult>;
  close(): Promise<void>;
}
