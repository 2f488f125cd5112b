import { AccessBroker, SchemaDriftError } from '../../lib';
import { migratingTarget } from '../../demo/statalysis/migrations';
import { TABLES } from '../../demo/statalysis/schema';
import { StatBroker } from '../../demo/statalysis/stat-broker';
import { places } from '../demo/statalysis-helpers';
import { schemaOf } from './fixtures';

/** Makes `files` as statalysis 1 did: its spec without the `started` column. */
async function statalysisOne(target: string): Promise<void> {
  const b = new AccessBroker(target);
  const files = TABLES.find((t) => t.name === 'files')!;
  await b.table(
    'files',
    files.columns.filter((c) => c.name !== 'started'),
    files.options,
  );
  await b.query(`INSERT INTO files (name, hash, lines, records, bad, done) VALUES ('old.log', 'h1', 3, 3, 0, true)`);
  await b.shutdown();
}

describe.each(places)('statalysis 2 on a statalysis 1 database [$name]', (kind) => {
  it('fails its start-up with SchemaDriftError without its migration, and starts with it', async () => {
    const place = await kind.make();
    try {
      await statalysisOne(place.target);
      const unmigrated = new StatBroker(place.target);
      await expect(unmigrated.waitUntilRunning()).rejects.toThrow(SchemaDriftError);
      await expect(unmigrated.waitUntilRunning()).rejects.toThrow(/missingColumn started/);
      await unmigrated.shutdown();

      const broker = new StatBroker(migratingTarget(place.target), { migrate: true });
      await broker.waitUntilRunning();
      const files = (await schemaOf(broker, ['files'])).files as { columns: string[] };
      expect(files.columns.map((c) => c.split(':')[0])).toContain('started');
      // The old row is kept; a new file records when its import started.
      const added = await broker.openFile('new.log', 'h2');
      const rows = await broker.query<{ name: string; started: unknown }>(
        'SELECT name, started FROM files ORDER BY id',
      );
      expect(rows.map((r) => [r.name, r.started === null])).toEqual([
        ['old.log', true],
        ['new.log', false],
      ]);
      expect(added.name).toBe('new.log');
      expect(await broker.migrate()).toEqual([]);
      await broker.shutdown();
    } finally {
      await place.drop();
    }
  });
});
