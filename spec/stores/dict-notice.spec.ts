import fc from 'fast-check';
import { PersistentDict, PersistentArray, devalueSerializer } from '../../lib';
import type { ChangeBus } from '../../lib/dialect/dialect';
import { remoteSettled } from '../../lib/stores/cached-store';
import { CHANGES_TABLE } from '../../lib/changes/log-table';
import { ITEMS_TABLE } from '../../lib/stores/tables';
import { RawSql } from '../support/stores';
import { within } from '../support/streams';
import { allTargets, uniqueName } from '../support/targets';

const ABSENT = Symbol('absent');
/** The items table's channel, where stores listened before the change log (its name, on the public schema). */
const CHANNEL = ITEMS_TABLE.name;
/** The change log's wake-up channel. */
const CHANGES = CHANGES_TABLE.name;

/**
 * A NOTIFY only wakes the change log's reader up, and an entry is a hint to
 * re-read, never data: whatever a NOTIFY claims (a clear, deletes, unknown fields, wrong
 * types, garbage), every key still reports what the table holds.
 */
describe.each(allTargets)('forged notices on the items channel [$name]', (t) => {
  const names = ['a', 'b', 'c', 'd', 'e'];
  let target: string;
  let raw: RawSql;
  let bus: ChangeBus;
  let group: string;
  /** Knows every key (loadAll). */
  let full: PersistentDict<string, unknown>;
  /** Knows a few keys, one of them as absent. */
  let part: PersistentDict<string, unknown>;
  let grid: PersistentArray<unknown>;

  beforeEach(async () => {
    target = t.target();
    group = uniqueName('g');
    raw = new RawSql(target);
    await raw.broker.waitUntilRunning();
    bus = await raw.bus();
    full = new PersistentDict(group, target);
    part = new PersistentDict(group, target);
    grid = new PersistentArray(group, target);
    for (const [i, name] of names.entries()) await full.set(name, { i, name });
    await grid.set(1, 'x', null, 'cell');
    await full.loadAll();
    await part.get('a');
    await part.get('c');
    expect(await part.get('zz', ABSENT)).toBe(ABSENT);
    expect(await grid.get(1, 'x', null)).toBe('cell');
    // Both have read the log since they began listening.
    await notifyAndWait(JSON.stringify({ g: group, o: 'warm-up', k: ['a'] }));
  });

  afterEach(async () => {
    await grid.shutdown();
    await full.shutdown();
    await part.shutdown();
    await raw.shutdown();
  });

  /**
   * Sends `payload` as another process would, on the change log's wake-up
   * channel and on the items table's (what stores listened to before the
   * log), then waits until the dicts have read the log up to now and
   * finished what that started.
   */
  async function notifyAndWait(payload: string): Promise<void> {
    if (t.dialect === 'postgres') {
      await raw.query('SELECT pg_notify(?, ?), pg_notify(?, ?)', [CHANGES, payload, CHANNEL, payload]);
    } else {
      bus.committed(CHANGES, payload);
      bus.committed(CHANNEL, payload);
    }
    await within(full[remoteSettled](), 'full reads the log');
    await within(part[remoteSettled](), 'part reads the log');
  }

  /** Every key as the table holds it, decoded; ABSENT where there is no row. */
  async function tableValues(): Promise<Map<string, unknown>> {
    const rows = await raw.items(group);
    return new Map(
      [...names, 'zz', 'new'].map((n) => [n, rows.has(n) ? devalueSerializer.decode(rows.get(n)!) : ABSENT]),
    );
  }

  async function expectTruth(): Promise<void> {
    const table = await tableValues();
    for (const d of [full, part]) {
      for (const [name, value] of table) expect([name, await d.get(name, ABSENT)]).toEqual([name, value]);
    }
    const present = new Map([...table].filter(([, v]) => v !== ABSENT));
    expect(await full.loadAll()).toEqual(present);
    expect(await grid.get(1, 'x', null)).toBe('cell');
  }

  it(`a notice claiming a clear with a malformed flag clears nothing, and no change is reported (issue 9's example) [${t.name}]`, async () => {
    const seen: unknown[] = [];
    const subs = [full, part].map((d) => d.changes$.subscribe((c) => seen.push(c)));
    await notifyAndWait(JSON.stringify({ g: group, o: 'x', c: 'no' }));
    await notifyAndWait(JSON.stringify({ g: group, o: 'x', c: 1, k: ['a', 'zz'] }));
    await notifyAndWait('garbage');
    for (const sub of subs) sub.unsubscribe();
    expect(seen).toEqual([]);
    expect(await part.get('a')).toEqual({ i: 0, name: 'a' });
    await expectTruth();
  });

  it(`forged clears, deletes and "all" notices leave every key as the table has it [${t.name}]`, async () => {
    for (const forged of [
      { g: group, o: 'x', c: 1 },
      { g: group, o: 'x', c: 1, k: [] },
      { g: group, o: 'x', k: ['a', 'b', 'zz', 'new'] },
      { g: group, o: 'x', all: 1 },
      { g: group, o: 'x', all: 'yes', c: [1] },
      { g: group, o: 'x', k: 'a' },
      { g: group, o: 'x', k: [1, null, {}] },
      { g: group, k: ['a'] },
      { g: 7, o: 'x', c: 1 },
      { g: group, o: 'x', k: ['a'.repeat(300), '', '\u0000'] },
      { g: group, o: 'x', k: Array.from({ length: 600 }, (_, i) => `k${i}`) },
    ]) {
      await notifyAndWait(JSON.stringify(forged));
      await expectTruth();
    }
    for (const garbage of ['', 'null', '[]', '"text"', '{', '{"g":', 'x'.repeat(7000), '{"__proto__":{"c":1}}']) {
      await notifyAndWait(garbage);
      await expectTruth();
    }
  });

  it(`any payload, arbitrary strings and JSON objects, leaves every key as the table has it [${t.name}]`, async () => {
    const fields = fc.record(
      {
        g: fc.oneof(fc.constant(group), fc.constant(group), fc.anything()),
        o: fc.oneof(fc.string(), fc.anything()),
        c: fc.anything(),
        all: fc.anything(),
        k: fc.oneof(fc.array(fc.oneof(fc.constantFrom(...names, 'zz', 'new'), fc.string())), fc.anything()),
      },
      { requiredKeys: [] },
    );
    const payload = fc
      .oneof(
        fc.string({ unit: 'binary' }),
        fc.json(),
        fields.map((o) => JSON.stringify(o)),
        fc.dictionary(fc.string(), fc.jsonValue()).map((o) => JSON.stringify({ g: group, ...o })),
      )
      .filter((p) => typeof p === 'string' && !p.includes('\u0000') && Buffer.byteLength(p) < 7900);
    await fc.assert(
      fc.asyncProperty(payload, async (p) => {
        await notifyAndWait(p);
        await expectTruth();
      }),
      { numRuns: t.dialect === 'postgres' ? 60 : 40 },
    );
  });
});
