import type { DataSourceOptions } from 'typeorm';
import {
  Items,
  PersistentArray,
  PersistentDict,
  TransactionError,
  devalueSerializer,
  resolveTarget,
  type Change,
} from '../../lib';
import { remoteSettled } from '../../lib/stores/cached-store';
import { listening, noticesDelivered, RawSql } from '../support/stores';
import { allTargets, fileAndPg, uniqueName } from '../support/targets';

/** A DataSource of its own for `target`: two of these do not share one, as two processes would not. */
function ownDataSource(target: string): DataSourceOptions {
  return { ...resolveTarget(target).options };
}

/** Every row of a group, decoded. */
async function table(raw: RawSql, group: string): Promise<Map<string, unknown>> {
  const rows = await raw.items(group);
  return new Map([...rows].map(([name, text]) => [name, devalueSerializer.decode(text)]));
}

/** Makes writes of (`group`, `name`) in `tableName` fail, with a deadlock `transient` times, or always. */
async function poison(raw: RawSql, tableName: string, group: string, name: string, transient?: number) {
  const tag = uniqueName('poison');
  const where = tableName === 'sasync_items' ? `NEW.name = '${name}'` : `NEW.x = '${name}'`;
  if (raw.dialect === 'postgres') {
    await raw.query(`CREATE SEQUENCE ${tag}_n`);
    await raw.query(
      `CREATE FUNCTION ${tag}_f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ` +
        (transient === undefined
          ? `RAISE EXCEPTION 'refused by the spec''s trigger'; `
          : `IF nextval('${tag}_n') <= ${transient} THEN ` +
            `RAISE EXCEPTION 'deadlock made up by the spec' USING ERRCODE = 'deadlock_detected'; END IF; `) +
        'RETURN NEW; END $$',
    );
    await raw.query(
      `CREATE TRIGGER ${tag} BEFORE INSERT OR UPDATE ON ${tableName} FOR EACH ROW ` +
        `WHEN (NEW.group_id = '${group}' AND ${where}) EXECUTE FUNCTION ${tag}_f()`,
    );
    return async () => {
      await raw.query(`DROP TRIGGER ${tag} ON ${tableName}`);
      await raw.query(`DROP FUNCTION ${tag}_f()`);
      await raw.query(`DROP SEQUENCE ${tag}_n`);
    };
  }
  if (transient !== undefined) throw new Error('sqlite triggers cannot fail transiently');
  for (const op of ['INSERT', 'UPDATE']) {
    await raw.query(
      `CREATE TRIGGER ${tag}_${op} BEFORE ${op} ON ${tableName} FOR EACH ROW ` +
        `WHEN NEW.group_id = '${group}' AND ${where} BEGIN SELECT RAISE(ABORT, 'refused by the spec''s trigger'); END`,
    );
  }
  return async () => {
    for (const op of ['INSERT', 'UPDATE']) await raw.query(`DROP TRIGGER ${tag}_${op}`);
  };
}

const ROUNDS = 30;

describe.each(fileAndPg)('store writes that conflict [$name]', (t) => {
  it(`two dicts on two DataSources writing the same 400 keys in opposite orders all succeed and agree with the table [${t.name}]`, async () => {
    const target = t.target();
    const group = uniqueName('g');
    const keys = Array.from({ length: 400 }, (_, i) => `k${String(i).padStart(3, '0')}`);
    const raw = new RawSql(target);
    // The table first: two DataSources creating it at once is another matter (issue 9, hole 13).
    await raw.broker.waitUntilRunning();
    const [aSource, bSource] = [ownDataSource(target), ownDataSource(target)];
    const a = new PersistentDict<string, unknown>(group, aSource);
    const b = new PersistentDict<string, unknown>(group, bSource);
    // Each on its dict's DataSource: their buses are the dicts'.
    const [aRaw, bRaw] = [new RawSql(aSource), new RawSql(bSource)];
    try {
      await Promise.all([a.loadAll(), b.loadAll()]);
      const hammer = async (d: PersistentDict<string, unknown>, who: string, order: string[]) => {
        for (let round = 0; round < ROUNDS; round++) {
          // The last round writes the same values from both: whoever commits last, all agree.
          for (const key of order) void d.set(key, round === ROUNDS - 1 ? `final ${key}` : `${who} ${round}`);
          await d.flush();
        }
      };
      const done = await Promise.allSettled([hammer(a, 'a', keys), hammer(b, 'b', [...keys].reverse())]);
      expect(done.filter((r) => r.status === 'rejected')).toEqual([]);
      const stored = await table(raw, group);
      expect(stored).toEqual(new Map(keys.map((k) => [k, `final ${k}`])));
      // On postgres each hears the other's notices: once they are read, memory agrees too.
      await noticesDelivered(raw, [await aRaw.bus(), await bRaw.bus()]);
      for (const d of [a, b]) {
        await d[remoteSettled]();
        expect(await d.loadAll()).toEqual(stored);
      }
    } finally {
      await a.shutdown();
      await b.shutdown();
      await aRaw.shutdown();
      await bRaw.shutdown();
      await raw.shutdown();
    }
  });

  if (t.dialect !== 'postgres') return;

  it(`a write that deadlocks twice is retried and succeeds: dict, array and items [${t.name}]`, async () => {
    const target = t.target();
    const group = uniqueName('g');
    const raw = new RawSql(target);
    await raw.broker.waitUntilRunning();
    const undo = [
      await poison(raw, 'sasync_items', group, 'd', 2),
      await poison(raw, 'sasync_items', group, 'i', 2),
      await poison(raw, 'sasync_array', group, 'sx', 2),
    ];
    const dict = new PersistentDict<string, number>(group, target);
    const items = new Items<string, number>(group, target);
    const grid = new PersistentArray<number>(group, target);
    try {
      await dict.set('d', 1);
      await items.insert('i', 2);
      await grid.set('x', 0, 0, 3);
      expect(await table(raw, group)).toEqual(
        new Map([
          ['d', 1],
          ['i', 2],
        ]),
      );
      const cells = await raw.query<{ value: string }>('SELECT value FROM sasync_array WHERE group_id = ?', [group]);
      expect(cells.map((c) => devalueSerializer.decode(c.value))).toEqual([3]);
    } finally {
      await dict.shutdown();
      await items.shutdown();
      await grid.shutdown();
      for (const u of undo) await u();
      await raw.shutdown();
    }
  });
});

describe.each(allTargets)('a store write that finally fails [$name]', (t) => {
  it(`rejects, and the dict reads the table again: memory and table agree, changes say so [${t.name}]`, async () => {
    const target = t.target();
    const group = uniqueName('g');
    const raw = new RawSql(target);
    await raw.broker.waitUntilRunning();
    const d = new PersistentDict<string, unknown>(group, target);
    const undo = await poison(raw, 'sasync_items', group, 'poison');
    try {
      await d.update({ kept: 'old', gone: 'old', other: 1 });
      await d.loadAll();
      // Listening, and done with the reread that follows: nothing but the failure makes it read again.
      const bus = await raw.bus();
      await listening(bus);
      await d[remoteSettled]();
      const seen: Change<string, unknown>[] = [];
      const sub = d.changes$.subscribe((c) => seen.push(c));
      const writes = [d.set('kept', 'new'), d.delete('gone'), d.set('fresh', 1), d.set('poison', 'x')];
      for (const w of writes) await expect(w).rejects.toThrow(TransactionError);
      await expect(d.flush()).resolves.toBeUndefined();
      const stored = await table(raw, group);
      expect(stored).toEqual(
        new Map<string, unknown>([
          ['kept', 'old'],
          ['gone', 'old'],
          ['other', 1],
        ]),
      );
      expect(await d.loadAll()).toEqual(stored);
      expect(await d.get('fresh', 'none')).toBe('none');
      expect(await d.get('poison', 'none')).toBe('none');
      sub.unsubscribe();
      // The four local changes, then the table's values back.
      const back = seen.slice(4).map((c) => [c.type, c.key, c.value, c.previous]);
      expect(back).toEqual(
        expect.arrayContaining([
          ['set', 'kept', 'old', 'new'],
          ['set', 'gone', 'old', undefined],
          ['delete', 'fresh', undefined, 1],
          ['delete', 'poison', undefined, 'x'],
        ]),
      );
      expect(back).toHaveLength(4);
      // A later write of the same keys still works.
      await d.set('kept', 'newer');
      expect((await table(raw, group)).get('kept')).toBe('newer');
    } finally {
      await d.shutdown();
      await undo();
      await raw.shutdown();
    }
  });

  it(`a failed clear reads the whole group again [${t.name}]`, async () => {
    const target = t.target();
    const group = uniqueName('g');
    const raw = new RawSql(target);
    await raw.broker.waitUntilRunning();
    const d = new PersistentDict<string, unknown>(group, target);
    const undo = await poison(raw, 'sasync_items', group, 'poison');
    try {
      await d.update({ a: 1, b: 2 });
      void d.clear();
      await expect(d.set('poison', 0)).rejects.toThrow(TransactionError);
      expect(await d.loadAll()).toEqual(
        new Map([
          ['a', 1],
          ['b', 2],
        ]),
      );
    } finally {
      await d.shutdown();
      await undo();
      await raw.shutdown();
    }
  });

  it(`a failed array write reads its places again [${t.name}]`, async () => {
    const target = t.target();
    const group = uniqueName('g');
    const raw = new RawSql(target);
    await raw.broker.waitUntilRunning();
    const grid = new PersistentArray<unknown>(group, target);
    const undo = await poison(raw, 'sasync_array', group, 'spoison');
    try {
      await grid.set(1, 2, null, 'old');
      const seen: Change<unknown, unknown>[] = [];
      const sub = grid.changes$.subscribe((c) => seen.push(c));
      const writes = [grid.set(1, 2, null, 'new'), grid.set('poison', 0, 0, 'x')];
      for (const w of writes) await expect(w).rejects.toThrow(TransactionError);
      expect(await grid.get(1, 2, null)).toBe('old');
      expect(await grid.get('poison', 0, 0)).toBeUndefined();
      sub.unsubscribe();
      expect(seen.slice(2).map((c) => [c.type, c.key, c.value])).toEqual(
        expect.arrayContaining([
          ['set', [1, 2, null], 'old'],
          ['delete', ['poison', 0, 0], undefined],
        ]),
      );
    } finally {
      await grid.shutdown();
      await undo();
      await raw.shutdown();
    }
  });
});
