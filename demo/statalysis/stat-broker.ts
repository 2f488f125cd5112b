import { lastValueFrom } from 'rxjs';
import type { EntityManager } from 'typeorm';
import { AccessBroker, type BrokerOptions, type DatabaseTarget, type Prepared } from '../../lib';
import type { LogRecord } from './parse';
import { ReportCache, type ReportCacheKind } from './report-cache';
import { BAD_LINE_COLUMNS, ENTRY_COLUMNS, TABLES, VALUE_TABLES, type ValueTable } from './schema';
import { fileRow, StatSql, type FileRow } from './sql';
import { BAD_IP_4XX, IdCache, insertInChunks, type Batch, type EntryStore } from './store';

type IdRow = { id: number | string };
type Lookups = Record<ValueTable, { readonly select: Prepared<IdRow>; readonly insert: Prepared<IdRow> }>;

/** A StatBroker's options: a broker's, and where the report's top lists are cached. */
export interface StatBrokerOptions extends BrokerOptions {
  /** `memory` (default: this process) or `shared` (in the database, for every process). */
  readonly reportCache?: ReportCacheKind;
}

/**
 * statalysis's broker (after the seed's): the tables in startup(), value ids
 * through prepared lookups and an in-memory cache, entries in batch
 * transactions that also move their file's resume point. The report's top
 * lists are cached in {@link reports}, invalidated when an import ends
 * ({@link finishFile}); shutdown() releases it.
 */
export class StatBroker extends AccessBroker implements EntryStore {
  readonly ids = new IdCache();
  /** The report's top-N lists, kept between reads until an import ends. */
  readonly reports: ReportCache;
  #sql!: StatSql;
  #lookups!: Lookups;

  constructor(target?: DatabaseTarget, options: StatBrokerOptions = {}) {
    const { reportCache, ...brokerOptions } = options;
    super(target, brokerOptions);
    this.reports = new ReportCache(target, reportCache);
  }

  /** The tables and indexes, made if missing; then the statements, in the driver's placeholders. */
  protected override async startup(): Promise<void> {
    await Promise.all(TABLES.map((t) => this.table(t.name, t.columns, t.options)));
    const driver = this.dataSource.driver;
    const sql = (this.#sql = new StatSql((i) => driver.createParameter('p', i)));
    const lookup = (t: ValueTable) => ({
      select: this.prepare<IdRow>(`select_${t}`, sql.selectValue(t)),
      insert: this.prepare<IdRow>(`insert_${t}`, sql.insertValue(t)),
    });
    this.#lookups = Object.fromEntries(VALUE_TABLES.map((t) => [t, lookup(t)])) as Lookups;
  }

  /**
   * table() only checks that a table exists: one of the same name made by
   * something else (the tour demo's `entries`) would fail every batch later,
   * so say so now.
   */
  protected override async first(tx: EntityManager): Promise<void> {
    for (const t of TABLES) {
      const columns = t.columns.map((c) => c.name).join(', ');
      await tx.query(`select ${columns} from ${t.name} where 1 = 0`).catch((cause: Error) => {
        throw new Error(
          `table ${t.name} exists with other columns (${cause.message}): drop it, or use another database`,
        );
      });
    }
  }

  /** The id of `value` in a value table, added if missing: the seed's setNameValue. */
  readonly setNameValue = this.transaction(
    async (_tx, name: ValueTable, value: string): Promise<number> => {
      const { select, insert } = this.#lookups[name];
      const found = await lastValueFrom(select.query([value]));
      if (found[0]) return Number(found[0].id);
      const added = await lastValueFrom(insert.query([value]));
      // Nothing added: another process added it since the select.
      const row = added[0] ?? (await lastValueFrom(select.query([value])))[0];
      return Number(row!.id);
    },
    // Urgent, as in the seed: entries wait on these ids.
    { niceness: -15, name: 'setNameValue' },
  );

  /** Several values in one transaction: each setNameValue called in here joins it. */
  readonly setNameValues = this.transaction(
    async (_tx, wanted: readonly (readonly [ValueTable, string])[]): Promise<number[]> => {
      const ids: number[] = [];
      for (const [name, value] of wanted) ids.push(await lastValueFrom(this.setNameValue(name, value)));
      return ids;
    },
    { niceness: -15, name: 'setNameValues' },
  );

  async resolve(records: readonly LogRecord[]): Promise<void> {
    const wanted = this.ids.missing(records);
    if (wanted.length === 0) return;
    const ids = await lastValueFrom(this.setNameValues(wanted));
    wanted.forEach(([table, value], i) => this.ids.add(table, value, ids[i]!));
  }

  readonly #openFile = this.transaction(
    async (tx, name: string, hash: string): Promise<FileRow> => {
      const found: Record<string, unknown>[] = await tx.query(this.#sql.findFile(), [hash]);
      if (found[0]) return fileRow(found[0]);
      const added: IdRow[] = await tx.query(this.#sql.addFile(), [name, hash, 0, 0, 0, false, new Date()]);
      return { id: Number(added[0]!.id), name, lines: 0, records: 0, bad: 0, done: false };
    },
    { name: 'openFile' },
  );

  openFile(name: string, hash: string): Promise<FileRow> {
    return lastValueFrom(this.#openFile(name, hash));
  }

  readonly #writeBatch = this.transaction(
    async (tx, batch: Batch): Promise<void> => {
      const query = (sql: string, values: unknown[]) => tx.query(sql, values);
      await insertInChunks(query, (n) => this.#sql.insertEntries(n), ENTRY_COLUMNS.length, batch.entries);
      await insertInChunks(query, (n) => this.#sql.insertBadLines(n), BAD_LINE_COLUMNS.length, batch.badLines);
      await tx.query(this.#sql.progress(), [batch.lines, batch.records, batch.bad, batch.fileId]);
    },
    { name: 'writeBatch' },
  );

  writeBatch(batch: Batch): Promise<void> {
    return lastValueFrom(this.#writeBatch(batch), { defaultValue: undefined });
  }

  readonly #finishFile = this.transaction(
    async (tx, fileId: number): Promise<void> => {
      await tx.query(this.#sql.markBadIps(), [BAD_IP_4XX]);
      await tx.query(this.#sql.finishFile(), [true, new Date(), fileId]);
    },
    { name: 'finishFile' },
  );

  /** Marks the file done; once that has committed, the report's cached top lists are dropped. */
  async finishFile(fileId: number): Promise<void> {
    await lastValueFrom(this.#finishFile(fileId), { defaultValue: undefined });
    await this.reports.invalidate();
  }

  /** Releases the report cache, then shuts the broker down. */
  override async shutdown(): Promise<void> {
    try {
      await this.reports.close();
    } finally {
      await super.shutdown();
    }
  }
}
