import { lastValueFrom } from 'rxjs';
import { AccessBroker } from '../../lib';
import { watchTables, watcherStats } from '../../lib/live/table-changes';
import { allTargets, ph, uniqueName } from '../support/targets';
import { Recorder } from './table-recorder';

/** A broker with two tables of its own (`a`, `b`), and one more not watched (`c`). */
class TablesBroker extends AccessBroker {
  readonly a = uniqueName('la');
  readonly b = uniqueName('lb');
  readonly c = uniqueName('lc');

  protected override async startup(): Promise<void> {
    for (const name of [this.a, this.b, this.c]) {
      await this.table(name, [
        { name: 'id', type: 'integer', primary: true, generated: true },
        { name: 'v', type: 'string', length: 40 },
      ]);
    }
  }

  insert(table: string, v: string): Promise<unknown> {
    return lastValueFrom(this.query(`INSERT INTO ${table} (v) VALUES (${ph(this.dialect, 1)})`, [v]));
  }

  async count(table: string): Promise<number> {
    const [row] = await lastValueFrom(this.query<{ n: number | string }>(`SELECT count(*) AS n FROM ${table}`));
    return Number(row!.n);
  }

  async drop(): Promise<void> {
    for (const name of [this.a, this.b, this.c]) await lastValueFrom(this.query(`DROP TABLE IF EXISTS ${name}`));
  }
}

describe.each(allTargets)('watchTables [$name]', (t) => {
  let broker: TablesBroker;

  beforeEach(async () => {
    broker = new TablesBroker(t.target());
    await broker.waitUntilRunning();
  });

  afterEach(async () => {
    await broker.drop();
    await broker.shutdown();
  });

  it(`reports a commit on a watched table after it committed [${t.name}]`, async () => {
    const counts: Promise<number>[] = [];
    const rec = new Recorder(() => counts.push(broker.count(broker.a)));
    const w = watchTables(broker, [{ name: broker.a }], rec.listener);
    try {
      await w.positioned;
      const heard = rec.next(broker.a);
      await broker.insert(broker.a, 'x');
      await heard;
      expect(await counts[0]).toBe(1);
    } finally {
      w.stop();
    }
    const stats = await watcherStats(broker);
    console.log(t.name, stats);
  });
});
