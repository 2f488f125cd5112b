import { parseArgs } from 'node:util';
import { UsageError } from '../statalysis/cli';

export const DEFAULT_PORT = 8080;
export const DEFAULT_TARGET = 'sqlite:statalysis-live.db';
export const DEFAULT_LINES = 200_000;

export const HELP = `usage: npm run demo:live -- [FILE] [--port N] [--db TARGET] [--lines N] [--batch N]

statalysis, live: serves a page on http://127.0.0.1:PORT/ whose Start button
imports a log, and shows the import's counters (lines, requests per status
class, bad lines) and its hits per minute while it runs. The numbers live in
a PersistentDict on the same database and reach the page through
Server-Sent Events from its snapshot$().

  FILE             a log to import (default: a new sample for each Start)
  --port N         the port (default ${DEFAULT_PORT}; 0 picks a free one)
  --db TARGET      the database (default ${DEFAULT_TARGET}), or e.g.
                   postgres://postgres@127.0.0.1:5432/test
  --lines N        lines of the generated sample (default ${DEFAULT_LINES.toLocaleString('en')})
  --batch N        lines per transaction (default 1000)
  -h, --help       show this help

Stop it with Ctrl-C. Exit status: 0 stopped, 1 the port or the database could
not be used, 2 bad arguments.`;

export interface LiveCli {
  readonly help: boolean;
  readonly file: string | undefined;
  readonly port: number;
  readonly db: string;
  readonly lines: number;
  readonly batch: number;
}

function whole(flag: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max)
    throw new UsageError(`--${flag} needs a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`);
  return n;
}

/** Reads the command line. @throws UsageError for unknown flags, bad values or more than one FILE. */
export function parseLiveCli(argv: readonly string[]): LiveCli {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        port: { type: 'string' },
        db: { type: 'string' },
        lines: { type: 'string' },
        batch: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new UsageError(`one FILE at most, not ${positionals.length}`);
  return {
    help: values.help,
    file: positionals[0],
    port: whole('port', values.port, DEFAULT_PORT, 0, 65535),
    db: values.db ?? DEFAULT_TARGET,
    lines: whole('lines', values.lines, DEFAULT_LINES, 1, 100_000_000),
    batch: whole('batch', values.batch, 1000, 1, 100_000),
  };
}
