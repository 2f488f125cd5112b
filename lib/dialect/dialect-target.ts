import type { DataSourceOptions } from 'typeorm';

/** A target URL as a dialect reads it. */
export interface ParsedTarget {
  /** Targets with one key share one DataSource. */
  readonly key: string;
  /** For messages: no password. */
  readonly label: string;
  readonly options: DataSourceOptions;
}

/** How a dialect reads its target URLs and makes its DataSource options. */
export interface DialectTarget {
  /** The URL forms it accepts, for messages. */
  readonly urlForms: string;
  /** Whether a target URL is of this dialect's scheme. */
  ownsUrl(url: string): boolean;
  /** Reads a URL of its scheme. @throws TargetSyntaxError if it is malformed. */
  parseUrl(url: string): ParsedTarget;
  /** The options the DataSource is made with: the caller's, plus this dialect's defaults. */
  dataSourceOptions(options: DataSourceOptions): DataSourceOptions;
}
