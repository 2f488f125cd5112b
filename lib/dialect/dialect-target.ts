import type { DataSource, DataSourceOptions } from 'typeorm';

/** A target URL as a dialect reads it. */
export interface ParsedTarget {
  /** Targets with one key share one DataSource. */
  readonly key: string;
  /** For messages: no password. */
  readonly label: string;
  readonly options: DataSourceOptions;
}

/**
 * How a dialect reads its target URLs and makes its DataSource options, and
 * how it takes a DataSource the app made (whose options it cannot change).
 */
export interface DialectTarget {
  /** The URL forms it accepts, for messages. */
  readonly urlForms: string;
  /** Whether a target URL is of this dialect's scheme. */
  ownsUrl(url: string): boolean;
  /** Reads a URL of its scheme. @throws TargetSyntaxError if it is malformed. */
  parseUrl(url: string): ParsedTarget;
  /** The options the DataSource is made with: the caller's, plus this dialect's defaults. */
  dataSourceOptions(options: DataSourceOptions): DataSourceOptions;
  /**
   * Checks an app's DataSource before any broker uses it, initialized or
   * not: its options are the app's, as they are.
   * @throws DatabaseError for options sasync cannot work with, saying which to set.
   */
  checkDataSource(ds: DataSource): void;
  /**
   * Applies at run time, to an app's initialized DataSource, what
   * {@link dataSourceOptions} would have set and can still be set (on
   * sqlite, the busy timeout); resolves with what puts it back as it was.
   */
  tuneDataSource(ds: DataSource): Promise<() => Promise<void>>;
}
