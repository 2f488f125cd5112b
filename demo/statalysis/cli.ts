import { parseArgs } from 'node:util';
import { SAMPLE_FILE, SAMPLE_LINES } from './generate';

export const DEFAULT_TARGET = 'sqlite:statalysis.db';

export const HELP = `usage: npm run demo -- [FILE…] [--db TARGET] [options]

statalysis: imports web server access logs (Apache or nginx combined format,
or Apache's vhost_combined; plain or .gz) into a database through a sasync
broker, then reports on them. Files already imported are skipped; an
interrupted import resumes where it stopped; malformed lines are counted,
kept in bad_lines and skipped.

  FILE…              log files to import (default: ${SAMPLE_FILE}, a sample
                     of ${SAMPLE_LINES.toLocaleString('en')} lines written to the working directory on first run)
  --db TARGET        the database (default ${DEFAULT_TARGET}, a file in the working
                     directory), or e.g. postgres://postgres@127.0.0.1:5432/test
  --batch N          lines per transaction (default 1000)
  --sample-lines N   lines of the sample when it is first written (default ${SAMPLE_LINES})
  --top N            rows in the top-URL and top-IP tables (default 10)
  --no-report        import only
  --quiet            no progress display
  -h, --help         show this help

Exit status: 0 done, 1 a file or the database could not be used, 2 bad arguments.`;

export interface Cli {
  readonly help: boolean;
  readonly files: readonly string[];
  readonly db: string;
  readonly batch: number;
  readonly sampleLines: number;
  readonly top: number;
  readonly report: boolean;
  readonly quiet: boolean;
}

/** A command line that cannot be run: exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

function positive(flag: string, text: string | undefined, fallback: number, max = 1_000_000_000): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > max)
    throw new UsageError(`--${flag} needs a whole number from 1 to ${max}, not ${JSON.stringify(text)}`);
  return n;
}

/** Reads the command line. @throws UsageError for unknown flags or bad values. */
export function parseCli(argv: readonly string[]): Cli {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      allowNegative: true,
      options: {
        db: { type: 'string' },
        batch: { type: 'string' },
        'sample-lines': { type: 'string' },
        top: { type: 'string' },
        report: { type: 'boolean', default: true },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  return {
    help: values.help,
    files: positionals,
    db: values.db ?? DEFAULT_TARGET,
    batch: positive('batch', values.batch, 1000, 100_000),
    sampleLines: positive('sample-lines', values['sample-lines'], SAMPLE_LINES),
    top: positive('top', values.top, 10, 1000),
    report: values.report,
    quiet: values.quiet,
  };
}
