import { RawSql } from '../support/stores';
import { PG_URL, uniqueName, type TestTarget } from '../support/targets';

/**
 * A database of the test's own for specs that prune, drop or forge the
 * change log, which is shared by everything on a database: a new sqlite
 * file, or on postgres a new database (dropped by `drop()`), so that specs
 * running beside it keep their log. (Not a schema: with the schema's log
 * dropped, the search_path would find public's.)
 */
export async function ownLog(t: TestTarget): Promise<{ target: string; drop(): Promise<void> }> {
  if (t.dialect === 'sqlite') return { target: t.target(), drop: async () => undefined };
  const name = uniqueName('log').toLowerCase();
  const admin = new RawSql(PG_URL);
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.shutdown();
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    target: url.toString(),
    async drop() {
      const again = new RawSql(PG_URL);
      await again.query(`DROP DATABASE "${name}" WITH (FORCE)`);
      await again.shutdown();
    },
  };
}
