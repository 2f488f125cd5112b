import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import pg from 'pg';
import sqlite3 from 'sqlite3';
import { within } from '../support/streams';
import { PG_URL, type TestTarget } from '../support/targets';

const WRITER = path.join(__dirname, 'fixtures', 'table-writer.ts');

/** Something that inserts a row into a table and resolves once it committed. */
export interface Writer {
  insert(table: string, value: string): Promise<void>;
  close(): Promise<void>;
}

/** Another process (fixtures/table-writer.ts, through its own broker), ready once it printed "ready". */
export async function childWriter(target: string): Promise<Writer> {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, target]);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const waiting: ((line: string) => void)[] = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.(line));
  const line = (what: string) =>
    within(
      new Promise<string>((resolve, reject) => {
        waiting.push(resolve);
        void exited.then((code) => reject(new Error(`the writer exited (${code}) before ${what}: ${stderr}`)));
      }),
      `the writer: ${what}`,
      30_000,
    );
  const ready = line('ready');
  await ready;
  return {
    async insert(table, value) {
      const ok = line(`insert into ${table}`);
      child.stdin.write(`insert ${table} ${value}\n`);
      expect(await ok).toBe('ok');
    },
    async close() {
      if (child.exitCode === null) child.stdin.write('exit\n');
      expect(await within(exited, 'the writer exits', 30_000)).toBe(0);
    },
  };
}

/** A connection outside sasync: a plain pg.Client, or a node-sqlite3 connection of its own on the file. */
export async function outsideWriter(t: TestTarget, target: string): Promise<Writer> {
  if (t.dialect === 'postgres') {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    return {
      async insert(table, value) {
        await client.query(`INSERT INTO ${table} (v) VALUES ($1)`, [value]);
      },
      close: () => client.end(),
    };
  }
  const file = target.slice('sqlite:'.length);
  const db = await new Promise<sqlite3.Database>((resolve, reject) => {
    const opened: sqlite3.Database = new sqlite3.Database(file, (error) => (error ? reject(error) : resolve(opened)));
  });
  db.configure('busyTimeout', 10_000);
  return {
    insert: (table, value) =>
      new Promise<void>((resolve, reject) =>
        db.run(`INSERT INTO ${table} (v) VALUES (?)`, [value], (error) => (error ? reject(error) : resolve())),
      ),
    close: () => new Promise<void>((resolve, reject) => db.close((error) => (error ? reject(error) : resolve()))),
  };
}
