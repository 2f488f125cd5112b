import { DataSource } from 'typeorm';
import { resolveTarget } from '../../lib';
import { sampleRss } from './rss';
import type { Place, StreamSubject } from './types';

/** `dataSource.query('SELECT * FROM t')`: every row in one array. */
export async function openTypeormQuery(place: Place): Promise<StreamSubject> {
  const dataSource = new DataSource({ ...resolveTarget(place.target).options, logging: false });
  await dataSource.initialize();
  return {
    async read(table) {
      const rows: { id: number }[] = await dataSource.query(`SELECT * FROM "${table}"`);
      sampleRss(); // all of them are held right now
      const firstRowAt = performance.now();
      let sum = 0;
      for (const row of rows) sum += row.id;
      return { count: rows.length, sum, firstRowAt };
    },
    close: () => dataSource.destroy(),
  };
}
