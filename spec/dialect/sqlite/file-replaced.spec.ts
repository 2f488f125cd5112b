import fs from 'node:fs';
import { lastValueFrom, toArray } from 'rxjs';
import sqlite3 from 'sqlite3';
import type { DataSource } from 'typeorm';
import { AccessBroker, DatabaseError, TransactionError } from '../../../lib';
import { CancelToken } from '../../../lib/cancel';
import { DIALECT_LIST } from '../../../lib/dialect';
import { ItemsBroker } from '../../support/brokers';
import { sqliteFile as brokerFile } from '../../support/streams';
import { allTargets, sqliteFile, type TestTarget } from '../../support/targets';

/** A started ItemsBroker on a new file, with rows n1 and n2; shut down (never dropping its table) after `fn`. */
async function withFileItems(fn: (b: ItemsBroker, file: string) => Promise<void>): Promise<void> {
  const b = new ItemsBroker(sqliteFile.target());
  await b.waitUntilRunning();
  try {
    await lastValueFrom(b.query(b.insertSql(), ['n1']));
    await lastValueFrom(b.query(b.insertSql(), ['n2']));
    await fn(b, brokerFile(b));
  } finally {
    await b.shutdown();
  }
}

/** Removes the file as `rm file*` would: the database and its WAL files. */
function removeDatabase(file: string): void {
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
}

/** Names in the items table of the file now at `file`, read by a connection of the test's own. */
async function namesInFile(file: string, table: string): Promise<string[]> {
  const db = await new Promise<sqlite3.Database>((resolve, reject) => {
    const opened: sqlite3.Database = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (err) =>
      err ? reject(err) : resolve(opened),
    );
  });
  try {
    const rows = await new Promise<{ name: string }[]>((resolve, reject) =>
      db.all(`SELECT name FROM ${table} ORDER BY id`, (err, r) =>
        err ? reject(err) : resolve(r as { name: string }[]),
      ),
    );
    return rows.map((r) => r.name);
  } finally {
    await new Promise<void>((resolve) => db.close(() => resolve()));
  }
}

/** A database file at `file` with the same items table holding `names`. */
async function makeDatabase(file: string, table: string, names: string[]): Promise<void> {
  const db = new sqlite3.Database(file);
  const exec = (sql: string) =>
    new Promise<void>((resolve, reject) => db.exec(sql, (e) => (e ? reject(e) : resolve())));
  await exec(`CREATE TABLE ${table} (id integer PRIMARY KEY AUTOINCREMENT, name varchar(40))`);
  for (const name of names) await exec(`INSERT INTO ${table} (name) VALUES ('${name}')`);
  await new Promise<void>((resolve) => db.close(() => resolve()));
}

/** The write failed, saying the file is gone and what to do, with nothing acknowledged. */
async function expectRefused(write: Promise<unknown>, file: string): Promise<void> {
  const error = await write.then(
    (value) => ({ acknowledged: value }),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TransactionError);
  const cause = (error as Error).cause;
  expect(cause).toBeInstanceOf(DatabaseError);
  expect((cause as Error).message).toContain(`the sqlite file at ${file} was deleted or replaced since it was opened`);
  expect((cause as Error).message).toMatch(/Restore the file, or shut the broker down and create a new one/);
}

describe('a sqlite file deleted or replaced while open [sqlite-file]', () => {
  it('is noticed before the next write: a transaction and a statement are refused, and the broker keeps answering', () =>
    withFileItems(async (b, file) => {
      removeDatabase(file);
      await expectRefused(
        lastValueFrom(b.transact(async (tx) => tx.query(b.insertSql(), ['lost in a transaction']))),
        file,
      );
      await expectRefused(lastValueFrom(b.query(b.insertSql(), ['lost in a statement'])), file);
      // The broker still answers, with the same clear error.
      await expectRefused(lastValueFrom(b.query(b.insertSql(), ['lost again'])), file);
      expect(fs.existsSync(file)).toBe(false);
    }));

  it('is noticed when another file is renamed over the path, and nothing goes into either file unseen', () =>
    withFileItems(async (b, file) => {
      // Quiescent first: rows still in the WAL would show through any file put at the path.
      await lastValueFrom(b.query('PRAGMA wal_checkpoint(TRUNCATE)'));
      const other = `${file}.other`;
      await makeDatabase(other, b.itemsTable, ['other 1']);
      fs.renameSync(other, file);
      await expectRefused(lastValueFrom(b.query(b.insertSql(), ['lost'])), file);
      await expectRefused(lastValueFrom(b.transact(async (tx) => tx.query(b.insertSql(), ['lost too']))), file);
      expect(await namesInFile(file, b.itemsTable)).toEqual(['other 1']);
      // What to do: a new broker opens the file now at the path.
      await b.shutdown();
      const reopened = new AccessBroker(`sqlite:${file}`);
      try {
        await lastValueFrom(reopened.query(`INSERT INTO ${b.itemsTable} (name) VALUES (?)`, ['other 2']));
        expect(await namesInFile(file, b.itemsTable)).toEqual(['other 1', 'other 2']);
      } finally {
        await reopened.shutdown();
      }
    }));

  it('works again once the file is restored at its path', () =>
    withFileItems(async (b, file) => {
      const backup = `${file}.link`;
      fs.linkSync(file, backup);
      fs.rmSync(file);
      await expectRefused(lastValueFrom(b.query(b.insertSql(), ['refused'])), file);
      fs.renameSync(backup, file);
      await lastValueFrom(b.query(b.insertSql(), ['n3']));
      expect(await b.names()).toEqual(['n1', 'n2', 'n3']);
    }));

  it('is noticed right before COMMIT when it happens during a transaction, which then rolls back', () =>
    withFileItems(async (b, file) => {
      const backup = `${file}.link`;
      fs.linkSync(file, backup);
      await expectRefused(
        lastValueFrom(
          b.transact(async (tx) => {
            await tx.query(b.insertSql(), ['written before']);
            fs.rmSync(file);
            await tx.query(b.insertSql(), ['written after']);
          }),
        ),
        file,
      );
      fs.renameSync(backup, file);
      expect(await b.names()).toEqual(['n1', 'n2']);
    }));

  it('makes a stream fail clearly, and the stream never creates an empty database at the path', () =>
    withFileItems(async (b, file) => {
      removeDatabase(file);
      for (const key of [undefined, 'id']) {
        const error = await lastValueFrom(
          b.stream(`SELECT id, name FROM ${b.itemsTable}`, [], { key }).pipe(toArray()),
        ).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TransactionError);
        expect(((error as Error).cause as Error).message).toContain(
          `the sqlite file at ${file} was deleted or replaced since it was opened`,
        );
        expect(fs.existsSync(file)).toBe(false);
      }
    }));

  it('a stream reader opened on a path with no file does not create one', () =>
    withFileItems(async (b, file) => {
      // Past the identity check (a DataSource that recorded none): the reader itself is read-only.
      const unrecorded = { options: b.dataSource.options } as DataSource;
      const dialect = DIALECT_LIST.find((d) => d.name === 'sqlite')!;
      removeDatabase(file);
      const error = await dialect
        .openCursor(unrecorded, { sql: 'SELECT 1 AS one', parameters: [] }, new CancelToken())
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DatabaseError);
      expect((error as Error).message).toContain(`the sqlite file at ${file} was deleted or replaced`);
      expect(fs.existsSync(file)).toBe(false);
    }));
});

// In memory there is no file to lose, and a postgres server owns its files:
// the check before COMMIT lets a healthy transaction through there, and
// writes go on as usual (postgres's refusal of an aborted transaction is in
// spec/transaction/caught-error.spec.ts).
describe.each(allTargets.filter((t) => t.name !== 'sqlite-file'))(
  'the check before a write is acknowledged does nothing [$name]',
  (t: TestTarget) => {
    it('lets every write through', async () => {
      const b = new ItemsBroker(t.target());
      try {
        await b.waitUntilRunning();
        const dialect = DIALECT_LIST.find((d) => d.name === t.dialect)!;
        await expect(
          Promise.resolve(dialect.verifyWritable(b.dataSource.createQueryRunner())),
        ).resolves.toBeUndefined();
        await lastValueFrom(b.query(b.insertSql(), ['kept']));
        await lastValueFrom(b.transact(async (tx) => tx.query(b.insertSql(), ['kept too'])));
        expect(await b.names()).toEqual(['kept', 'kept too']);
        await b.dropItems();
      } finally {
        await b.shutdown();
      }
    });
  },
);
