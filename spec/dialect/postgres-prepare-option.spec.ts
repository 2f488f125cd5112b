import { lastValueFrom } from 'rxjs';
import type { EntityManager } from 'typeorm';
import { AccessBroker, DatabaseError } from '../../lib';
import { preparesStatements } from '../../lib/dialect/postgres/options';
import { resolveTarget, type DatabaseTarget } from '../../lib/target';
import { PG_URL, pgAvailable, uniqueName } from '../support/targets';

const describePg = pgAvailable ? describe : describe.skip;

/** `url` with `params` added to its query. */
function withParams(url: string, params: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}${params}`;
}

/** Every named statement the session running `tx` holds (pg_prepared_statements is per session). */
async function namedInSession(tx: EntityManager): Promise<string[]> {
  const rows: { statement: string }[] = await tx.query('SELECT statement FROM pg_prepared_statements');
  return rows.map((r) => r.statement);
}

/** Runs `sql` three times in one transaction, and `prepare()`'s statement twice, then lists the session's named statements. */
async function namedAfterRepeats(b: AccessBroker, sql: string): Promise<{ rows: unknown; named: string[] }> {
  const byValue = b.prepare<{ n: number }>(uniqueName('by_value'), `${sql} /* prepare() */`);
  return lastValueFrom(
    b.transact(async (tx) => {
      let rows: unknown;
      for (let i = 0; i < 3; i++) rows = await tx.query(sql, [i]);
      for (let i = 0; i < 2; i++) expect(await byValue.query([i])).toEqual([{ n: i }]);
      return { rows, named: await namedInSession(tx) };
    }),
  );
}

describe('the prepare parameter of a postgres target', () => {
  it('?prepare=false is read and taken out of the URL pg is given, shown in the label, and makes another DataSource', () => {
    const off = resolveTarget('postgres://u:p@h/db?sslmode=require&prepare=false&max=3');
    expect(preparesStatements(off.options)).toBe(false);
    expect((off.options as { url: string }).url).toBe('postgres://u:p@h/db?sslmode=require');
    expect(off.label).toBe('postgres://u:***@h/db?sslmode=require&max=3&prepare=false');
    const on = resolveTarget('postgres://u:p@h/db?sslmode=require&max=3');
    expect(preparesStatements(on.options)).toBe(true);
    expect(off.key).not.toBe(on.key);
    // true is the default spelled out: the same DataSource as without it.
    const explicit = resolveTarget('postgres://u:p@h/db?sslmode=require&max=3&prepare=true');
    expect(preparesStatements(explicit.options)).toBe(true);
    expect(explicit.key).toBe(on.key);
  });

  it.each(['', 'False', '0', 'no', 'off', 'yes', 'false,true'])(
    '?prepare=%j is refused when the broker is made, with a DatabaseError naming true and false',
    (value) => {
      const url = `postgres://u:secret@h/db?prepare=${encodeURIComponent(value)}`;
      const error = (() => {
        try {
          return new AccessBroker(url);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(DatabaseError);
      expect((error as Error).message).toContain(`prepare must be true or false`);
      expect((error as Error).message).toContain(JSON.stringify(value));
      expect((error as Error).message).not.toContain('secret');
    },
  );

  it('?prepare given twice is refused, even with the same value', () => {
    for (const query of ['prepare=false&prepare=true', 'prepare=false&prepare=false']) {
      expect(() => new AccessBroker(`postgres://h/db?${query}`)).toThrow(DatabaseError);
      expect(() => new AccessBroker(`postgres://h/db?${query}`)).toThrow(/prepare must be true or false, once/);
    }
  });

  it('is read from the url of DataSourceOptions too, and a bad value refused when the broker is made', () => {
    const bad: DatabaseTarget = { type: 'postgres', url: 'postgres://u:secret@h/db?prepare=maybe' };
    expect(() => new AccessBroker(bad)).toThrow(DatabaseError);
    expect(() => new AccessBroker(bad)).toThrow(/prepare must be true or false, once .*not "maybe"/);
    expect(() => new AccessBroker(bad)).not.toThrow(/secret/);
  });
});

describePg('prepare=false on postgres [postgres]', () => {
  let b: AccessBroker | undefined;
  afterEach(async () => {
    await b?.shutdown();
    b = undefined;
  });

  it("sends no named statement at all: SQL repeated on a connection and prepare()'s statements go unnamed", async () => {
    b = new AccessBroker(withParams(PG_URL, 'max=2&prepare=false'));
    const sql = `SELECT $1::int AS n /* ${uniqueName('off')} */`;
    expect(await namedAfterRepeats(b, sql)).toEqual({ rows: [{ n: 2 }], named: [] });
  });

  it('in the url of DataSourceOptions, as in a target URL', async () => {
    b = new AccessBroker({ type: 'postgres', url: withParams(PG_URL, 'prepare=false'), poolSize: 2 });
    const sql = `SELECT $1::int AS n /* ${uniqueName('off_options')} */`;
    expect(await namedAfterRepeats(b, sql)).toEqual({ rows: [{ n: 2 }], named: [] });
  });

  it("on is the default (and prepare=true the same): the repeated SQL and prepare()'s are named on the connection", async () => {
    for (const url of [withParams(PG_URL, 'max=2'), withParams(PG_URL, 'max=2&prepare=true')]) {
      b = new AccessBroker(url);
      const sql = `SELECT $1::int AS n /* ${uniqueName('on')} */`;
      const { rows, named } = await namedAfterRepeats(b, sql);
      expect(rows).toEqual([{ n: 2 }]);
      expect(named).toEqual(expect.arrayContaining([sql, `${sql} /* prepare() */`]));
      await b.shutdown();
      b = undefined;
    }
  });
});
