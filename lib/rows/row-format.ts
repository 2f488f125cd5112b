/**
 * How a sink gives rows: `'objects'` (the rows themselves, the default),
 * `'ndjson'` (one JSON text per row, each ending in `\n`) or `'json'` (one
 * JSON array of all the rows, written a batch at a time).
 */
export type RowFormat = 'objects' | 'ndjson' | 'json';

/** The serialized formats: text for an HTTP response or a file. */
export type TextFormat = Exclude<RowFormat, 'objects'>;

/** Options of `toReadable()` and `toReadableStream()`. */
export interface SinkOptions {
  /** `'objects'` by default. */
  readonly format?: RowFormat;
}

const FORMATS: readonly RowFormat[] = ['objects', 'ndjson', 'json'];

/** Checks a sink's options at call time. @throws RangeError */
export function checkFormat(options: SinkOptions | undefined): RowFormat {
  const format = options?.format ?? 'objects';
  if (!FORMATS.includes(format)) {
    throw new RangeError(`format must be one of ${FORMATS.map((f) => `'${f}'`).join(', ')}, not ${String(format)}`);
  }
  return format;
}

/**
 * Serializes batches into text, one string per batch (never a row at a
 * time: a chunk per row would cost a write, and a promise, per row).
 * A row JSON.stringify refuses (a BigInt, a cycle) throws, failing the sink.
 */
export class TextEncoding {
  readonly #format: TextFormat;
  #started = false;

  constructor(format: TextFormat) {
    this.#format = format;
  }

  /** The text of one batch, after whatever the batches before it were given. */
  batch(rows: readonly unknown[]): string {
    const body = rows.map((row) => JSON.stringify(row));
    if (this.#format === 'ndjson') return body.join('\n') + '\n';
    const lead = this.#started ? ',\n' : '[\n';
    this.#started = true;
    return lead + body.join(',\n');
  }

  /** What closes the text once every batch was given ('' for ndjson). */
  end(): string {
    if (this.#format === 'ndjson') return '';
    return this.#started ? '\n]\n' : '[]\n';
  }
}
