import { concatMap, defer, filter, from, map, toArray, type Observable } from 'rxjs';
import type { SharedDatabase } from '../broker/registry';
import { MigrationError, TransactionError } from '../errors';
import { Awaitable } from '../transaction/awaitable';
import { currentContext } from '../transaction/context';
import type { Submitter } from '../transaction/submit';
import { checkMigrationSources, listMigrations, type MigrationEntry } from './migration-list';
import { checkMigrationOptions } from './migration-options';
import { ensureMigrationsTable, executedNames, migrationsTableName, recordSql } from './migrations-table';

/** What migrate() needs of its broker: the start-up gate (`ready`) of its lifecycle. */
export interface MigrationGate {
  ready(what: string): Promise<void>;
}

/**
 * The DataSource's pending migrations, run in order, each in a transaction
 * of its own (DDL is transactional on postgres and sqlite: a migration that
 * fails midway leaves the schema as it was, and the ones before it stay
 * done). Each is queued ahead of other work (`doNext`, as table() is) and
 * runs under the database's DDL lock (postgres: an advisory transaction
 * lock; sqlite: BEGIN IMMEDIATE), checking the migrations table after taking
 * it, so two processes starting at once run each migration once: the second
 * waits for the first's transaction, then finds it recorded.
 *
 * Cold and awaitable: emits the names of the migrations it ran, once, as an
 * array (empty when none were pending). Bad input fails it with
 * MigrationError before anything runs: a `migrations` folder that does not
 * exist, two migrations of one name, a name without its timestamp, one
 * marked `transaction = false`, a `migrationsTransactionMode` other than
 * `'each'`, a `migrationsSchema` (see checkMigrationOptions; the broker
 * refuses `migrationsRun` when it is made: refuseMigrationsRun). A migration that throws fails it with a
 * TransactionError naming `migrate(<name>)`; the later ones are not run.
 */
export function migrate(db: SharedDatabase, submitter: Submitter, gate: MigrationGate): Awaitable<readonly string[]> {
  return new Awaitable<readonly string[]>((subscriber) => {
    if (currentContext(db)) {
      subscriber.error(
        new TransactionError(
          'migrate() cannot run inside a transaction: each migration needs one of its own; call it outside',
        ),
      );
      return undefined;
    }
    return defer(async () => {
      checkMigrationSources(db.dataSource.options);
      checkMigrationOptions(db.dataSource.options);
      await gate.ready('migrate()');
      return checked(listMigrations(db.dataSource));
    })
      .pipe(
        concatMap((list) => from(list)),
        concatMap((entry) =>
          runOne(db, submitter, entry).pipe(
            filter(Boolean),
            map(() => entry.name),
          ),
        ),
        toArray(),
      )
      .subscribe(subscriber);
  });
}

function checked(list: MigrationEntry[]): MigrationEntry[] {
  // Read through a wider type: `transaction` is not in the MigrationInterface of every TypeORM of the peer range.
  const outside = list.find((e) => (e.migration as { transaction?: boolean }).transaction === false);
  if (outside) {
    throw new MigrationError(
      `migration ${outside.name} sets transaction = false, but migrate() runs each migration in a transaction of ` +
        'its own (so that a failure leaves the schema as it was): run it with typeorm migration:run instead',
      { migration: outside.name },
    );
  }
  return list;
}

/** One migration in its own transaction, under the DDL lock: emits whether it ran (false: already recorded). */
function runOne(db: SharedDatabase, submitter: Submitter, entry: MigrationEntry): Observable<boolean> {
  const { dialect, dataSource } = db;
  const table = migrationsTableName(dataSource);
  return submitter.transaction(
    (tx) => {
      const runner = tx.queryRunner!;
      return dialect.ddlTransaction(runner, async () => {
        await ensureMigrationsTable(runner, table);
        if ((await executedNames(runner, table)).has(entry.name)) return false;
        await entry.migration.up(runner);
        await runner.query(recordSql(dataSource, table, entry));
        return true;
      });
    },
    { doNext: true },
    `migrate(${entry.name})`,
    { internal: true, autocommit: true },
  ) as Observable<boolean>;
}
