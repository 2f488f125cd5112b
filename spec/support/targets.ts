import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_PG_URL } from './global-setup';

/** A database every suite runs against; its name goes into each test title. */
export interface TestTarget {
  readonly name: 'sqlite-memory' | 'sqlite-file' | 'postgres';
  readonly dialect: 'sqlite' | 'postgres';
  /** A target string; for sqlite files, a new file per call. */
  target(): string;
}

export const PG_URL = process.env.SASYNC_PG_URL ?? DEFAULT_PG_URL;
export const pgAvailable = process.env.SASYNC_PG_AVAILABLE !== '0';

let tempDir: string | undefined;
let files = 0;

/** A temporary directory for this test file, removed when the process exits. */
export function scratchDir(): string {
  if (!tempDir) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sasync-spec-'));
    tempDir = dir;
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return tempDir;
}

export const sqliteMemory: TestTarget = { name: 'sqlite-memory', dialect: 'sqlite', target: () => 'sqlite::memory:' };
export const sqliteFile: TestTarget = {
  name: 'sqlite-file',
  dialect: 'sqlite',
  target: () => `sqlite:${path.join(scratchDir(), `db${++files}.sqlite`)}`,
};
export const postgres: TestTarget = { name: 'postgres', dialect: 'postgres', target: () => PG_URL };

/** Every dialect this run can reach: sqlite always, postgres unless skipped. */
export const allTargets: readonly TestTarget[] = pgAvailable
  ? [sqliteMemory, sqliteFile, postgres]
  : [sqliteMemory, sqliteFile];
/** sqlite file and postgres: the targets with real concurrency questions. */
export const fileAndPg: readonly TestTarget[] = pgAvailable ? [sqliteFile, postgres] : [sqliteFile];

/** A table name no other test (or earlier run) uses. */
export function uniqueName(prefix = 't'): string {
  return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

/** The placeholder for the n-th (1-based) parameter on a dialect. */
export function ph(dialect: 'sqlite' | 'postgres', n: number): string {
  return dialect === 'postgres' ? `$${n}` : '?';
}
