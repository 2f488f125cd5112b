import { lastValueFrom } from 'rxjs';
import { AccessBroker, type DatabaseTarget } from '../../lib';
import { ph, uniqueName } from '../support/targets';

/** A broker with three tables of its own (`a`, `b`, `c`: id and a text `v`), for the capture specs. */
export class TablesBroker extends AccessBroker {
  readonly a: string;
  readonly b: string;
  readonly c: string;

  constructor(target: DatabaseTarget, names?: { a: string; b: string; c: string }) {
    super(target, { name: 'TablesBroker' });
    this.a = names?.a ?? uniqueName('la');
    this.b = names?.b ?? uniqueName('lb');
    this.c = names?.c ?? uniqueName('lc');
  }

  protected override async startup(): Promise<void> {
    for (const name of [this.a, this.b, this.c]) {
      await this.table(name, [
        { name: 'id', type: 'integer', primary: true, generated: true },
        { name: 'v', type: 'string', length: 40 },
      ]);
    }
  }

  insertSql(table: string): string {
    return `INSERT INTO ${table} (v) VALUES (${ph(this.dialect, 1)})`;
  }

  async insert(table: string, v: string): Promise<void> {
    await lastValueFrom(this.query(this.insertSql(table), [v]));
  }

  async count(table: string): Promise<number> {
    const [row] = await lastValueFrom(this.query<{ n: number | string }>(`SELECT count(*) AS n FROM ${table}`));
    return Number(row!.n);
  }

  async drop(): Promise<void> {
    for (const name of [this.a, this.b, this.c]) await lastValueFrom(this.query(`DROP TABLE IF EXISTS ${name}`));
  }
}
