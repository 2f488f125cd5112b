import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { lastValueFrom } from 'rxjs';
import { AccessBroker, type LiveResult } from '../../lib';
import { until } from '../support/streams';
import { fileAndPg, ph, uniqueName, type TestTarget } from '../support/targets';
import { sqlChild, type SqlChild } from './fixtures/sql-child';
import { probe } from './support/probe';

/**
 * Random programs of writes, updates and deletes across three joined tables,
 * from this process and from another one, against a live query over the
 * join: once the writes are done, the last result emitted equals a fresh run
 * of the query, every time. A change the live query missed would leave it
 * different for good (nothing else is written), so the wait is bounded and
 * the failure names the difference.
 */
type Op =
  | {
      readonly kind: 'insert';
      readonly table: 0 | 1 | 2;
      readonly id: number;
      readonly ref: number;
      readonly v: number;
    }
  | { readonly kind: 'update'; readonly table: 0 | 1 | 2; readonly id: number; readonly v: number }
  | { readonly kind: 'delete'; readonly table: 0 | 1 | 2; readonly id: number };

const id = fc.integer({ min: 1, max: 6 });
const table = fc.constantFrom<0 | 1 | 2>(0, 1, 2);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), table, id, ref: id, v: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ kind: fc.constant('update' as const), table, id, v: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ kind: fc.constant('delete' as const), table, id }),
);
/** An op, who runs it (this process or the other), and whether this process waits for it before the next. */
const step = fc.record({ op, remote: fc.boolean(), awaited: fc.boolean() });

type Row = { aid: number; bid: number; cid: number | null; x: number; y: number; z: number | null };

describe.each(fileAndPg)('live queries against a model: random writes in two processes [$name]', (t: TestTarget) => {
  let b: AccessBroker;
  let child: SqlChild;
  beforeAll(async () => {
    b = new AccessBroker(t.target());
    await b.waitUntilRunning();
    // The same database: a sqlite file's name, or the postgres URL.
    child = await sqlChild(t.dialect === 'sqlite' ? `sqlite:${b.dataSource.options.database as string}` : t.target());
  }, 60_000);
  afterAll(async () => {
    await child?.close();
    await b?.shutdown();
  });

  it('the last result equals a fresh run of the query once the writes are done, every time', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
        const names = [uniqueName('lq_a'), uniqueName('lq_b'), uniqueName('lq_c')] as const;
        const cols = ['x', 'y', 'z'];
        for (let i = 0; i < 3; i++) {
          await b.table(names[i]!, [
            { name: 'id', type: 'integer', primary: true },
            { name: 'ref', type: 'integer' },
            { name: cols[i]!, type: 'integer' },
          ]);
        }
        const [a, bb, c] = names;
        const sql =
          `SELECT a.id AS aid, b.id AS bid, c.id AS cid, a.x, b.y, c.z FROM ${a} a ` +
          `JOIN ${bb} b ON b.ref = a.id LEFT JOIN ${c} c ON c.ref = b.id ORDER BY a.id, b.id, c.id`;
        const live = probe(b.live<Row>(sql, [], { key: (r) => [r.aid, r.bid, r.cid], throttle: 5 }));
        try {
          await live.next('the first result');
          const p = (n: number) => ph(b.dialect, n);
          const pending: Promise<unknown>[] = [];
          for (const { op: o, remote, awaited } of steps) {
            const name = names[o.table];
            const col = cols[o.table]!;
            const [text, values]: [string, unknown[]] =
              o.kind === 'insert'
                ? [`INSERT INTO ${name} (id, ref, ${col}) VALUES (${p(1)}, ${p(2)}, ${p(3)})`, [o.id, o.ref, o.v]]
                : o.kind === 'update'
                  ? [`UPDATE ${name} SET ${col} = ${p(1)} WHERE id = ${p(2)}`, [o.v, o.id]]
                  : [`DELETE FROM ${name} WHERE id = ${p(1)}`, [o.id]];
            // A duplicate id fails its insert: that is part of the program (nothing committed).
            const done = (remote ? child.run(text, values) : lastValueFrom(b.query(text, values))).catch(
              () => undefined,
            );
            if (awaited) await done;
            else pending.push(done);
          }
          await Promise.all(pending);
          const fresh = await lastValueFrom(b.query<Row>(sql));
          const last = () => live.results.at(-1)!.rows;
          await until(
            () => isDeepStrictEqual(normal(last()), normal(fresh)),
            `the live result equals a fresh run: live ${JSON.stringify(last())} fresh ${JSON.stringify(fresh)}`,
            10_000,
          );
          // And each emission's diff took the previous rows to its own.
          for (let i = 1; i < live.results.length; i++) expectDiffApplies(live.results[i - 1]!, live.results[i]!);
        } finally {
          live.subscription.unsubscribe();
          for (const n of names) await lastValueFrom(b.query(`DROP TABLE ${n}`));
        }
      }),
      { numRuns: 12 },
    );
  }, 240_000);
});

/** Rows as plain numbers (postgres may give counts and ids as strings through some drivers). */
function normal(rows: readonly Row[]): unknown[] {
  return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null ? null : Number(v)])));
}

function expectDiffApplies(before: LiveResult<Row>, after: LiveResult<Row>): void {
  const k = (r: Row) => JSON.stringify([r.aid, r.bid, r.cid]);
  const map = new Map(before.rows.map((r) => [k(r), r]));
  for (const r of after.diff.removed) map.delete(k(r));
  for (const r of after.diff.added) map.set(k(r), r);
  for (const { after: r } of after.diff.changed) map.set(k(r), r);
  expect([...map.keys()].sort()).toEqual(after.rows.map(k).sort());
  for (const r of after.rows) expect(map.get(k(r))).toEqual(r);
}
