import { Client } from 'pg';
import { devalueSerializer, PersistentDict, type Change } from '../../lib';
import { CHANGES_TABLE } from '../../lib/changes/log-table';
import { remoteSettled } from '../../lib/stores/cached-store';
import { ITEMS_TABLE } from '../../lib/stores/tables';
import { nextChange } from '../support/stores';
import { within } from '../support/streams';
import { PG_URL, pgAvailable, uniqueName } from '../support/targets';

/**
 * On postgres a log entry's id is taken when its row is inserted, not when
 * its transaction commits: a reader that stood at the highest id it had
 * seen would skip a transaction that took a lower id and committed later.
 * The reader stands at the snapshot of its last read and reads what had not
 * finished in it, whatever its id, so it does not (and it does not wait for
 * the slow transaction to deliver the later one).
 */
(pgAvailable ? describe : describe.skip)('the change log on postgres: a low id that commits late [postgres]', () => {
  it('a transaction holding a lower id that commits after a later one is still delivered [postgres]', async () => {
    const group = uniqueName('g');
    const reader = new PersistentDict<string, string>(group, PG_URL);
    const writer = new PersistentDict<string, string>(group, PG_URL);
    const slow = new Client({ connectionString: PG_URL });
    await slow.connect();
    try {
      await reader.loadAll();
      await writer.waitUntilRunning();
      await within(reader[remoteSettled](), 'the reader catches up');
      const seen: Change<string, string>[] = [];
      const sub = reader.changes$.subscribe((c) => seen.push(c));
      // The slow transaction takes its log id first, and holds it.
      await slow.query('BEGIN');
      await slow.query(`INSERT INTO ${ITEMS_TABLE.name} (group_id, name, value) VALUES ($1, 'late', $2)`, [
        group,
        devalueSerializer.encode('late value'),
      ]);
      const low = await slow.query<{ id: string }>(
        `INSERT INTO ${CHANGES_TABLE.name} (xid, kind, grp, name, op, origin, at) ` +
          `VALUES (pg_current_xact_id()::text::bigint, $1, $2, 'late', 'set', NULL, 0) RETURNING id::text AS id`,
        [ITEMS_TABLE.name, group],
      );
      // A later transaction takes a higher id and commits first.
      const early = nextChange(reader.changes$, (c) => c.key === 'early');
      await writer.set('early', 'early value');
      const [high] = (
        await slow.query<{ id: string }>(
          `SELECT max(id)::text AS id FROM ${CHANGES_TABLE.name} WHERE grp = $1 AND name = 'early'`,
          [group],
        )
      ).rows;
      expect(BigInt(high!.id)).toBeGreaterThan(BigInt(low.rows[0]!.id));
      // The later one is delivered while the slow transaction still runs.
      expect(await within(early, 'the early change')).toMatchObject({ type: 'set', value: 'early value' });
      expect(seen.filter((c) => c.key === 'late')).toEqual([]);
      const late = nextChange(reader.changes$, (c) => c.key === 'late');
      await slow.query(`SELECT pg_notify($1, '')`, [CHANGES_TABLE.name]);
      await slow.query('COMMIT');
      expect(await within(late, 'the late change')).toMatchObject({
        type: 'set',
        value: 'late value',
        origin: 'remote',
      });
      await within(reader[remoteSettled](), 'the reader settles');
      sub.unsubscribe();
      // Each committed change once, no duplicate.
      expect(seen.filter((c) => c.key === 'late').length).toBe(1);
      expect(seen.filter((c) => c.key === 'early').length).toBe(1);
      expect(await reader.loadAll()).toEqual(
        new Map([
          ['late', 'late value'],
          ['early', 'early value'],
        ]),
      );
    } finally {
      await slow.end();
      await reader.shutdown();
      await writer.shutdown();
    }
  });
});
