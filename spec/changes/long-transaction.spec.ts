import { Client } from 'pg';
import { devalueSerializer, PersistentDict, type Change } from '../../lib';
import { CHANGES_TABLE } from '../../lib/changes/log-table';
import { READ_LIMIT } from '../../lib/changes/reader';
import { remoteSettled } from '../../lib/stores/cached-store';
import { ITEMS_TABLE } from '../../lib/stores/tables';
import { nextChange } from '../support/stores';
import { within } from '../support/streams';
import { PG_URL, pgAvailable, uniqueName } from '../support/targets';

/**
 * A transaction that stays open anywhere on the server (another app's, here
 * the test's own connection) holds the snapshots' xmin. The reader stands
 * at its last read's snapshot, not at xmin, so what commits meanwhile is
 * delivered at once: the long transaction delays nothing.
 */
(pgAvailable ? describe : describe.skip)('the change log on postgres: a long unrelated transaction [postgres]', () => {
  it('a remote change is delivered while another transaction holding an xid stays open [postgres]', async () => {
    const group = uniqueName('g');
    const reader = new PersistentDict<string, string>(group, PG_URL);
    const long = new Client({ connectionString: PG_URL });
    const remote = new Client({ connectionString: PG_URL });
    await Promise.all([long.connect(), remote.connect()]);
    try {
      await reader.loadAll();
      await within(reader[remoteSettled](), 'the reader catches up');
      // Opened after the reader's position: an xid it has never seen finish.
      await long.query('BEGIN');
      const [held] = (await long.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid')).rows;
      const seen: Change<string, string>[] = [];
      const sub = reader.changes$.subscribe((c) => seen.push(c));
      for (const key of ['one', 'two']) {
        const change = nextChange(reader.changes$, (c) => c.key === key);
        // A write from another process, as a store makes it: value, entry and wake-up in one transaction.
        await remote.query('BEGIN');
        await remote.query(`INSERT INTO ${ITEMS_TABLE.name} (group_id, name, value) VALUES ($1, $2, $3)`, [
          group,
          key,
          devalueSerializer.encode(`${key} value`),
        ]);
        const [entry] = (
          await remote.query<{ xid: string }>(
            `INSERT INTO ${CHANGES_TABLE.name} (xid, kind, grp, name, op, origin, at) ` +
              `VALUES (pg_current_xact_id()::text::bigint, $1, $2, $3, 'set', NULL, 0) RETURNING xid::text AS xid`,
            [ITEMS_TABLE.name, group, key],
          )
        ).rows;
        // Written after the long transaction began: below it, the old reader would have waited for it.
        expect(BigInt(entry!.xid)).toBeGreaterThan(BigInt(held!.xid));
        await remote.query(`SELECT pg_notify($1, '')`, [CHANGES_TABLE.name]);
        await remote.query('COMMIT');
        expect(await within(change, `the ${key} change`, 5000)).toMatchObject({
          type: 'set',
          value: `${key} value`,
          origin: 'remote',
        });
      }
      // Still open: it was not its end that let the changes through.
      const [still] = (await long.query<{ xid: string }>(`SELECT pg_current_xact_id_if_assigned()::text AS xid`)).rows;
      expect(still!.xid).toBe(held!.xid);
      await long.query('COMMIT');
      sub.unsubscribe();
      expect(seen.map((c) => c.key)).toEqual(['one', 'two']);
    } finally {
      await Promise.all([long.end(), remote.end()]);
      await reader.shutdown();
    }
  });

  it('a backlog longer than one read is read in pages up to one snapshot, none lost or doubled [postgres]', async () => {
    const group = uniqueName('g');
    const reader = new PersistentDict<string, string>(group, PG_URL);
    const long = new Client({ connectionString: PG_URL });
    const remote = new Client({ connectionString: PG_URL });
    await Promise.all([long.connect(), remote.connect()]);
    const n = Math.floor(READ_LIMIT * 2.5);
    try {
      await reader.loadAll();
      await within(reader[remoteSettled](), 'the reader catches up');
      await long.query('BEGIN');
      await long.query('SELECT pg_current_xact_id()');
      const seen = new Map<string, number>();
      const sub = reader.changes$.subscribe((c) => seen.set(String(c.key), (seen.get(String(c.key)) ?? 0) + 1));
      const last = nextChange(reader.changes$, (c) => c.key === 'after');
      // One transaction of n entries (three pages), then one more transaction.
      for (const keys of [Array.from({ length: n }, (_, i) => `k${i}`), ['after']]) {
        await remote.query('BEGIN');
        await remote.query(
          `INSERT INTO ${ITEMS_TABLE.name} (group_id, name, value) SELECT $1, k, $3 FROM unnest($2::text[]) AS k`,
          [group, keys, devalueSerializer.encode('v')],
        );
        await remote.query(
          `INSERT INTO ${CHANGES_TABLE.name} (xid, kind, grp, name, op, origin, at) ` +
            `SELECT pg_current_xact_id()::text::bigint, $1, $2, k, 'set', NULL, 0 FROM unnest($3::text[]) AS k`,
          [ITEMS_TABLE.name, group, keys],
        );
        await remote.query(`SELECT pg_notify($1, '')`, [CHANGES_TABLE.name]);
        await remote.query('COMMIT');
      }
      await within(last, 'the change after the backlog', 10_000);
      await within(reader[remoteSettled](), 'the reader settles');
      sub.unsubscribe();
      expect(seen.size).toBe(n + 1);
      expect([...seen.values()].every((count) => count === 1)).toBe(true);
      await long.query('COMMIT');
    } finally {
      await Promise.all([long.end(), remote.end()]);
      await reader.shutdown();
    }
  });
});
