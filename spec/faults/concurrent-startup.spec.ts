import { spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { lastValueFrom } from 'rxjs';
import type { DataSourceOptions } from 'typeorm';
import { AccessBroker, resolveTarget } from '../../lib';
import { fileAndPg, PG_URL, uniqueName, type TestTarget } from '../support/targets';
import { CONTENDED, startContender } from './fixtures/contender';

const CHILD = path.join(__dirname, 'fixtures', 'startup-child.ts');
const CONTENDERS = 4;
const ROUNDS = 3;

/** Every table a contender makes, with the index names it should have (sasync_items: whatever the store makes). */
const EXPECTED: Record<string, string[] | undefined> = {
  ...Object.fromEntries(
    CONTENDED.map((t) => [
      t.name,
      [
        ...Object.keys(t.options.index ?? {}).map((i) => `ix_${t.name}_${i}`),
        ...Object.keys(t.options.unique ?? {}).map((i) => `ux_${t.name}_${i}`),
      ].sort(),
    ]),
  ),
  sasync_items: undefined,
};

/** A database nobody has used: a new postgres database (dropped afterwards), or a new sqlite file. */
async function freshDatabase(t: TestTarget): Promise<{ target: string; drop(): Promise<void> }> {
  if (t.dialect === 'sqlite') return { target: t.target(), drop: async () => undefined };
  const name = uniqueName('sasync_startup');
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  // FORCE ends only sessions on this test's own database (none should be left).
  return { target: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** Each contended table exists exactly once, with exactly its indexes, and every contender's row is there. */
async function expectCreatedOnce(target: string): Promise<void> {
  const b = new AccessBroker(target);
  try {
    const pgDialect = b.dialect === 'postgres';
    for (const [table, indexes] of Object.entries(EXPECTED)) {
      const tables = await lastValueFrom(
        b.query<{ c: number | string }>(
          pgDialect
            ? "SELECT count(*) AS c FROM pg_class WHERE relname = $1 AND relkind = 'r'"
            : "SELECT count(*) AS c FROM sqlite_master WHERE type = 'table' AND name = ?",
          [table],
        ),
      );
      expect([table, Number(tables[0]!.c)]).toEqual([table, 1]);
      if (!indexes) continue;
      const rows = await lastValueFrom(
        b.query<{ name: string }>(
          pgDialect
            ? 'SELECT indexname AS name FROM pg_indexes WHERE tablename = $1'
            : "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND name NOT LIKE 'sqlite_%'",
          [table],
        ),
      );
      // Primary keys' own indexes (TypeORM's PK_… on postgres) are not in question.
      const names = rows.map((r) => r.name).filter((n) => !/^PK_|_pkey$/.test(n));
      expect([table, names.sort()]).toEqual([table, indexes]);
    }
    const urls = await lastValueFrom(b.query<{ c: number | string }>('SELECT count(*) AS c FROM startup_urls'));
    expect(Number(urls[0]!.c)).toBe(CONTENDERS);
    const items = await lastValueFrom(b.query<{ c: number | string }>('SELECT count(*) AS c FROM sasync_items'));
    expect(Number(items[0]!.c)).toBe(CONTENDERS);
  } finally {
    await b.shutdown();
  }
}

/** Runs `round` on a fresh database ROUNDS times, then checks what it made and drops the database. */
async function rounds(t: TestTarget, round: (target: string) => Promise<string[]>): Promise<void> {
  for (let r = 0; r < ROUNDS; r++) {
    const db = await freshDatabase(t);
    try {
      const outcomes = await round(db.target);
      expect(outcomes).toEqual(Array.from({ length: CONTENDERS }, () => 'ok'));
      await expectCreatedOnce(db.target);
    } finally {
      await db.drop();
    }
  }
}

/** Starts CONTENDERS children, lets them all go at once once each has loaded, and collects what each says. */
async function childrenAtOnce(target: string): Promise<string[]> {
  const children = Array.from({ length: CONTENDERS }, (_, i) =>
    spawn(process.execPath, ['--import', 'tsx', CHILD, target, String(i)], { stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  const outputs = children.map((child) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    const ready = new Promise<void>((resolve) =>
      child.stdout.on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('ready\n')) resolve();
      }),
    );
    const exited = new Promise<string>((resolve) =>
      child.on('exit', (code) => resolve(code === 0 ? 'ok' : out.replace('ready\n', '').trim() || `exit ${code}`)),
    );
    return { ready, exited };
  });
  await Promise.all(outputs.map((o) => o.ready));
  for (const child of children) child.stdin.end('go\n');
  return Promise.all(outputs.map((o) => o.exited));
}

describe.each(fileAndPg)('several starting on a fresh database at once [$name]', (t) => {
  it(`${CONTENDERS} DataSources in one process creating the same tables, indexes and store all succeed`, () =>
    rounds(t, async (target) => {
      // Distinct options objects: distinct DataSources, each with its own connections.
      const results = await Promise.allSettled(
        Array.from({ length: CONTENDERS }, (_, i) =>
          startContender({ ...resolveTarget(target).options } as DataSourceOptions, i),
        ),
      );
      return results.map((r) => (r.status === 'fulfilled' ? 'ok' : String((r.reason as Error).message)));
    }));

  // Each round starts CONTENDERS processes that load tsx, TypeORM and sasync
  // before the race starts: 10-15 s a round on a loaded machine (the race
  // itself takes well under a second), so three rounds get three minutes.
  it(
    `${CONTENDERS} processes creating the same tables, indexes and store all succeed`,
    () => rounds(t, childrenAtOnce),
    180_000,
  );
});
