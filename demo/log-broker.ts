import { defer, lastValueFrom, map, type Observable } from 'rxjs';
import type { EntityManager } from 'typeorm';
import { AccessBroker, transact } from '../lib';

/** One line of a web server's log, as statalysis parsed it. */
export interface LogRecord {
  readonly dt: Date | null;
  readonly ip: string;
  readonly http: number;
  readonly url: string;
}

/** The value tables: each keeps every distinct value once, under an id. */
export type ValueTable = 'url';

/**
 * A small cousin of the broker in sAsync's statalysis example: log entries,
 * with their URLs kept once each in a value table and referred to by id.
 */
export class LogBroker extends AccessBroker {
  /** Runs before any transaction: the tables and their indexes, made if missing. */
  protected override async startup(): Promise<void> {
    await Promise.all([
      this.table(
        'entries',
        [
          // The generated id also orders requests made within one second.
          { name: 'id', type: 'integer', primary: true, generated: true },
          { name: 'dt', type: 'datetime', nullable: false },
          { name: 'ip', type: 'string', length: 15 },
          { name: 'http', type: 'smallint' },
          { name: 'id_url', type: 'integer' },
        ],
        { index: { dt: ['dt'], ip: ['ip'] } },
      ),
      this.table(
        'url',
        [
          { name: 'id', type: 'integer', primary: true, generated: true },
          { name: 'value', type: 'string', length: 200 },
        ],
        { unique: { value: ['value'] } },
      ),
    ]);
  }

  /** The first transaction: the home page gets the first URL id. */
  protected override async first(_tx: EntityManager): Promise<void> {
    // A transaction method called in here joins this transaction.
    await lastValueFrom(this.setNameValue('url', '/'));
  }

  /** The id of `value` in a value table, inserted if missing (sAsync's setNameValue). */
  readonly setNameValue = this.transaction(
    async (tx, name: ValueTable, value: string): Promise<number> => {
      const find = () =>
        tx
          .createQueryBuilder()
          .select('t.id', 'id')
          .from(name, 't')
          .where('t.value = :value', { value })
          .getRawOne<{ id: number }>();
      let row = await find();
      if (!row) {
        // Portable: sqlite's TypeORM driver has no RETURNING, so look it up again.
        await tx.createQueryBuilder().insert().into(name).values({ value }).execute();
        row = await find();
      }
      return Number(row!.id);
    },
    // Urgent: other work waits on these ids.
    { niceness: -15, name: 'setNameValue' },
  );

  /** Stores one log record (statalysis's setRecord); returns the URL's id. */
  readonly setRecord = this.transaction(
    async (tx, record: LogRecord): Promise<number> => {
      // Called inside this transaction, setNameValue joins it instead of
      // queueing: if the entry cannot be written, the new URL goes too.
      const idUrl = await lastValueFrom(this.setNameValue('url', record.url));
      await tx
        .createQueryBuilder()
        .insert()
        .into('entries')
        .values({ dt: record.dt, ip: record.ip, http: record.http, id_url: idUrl })
        .execute();
      return idUrl;
    },
    { name: 'setRecord' },
  );

  /** How many entries there are: a decorated method whose body returns an Observable. */
  @transact({ niceness: 5 })
  entryCount(): Observable<number> {
    // defer: the query starts when the transaction runs the body, not before.
    return defer(() => this.tx.query('SELECT count(*) AS n FROM entries')).pipe(
      map((rows: { n: number | string }[]) => Number(rows[0]!.n)), // postgres count(*) is a bigint string
    );
  }

  /** The id of a URL, or null: a plain read through transact() and the QueryBuilder. */
  urlId(value: string): Observable<number | null> {
    return this.transact(async (tx) => {
      const row = await tx
        .createQueryBuilder()
        .select('u.id', 'id')
        .from('url', 'u')
        .where('u.value = :value', { value })
        .getRawOne<{ id: number }>();
      return row ? Number(row.id) : null;
    });
  }
}
