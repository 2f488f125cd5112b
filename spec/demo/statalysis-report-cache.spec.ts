import path from 'node:path';
import { AccessBroker } from '../../lib';
import { writeSampleLog } from '../../demo/statalysis/generate';
import { importFile } from '../../demo/statalysis/import';
import { readReport } from '../../demo/statalysis/report';
import { StatBroker } from '../../demo/statalysis/stat-broker';
import { until } from '../support/streams';
import { scratchDir } from '../support/targets';
import { places, runMain } from './statalysis-helpers';

const dir = scratchDir();
const first = path.join(dir, 'first.log');
const second = path.join(dir, 'second.log');

beforeAll(async () => {
  await writeSampleLog(first, { lines: 2000, seed: 3 });
  await writeSampleLog(second, { lines: 2000, seed: 4 });
});

const importOnce = (broker: StatBroker, file: string) => importFile(broker, file, { batchSize: 500 });

describe.each(places)('statalysis report cache [$name]', (kind) => {
  it.each(['memory', 'shared'] as const)(
    `serves the top lists from the region on a second read, and computes them again after an import (%s) [${kind.name}]`,
    async (reportCache) => {
      const place = await kind.make();
      const broker = new StatBroker(place.target, { reportCache });
      // A plain broker has no report cache: what the report says when read afresh.
      const plain = new AccessBroker(place.target);
      try {
        await importOnce(broker, first);
        const once = await readReport(broker, 5);
        const twice = await readReport(broker, 5);
        expect(broker.reports.computed).toBe(1);
        expect(twice).toEqual(once);
        // The same report as one read without a cache.
        expect(once).toEqual(await readReport(plain, 5));

        await importOnce(broker, second);
        const after = await readReport(broker, 5);
        expect(broker.reports.computed).toBe(2);
        expect(after.entries).toBeGreaterThan(once.entries);
        expect(after.topUrls).toEqual((await readReport(plain, 5)).topUrls);
        expect(after.topUrls).not.toEqual(once.topUrls);
      } finally {
        await broker.shutdown();
        await plain.shutdown();
        await place.drop();
      }
    },
  );

  it(`drops the shared top lists when another process's import ends [${kind.name}]`, async () => {
    const place = await kind.make();
    const broker = new StatBroker(place.target, { reportCache: 'shared' });
    try {
      await importOnce(broker, first);
      const before = await readReport(broker, 10);
      expect(await broker.reports.cached(10)).toEqual({ topUrls: before.topUrls, topIps: before.topIps });

      const child = await runMain([second, '--db', place.target, '--no-report', '--quiet'], dir);
      expect(child.stderr).toBe('');
      expect(child.status).toBe(0);
      // The child's invalidation arrives through the change log, on its own time: looked for, bounded.
      await until(async () => (await broker.reports.cached(10)) === undefined, "the other process's import is heard");
      const after = await readReport(broker, 10);
      expect(broker.reports.computed).toBe(2);
      expect(after.entries).toBeGreaterThan(before.entries);
    } finally {
      await broker.shutdown();
      await place.drop();
    }
  });
});
