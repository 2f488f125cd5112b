import { parseArgs } from 'node:util';

/** The parts of the suite that can be run alone with `--only`. */
export const PARTS = ['sqlite', 'postgres', 'scheduler', 'streams', 'prepare', 'stores', 'statalysis'] as const;
export type Part = (typeof PARTS)[number];

export interface BenchOptions {
  readonly parts: ReadonlySet<Part>;
  /** Interleaved rounds per transaction benchmark; the median is reported (streams: at most 2, prepare: 3). */
  readonly rounds: number;
  /** Smaller counts, for checking that the suite runs (numbers are not comparable). */
  readonly quick: boolean;
  readonly pgUrl: string;
  /** A compiled sasync build to measure instead of lib/ through tsx (e.g. dist/lib). */
  readonly lib: string | undefined;
  /** Kysely, Knex, postgres.js and pg's pipeline mode beside the others, on postgres (issue 12). */
  readonly peers: boolean;
  /** Milliseconds added each way by a TCP proxy every postgres connection goes through; 0: none. */
  readonly latencyMs: number;
}

export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

const USAGE =
  'usage: npm run bench -- [--only=sqlite,postgres,scheduler,streams,prepare,stores,statalysis] [--rounds=5] [--quick] [--lib=dist/lib]\n' +
  '                        [--peers] [--latency=<ms>]\n' +
  '  sqlite, postgres: transactions; streams, prepare, stores: on sqlite and on postgres (if it answers)\n' +
  "  statalysis: the demo's 200,000-line import, sasync against TypeORM directly (lib/ through tsx)\n" +
  '  --lib: measure a compiled build (npm run build first) instead of lib/ through tsx\n' +
  '  --peers: also sasync with commitWith(), pg pipelined, Kysely, Knex and postgres.js, postgres only (default parts: postgres,streams)\n' +
  '  --latency=1: every postgres connection through a proxy adding 1 ms each way (bench/latency-proxy.ts)\n' +
  `  postgres: SASYNC_PG_URL (default ${DEFAULT_PG_URL})`;

/** Reads `process.argv`; exits with the usage text on bad arguments or `--help`. */
export function readOptions(argv = process.argv.slice(2)): BenchOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        only: { type: 'string' },
        rounds: { type: 'string', default: '5' },
        quick: { type: 'boolean', default: false },
        lib: { type: 'string' },
        peers: { type: 'boolean', default: false },
        latency: { type: 'string', default: '0' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  if (values.help) fail();
  const only = values.only?.split(',').map((s) => s.trim()) ?? (values.peers ? ['postgres', 'streams'] : [...PARTS]);
  const unknown = only.filter((p) => !(PARTS as readonly string[]).includes(p));
  if (unknown.length > 0) fail(`unknown part(s) ${unknown.join(', ')}`);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) fail(`--rounds must be a positive integer, not ${values.rounds}`);
  const latencyMs = Number(values.latency);
  if (!(Number.isFinite(latencyMs) && latencyMs >= 0))
    fail(`--latency must be a number of ms >= 0, not ${values.latency}`);
  return {
    parts: new Set(only as Part[]),
    rounds,
    quick: values.quick,
    pgUrl: process.env.SASYNC_PG_URL ?? DEFAULT_PG_URL,
    lib: values.lib,
    peers: values.peers,
    latencyMs,
  };
}

function fail(message?: string): never {
  if (message) console.error(message);
  console.error(USAGE);
  process.exit(message ? 2 : 0);
}
