/**
 * The statalysis import (demo/statalysis) of the 200,000-line sample, with
 * sasync and with TypeORM used directly: the same parser, SQL, batches and
 * pipeline (demo/statalysis/import.ts drives an EntryStore; only the store
 * differs). Each run is one fresh process on fresh tables, for a fair peak
 * RSS. `npx tsx bench/statalysis.ts [--lines=N] [--batch=N]`; postgres at
 * SASYNC_PG_URL (in a schema of its own, dropped afterwards).
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sqlite3 from 'sqlite3';
import { DataSource, type EntityManager } from 'typeorm';
import { DateUtils } from 'typeorm/util/DateUtils';
import { resolveTarget } from '../lib';
import { importFile } from '../demo/statalysis/import';
import type { LogRecord } from '../demo/statalysis/parse';
import { writeSampleLog } from '../demo/statalysis/generate';
import { BAD_LINE_COLUMNS, ENTRY_COLUMNS } from '../demo/statalysis/schema';
import { fileRow, StatSql, type FileRow } from '../demo/statalysis/sql';
import { StatBroker } from '../demo/statalysis/stat-broker';
import { BAD_IP_4XX, IdCache, insertInChunks, type Batch, type EntryStore } from '../demo/statalysis/store';
import { serializer } from './baselines/serialize';
import { probePostgres } from './environment';
import { DEFAULT_PG_URL } from './options';

const SUBJECTS = ['typeorm', 'typeorm-quiet', 'sasync'] as const;
type Subject = (typeof SUBJECTS)[number];
interface Run {
  readonly subject: Subject;
  readonly target: string;
  readonly file: string;
  readonly batch: number;
}
interface Measured {
  readonly lines: number;
  readonly seconds: number;
  readonly maxRssBytes: number;
}

/** node-sqlite3 without the verbose mode TypeORM turns on (what sasync gives TypeORM). */
const quietSqlite3: typeof sqlite3 = Object.create(sqlite3, {
  verbose: {
    value(this: typeof sqlite3) {
      return this;
    },
  },
});

/**
 * The import written against a TypeORM DataSource: the broker's SQL, its
 * batches and its id cache, with `dataSource.transaction()`; serialized on
 * sqlite, where overlapping TypeORM transactions would nest as savepoints.
 */
class TypeormStore implements EntryStore {
  readonly ids = new IdCache();
  readonly #ds: DataSource;
  readonly #sql: StatSql;
  readonly #bind: (values: readonly unknown[]) => unknown[];
  readonly #transaction: <T>(work: (tx: EntityManager) => Promise<T>) => Promise<T>;

  constructor(ds: DataSource) {
    this.#ds = ds;
    this.#sql = new StatSql((i) => ds.driver.createParameter('p', i));
    const sqlite = ds.options.type === 'sqlite';
    // node-sqlite3 would bind a Date as milliseconds: store TypeORM's UTC text, as sasync does.
    const date = (v: unknown) => (v instanceof Date ? DateUtils.mixedDateToUtcDatetimeString(v) : v);
    this.#bind = sqlite ? (values) => values.map(date) : (values) => [...values];
    const exclusive = serializer();
    this.#transaction = sqlite
      ? (work) => exclusive(() => this.#ds.transaction(work))
      : (work) => this.#ds.transaction(work);
  }

  openFile(name: string, hash: string): Promise<FileRow> {
    return this.#transaction(async (tx) => {
      const found: Record<string, unknown>[] = await tx.query(this.#sql.findFile(), [hash]);
      if (found[0]) return fileRow(found[0]);
      const added: { id: number }[] = await tx.query(
        this.#sql.addFile(),
        this.#bind([name, hash, 0, 0, 0, false, new Date()]),
      );
      return { id: Number(added[0]!.id), name, lines: 0, records: 0, bad: 0, done: false };
    });
  }

  async resolve(records: readonly LogRecord[]): Promise<void> {
    const wanted = this.ids.missing(records);
    if (wanted.length === 0) return;
    await this.#transaction(async (tx) => {
      for (const [table, value] of wanted) {
        const select = () => tx.query(this.#sql.selectValue(table), [value]) as Promise<{ id: number }[]>;
        const row =
          (await select())[0] ?? (await tx.query(this.#sql.insertValue(table), [value]))[0] ?? (await select())[0];
        this.ids.add(table, value, Number(row.id));
      }
    });
  }

  writeBatch(batch: Batch): Promise<void> {
    return this.#transaction(async (tx) => {
      const query = (sql: string, values: unknown[]) => tx.query(sql, this.#bind(values));
      await insertInChunks(query, (n) => this.#sql.insertEntries(n), ENTRY_COLUMNS.length, batch.entries);
      await insertInChunks(query, (n) => this.#sql.insertBadLines(n), BAD_LINE_COLUMNS.length, batch.badLines);
      await tx.query(this.#sql.progress(), [batch.lines, batch.records, batch.bad, batch.fileId]);
    });
  }

  finishFile(fileId: number): Promise<void> {
    return this.#transaction(async (tx) => {
      await tx.query(this.#sql.markBadIps(), [BAD_IP_4XX]);
      await tx.query(this.#sql.finishFile(), this.#bind([true, new Date(), fileId]));
    });
  }
}

/** In the child: one import, timed; the tables exist already. */
async function measure(run: Run): Promise<Measured> {
  let store: EntryStore;
  let close: () => Promise<void>;
  if (run.subject === 'sasync') {
    const broker = new StatBroker(run.target);
    await broker.waitUntilRunning();
    [store, close] = [broker, () => broker.shutdown()];
  } else {
    const options = resolveTarget(run.target).options;
    const quiet = run.subject === 'typeorm-quiet' && options.type === 'sqlite' ? { driver: quietSqlite3 } : {};
    const ds = new DataSource({ ...options, ...quiet, logging: false } as typeof options);
    await ds.initialize();
    [store, close] = [new TypeormStore(ds), () => ds.destroy()];
  }
  try {
    const started = performance.now();
    const result = await importFile(store, run.file, { batchSize: run.batch });
    const seconds = (performance.now() - started) / 1000;
    return { lines: result.linesThisRun, seconds, maxRssBytes: process.resourceUsage().maxRSS * 1024 };
  } finally {
    await close();
  }
}

/** Runs one import in a fresh process (with this process's tsx flags). */
function inChild(run: Run): Promise<Measured> {
  const child = fork(__filename, ['--child', JSON.stringify(run)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    let reply: { ok: true; value: Measured } | { ok: false; error: string } | undefined;
    child.once('message', (message: typeof reply) => (reply = message));
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reply?.ok ? resolve(reply.value) : reject(new Error(reply?.error ?? `child ended (${signal ?? code})`)),
    );
  });
}

/** A target with the statalysis tables made, empty: a new sqlite file, or a fresh postgres schema. */
async function freshTarget(kind: 'sqlite' | 'postgres', dir: string, pgUrl: string, subject: Subject): Promise<string> {
  let target = `sqlite:${path.join(dir, `${subject}.db`)}`;
  if (kind === 'postgres') {
    await dropSchema(pgUrl, true);
    const url = new URL(pgUrl);
    url.searchParams.set('options', `-c search_path=${PG_SCHEMA}`);
    target = url.toString();
  }
  const broker = new StatBroker(target);
  await broker.waitUntilRunning();
  await broker.shutdown();
  return target;
}

const PG_SCHEMA = 'sasync_bench_statalysis';

async function dropSchema(pgUrl: string, recreate: boolean): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE`);
    if (recreate) await client.query(`CREATE SCHEMA ${PG_SCHEMA}`);
  } finally {
    await client.end();
  }
}

export interface StatalysisBenchOptions {
  readonly pgUrl: string;
  readonly lines?: number;
  readonly batch?: number;
}

/** Runs every subject on sqlite and (if it answers) postgres, one run each, and prints the table. */
export async function benchStatalysis(options: StatalysisBenchOptions, progress = console.error): Promise<void> {
  const lines = options.lines ?? 200_000;
  const batch = options.batch ?? 1000;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sasync-bench-statalysis-'));
  const rows: Record<string, string | number>[] = [];
  try {
    const file = path.join(dir, 'sample.log');
    await writeSampleLog(file, { lines });
    const pg = await probePostgres(options.pgUrl);
    if (!pg.ok) progress(`!!!!! statalysis on POSTGRES SKIPPED: unreachable (${pg.reason})`);
    for (const kind of pg.ok ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const)) {
      const results = new Map<Subject, Measured>();
      for (const subject of SUBJECTS) {
        if (subject === 'typeorm-quiet' && kind !== 'sqlite') continue;
        const target = await freshTarget(kind, dir, options.pgUrl, subject);
        const measured = await inChild({ subject, target, file, batch });
        results.set(subject, measured);
        progress(`  statalysis ${kind} ${subject}: ${Math.round(measured.lines / measured.seconds)} lines/s`);
      }
      if (kind === 'postgres') await dropSchema(options.pgUrl, false);
      const sasync = results.get('sasync')!;
      for (const [subject, m] of results) {
        rows.push({
          database: kind,
          subject,
          'lines/s': Math.round(m.lines / m.seconds),
          seconds: Number(m.seconds.toFixed(2)),
          'sasync ×': subject === 'sasync' ? '' : (sasync.lines / sasync.seconds / (m.lines / m.seconds)).toFixed(2),
          'peak RSS MB': Math.round(m.maxRssBytes / 1024 / 1024),
        });
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    `\nstatalysis import: ${lines.toLocaleString('en')} lines, ${batch} per transaction, one run each in a fresh process` +
      '\n(typeorm: as TypeORM sets node-sqlite3 up, verbose; typeorm-quiet: without verbose mode, as sasync runs it; target sasync >= 0.9x)',
  );
  console.table(rows);
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') {
    const run = JSON.parse(process.argv[3]!) as Run;
    const send = (message: unknown, status: number) => process.send!(message, () => process.exit(status));
    await measure(run).then(
      (value) => send({ ok: true, value }, 0),
      (err: unknown) => send({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }, 1),
    );
    return;
  }
  const { values } = parseArgs({ options: { lines: { type: 'string' }, batch: { type: 'string' } } });
  await benchStatalysis({
    pgUrl: process.env.SASYNC_PG_URL ?? DEFAULT_PG_URL,
    lines: values.lines ? Number(values.lines) : undefined,
    batch: values.batch ? Number(values.batch) : undefined,
  });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
