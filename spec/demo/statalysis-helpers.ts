import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { lastValueFrom } from 'rxjs';
import type { AccessBroker } from '../../lib';
import { PG_URL, pgAvailable, sqliteFile, uniqueName } from '../support/targets';

const ROOT = path.resolve(__dirname, '../..');
export const MAIN = path.join(ROOT, 'demo/statalysis/main.ts');

/** What the test itself counts in a generated log, without the demo's parser. */
export interface Count {
  readonly lines: number;
  readonly valid: number;
  readonly statuses: Record<number, number>;
  readonly urls: Map<string, number>;
}

/** The generator's line: vhost:port, address, "- -", time, request, status, bytes, referer, agent. */
const GOOD =
  /^\S+:\d+ [0-9a-f.:]+ - - \[\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0100\] "[A-Z]+ (\S+) HTTP\/1\.1" (\d{3}) (?:\d+|-) "[^"]*" "[^"]*"$/;

/** Counts a log's lines, its well-formed ones, their statuses and URLs, from the bytes. */
export function independentCount(file: string): Count {
  const text = fs.readFileSync(file).toString('latin1');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const statuses: Record<number, number> = {};
  const urls = new Map<string, number>();
  let valid = 0;
  for (const line of lines) {
    const m = line.length < 64 * 1024 ? GOOD.exec(line) : null;
    if (!m) continue;
    valid++;
    statuses[Number(m[2])] = (statuses[Number(m[2])] ?? 0) + 1;
    urls.set(m[1]!, (urls.get(m[1]!) ?? 0) + 1);
  }
  return { lines: lines.length, valid, statuses, urls };
}

/** The count of a table's rows. */
export async function rowCount(broker: AccessBroker, table: string): Promise<number> {
  const rows = await lastValueFrom(broker.query<{ n: number | string }>(`select count(*) as n from ${table}`));
  return Number(rows[0]!.n);
}

/** A database for one test: a new sqlite file, or a postgres schema of its own (dropped by `drop`). */
export interface Place {
  readonly target: string;
  drop(): Promise<void>;
}

async function pgAdmin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A postgres schema of its own: the demo's table names are fixed, so tests must not share one. */
async function pgPlace(): Promise<Place> {
  const schema = uniqueName('statalysis');
  await pgAdmin((c) => c.query(`CREATE SCHEMA ${schema}`));
  const url = new URL(PG_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    target: url.toString(),
    drop: () => pgAdmin((c) => c.query(`DROP SCHEMA ${schema} CASCADE`)).then(() => undefined),
  };
}

export interface PlaceKind {
  readonly name: 'sqlite-file' | 'postgres';
  make(): Promise<Place>;
}

export const sqlitePlace: PlaceKind = {
  name: 'sqlite-file',
  make: async () => ({ target: sqliteFile.target(), drop: async () => undefined }),
};
export const postgresPlace: PlaceKind = { name: 'postgres', make: pgPlace };
export const places: readonly PlaceKind[] = pgAvailable ? [sqlitePlace, postgresPlace] : [sqlitePlace];

export interface Exit {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts the demo's main.ts in a child process (through tsx's loader). */
export function startMain(args: readonly string[], cwd: string) {
  return spawn(process.execPath, ['--import', `file://${ROOT}/node_modules/tsx/dist/loader.mjs`, MAIN, ...args], {
    cwd,
    env: { ...process.env, TSX_TSCONFIG_PATH: path.join(ROOT, 'tsconfig.json') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs main.ts to its end. */
export function runMain(args: readonly string[], cwd: string): Promise<Exit> {
  const child = startMain(args, cwd);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}
