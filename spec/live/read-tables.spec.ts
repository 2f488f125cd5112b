import { lastValueFrom } from 'rxjs';
import { AccessBroker, TransactionError } from '../../lib';
import { dialectForUrl } from '../../lib/dialect';
import type { TableRef } from '../../lib/dialect/dialect-live';
import { LiveQueryError, type LiveQueryProblem } from '../../lib/errors';
import { allTargets, ph, uniqueName } from '../support/targets';

describe.each(allTargets)('the dialect finds the tables a query reads [$name]', (t) => {
  const target = t.target();
  const dialect = dialectForUrl(target)!;
  const pg = t.dialect === 'postgres';
  const p = (n: number) => ph(t.dialect, n);
  const suffix = uniqueName('rt').slice(3);
  const a = `rt_a_${suffix}`;
  const b = `rt_b_${suffix}`;
  const c = `rt_c_${suffix}`;
  const view = `rt_v_${suffix}`;
  const mixed = `Mixed Case ${suffix}`;
  let broker: AccessBroker;

  /** A table as readTables names it: in public on postgres (the DataSource's schema), without a schema on sqlite. */
  const ref = (name: string, schema = 'public'): TableRef => (pg ? { schema, name } : { name });
  const sorted = (...names: string[]) => names.sort().map((n) => ref(n));
  const run = (sql: string, parameters: unknown[] = []) => lastValueFrom(broker.query(sql, parameters));

  /** readTables through a runner in one transaction; a failure is given back as the transaction's cause. */
  const readTables = (sql: string, parameters: unknown[] = [], before: readonly string[] = []) =>
    lastValueFrom(
      broker.transact(async (tx) => {
        for (const setting of before) await tx.query(setting);
        return dialect.readTables((s, ps) => tx.query(s, [...ps]), sql, parameters);
      }),
    );
  const failure = (sql: string, parameters: unknown[] = []) =>
    readTables(sql, parameters).then(
      (tables) => {
        throw new Error(`expected a refusal, got ${JSON.stringify(tables)}`);
      },
      (e: unknown) => (e instanceof TransactionError ? e.cause : e),
    );
  const refusal = async (sql: string, problem: LiveQueryProblem, parameters: unknown[] = []) => {
    const error = await failure(sql, parameters);
    expect(error).toBeInstanceOf(LiveQueryError);
    expect((error as LiveQueryError).problem).toBe(problem);
    expect((error as LiveQueryError).sql).toBe(sql);
    return error as LiveQueryError;
  };
  const count = async (table: string) =>
    Number(((await run(`SELECT count(*) AS n FROM "${table}"`)) as { n: unknown }[])[0]!.n);

  beforeAll(async () => {
    broker = new AccessBroker(target);
    await broker.waitUntilRunning();
    await run(`CREATE TABLE ${a} (id INTEGER PRIMARY KEY, b_id INTEGER, name TEXT)`);
    await run(`CREATE TABLE ${b} (id INTEGER PRIMARY KEY, a_id INTEGER, note TEXT)`);
    await run(`CREATE TABLE ${c} (id INTEGER PRIMARY KEY, a_id INTEGER, note TEXT)`);
    await run(`CREATE INDEX ${c}_cover ON ${c} (a_id, note)`);
    await run(`CREATE VIEW ${view} AS SELECT ${a}.id, ${b}.note FROM ${a} JOIN ${b} ON ${b}.a_id = ${a}.id`);
    await run(`CREATE TABLE "${mixed}" (id INTEGER PRIMARY KEY)`);
    await run(`INSERT INTO ${a} (id, b_id, name) VALUES (1, 1, 'one'), (2, 2, 'two')`);
    await run(`INSERT INTO ${b} (id, a_id, note) VALUES (1, 1, 'b1')`);
  });

  afterAll(async () => {
    await run(`DROP VIEW IF EXISTS ${view}`);
    for (const table of [a, b, c, mixed]) await run(`DROP TABLE IF EXISTS "${table}"`);
    await broker.shutdown();
  });

  describe('names every table it reads, once, in order', () => {
    it('one table', async () => {
      expect(await readTables(`SELECT * FROM ${a}`)).toEqual([ref(a)]);
    });

    it('a join of three', async () => {
      const sql =
        `SELECT ${a}.name, ${b}.note, ${c}.note FROM ${c} JOIN ${b} ON ${b}.a_id = ${c}.a_id ` +
        `JOIN ${a} ON ${a}.id = ${b}.a_id`;
      expect(await readTables(sql)).toEqual(sorted(a, b, c));
    });

    it('subqueries in WHERE (IN and EXISTS)', async () => {
      const sql =
        `SELECT * FROM ${a} WHERE id IN (SELECT a_id FROM ${b}) ` +
        `OR EXISTS (SELECT 1 FROM ${c} WHERE ${c}.a_id = ${a}.id)`;
      expect(await readTables(sql)).toEqual(sorted(a, b, c));
    });

    it('a scalar subquery in the SELECT list', async () => {
      const sql = `SELECT id, (SELECT count(*) FROM ${b} WHERE ${b}.a_id = ${a}.id) AS n FROM ${a}`;
      expect(await readTables(sql)).toEqual(sorted(a, b));
    });

    it('a CTE', async () => {
      const sql = `WITH x AS (SELECT a_id, note FROM ${b}) SELECT * FROM ${a} JOIN x ON x.a_id = ${a}.id`;
      expect(await readTables(sql)).toEqual(sorted(a, b));
    });

    it('a recursive CTE', async () => {
      const sql =
        `WITH RECURSIVE r(id) AS (SELECT id FROM ${a} UNION SELECT ${b}.id FROM ${b} JOIN r ON ${b}.a_id = r.id) ` +
        'SELECT * FROM r';
      expect(await readTables(sql)).toEqual(sorted(a, b));
    });

    it('a UNION', async () => {
      expect(await readTables(`SELECT id FROM ${c} UNION SELECT id FROM ${a}`)).toEqual(sorted(a, c));
    });

    it('a view over two tables: both tables, not the view', async () => {
      expect(await readTables(`SELECT * FROM ${view}`)).toEqual(sorted(a, b));
    });

    it('a query with bound parameters', async () => {
      const sql = `SELECT * FROM ${a} WHERE id = ${p(1)} AND name = ${p(2)}`;
      // Again and again: on postgres the same SQL with values becomes a named prepared statement.
      for (let i = 0; i < 3; i++) expect(await readTables(sql, [i, 'one'])).toEqual([ref(a)]);
    });

    it('the same table read twice (a self join) once', async () => {
      expect(await readTables(`SELECT * FROM ${a} x JOIN ${a} y ON x.id = y.b_id`)).toEqual([ref(a)]);
    });

    it('a query answered from an index alone names its table', async () => {
      const sql = `SELECT note FROM ${c} WHERE a_id = ${p(1)}`;
      // Without a sequential or bitmap scan to choose, postgres plans the covering index.
      const before = pg ? ['SET LOCAL enable_seqscan = off', 'SET LOCAL enable_bitmapscan = off'] : [];
      const plan = await lastValueFrom(
        broker.transact(async (tx) => {
          for (const setting of before) await tx.query(setting);
          return JSON.stringify(await tx.query(`EXPLAIN ${pg ? '(FORMAT JSON) ' : 'QUERY PLAN '}${sql}`, [1]));
        }),
      );
      expect(plan).toMatch(pg ? /Index Only Scan/ : /COVERING INDEX/);
      expect(await readTables(sql, [1], before)).toEqual([ref(c)]);
    });

    it('leaves out a LEFT JOIN the planner removes (unique key, no column used): it reads nothing of it', async () => {
      const sql = `SELECT ${a}.id FROM ${a} LEFT JOIN ${b} ON ${b}.id = ${a}.b_id`;
      expect(await readTables(sql)).toEqual([ref(a)]);
      // With a column of it used, it is read.
      const used = `SELECT ${a}.id, ${b}.note FROM ${a} LEFT JOIN ${b} ON ${b}.id = ${a}.b_id`;
      expect(await readTables(used)).toEqual(sorted(a, b));
    });

    it('a table whose name needs quotes (mixed case, a space)', async () => {
      expect(await readTables(`SELECT * FROM "${mixed}" JOIN ${a} ON ${a}.id = "${mixed}".id`)).toEqual(
        sorted(a, mixed),
      );
    });

    it('text around the query: comments, a trailing semicolon, a semicolon in a string', async () => {
      const sql = `-- first; line\n/* a ; comment */ SELECT ';' AS "x;y" FROM ${a} WHERE name <> 'a;b';  -- done;`;
      expect(await readTables(sql)).toEqual([ref(a)]);
    });
  });

  describe('refuses what is not one query, writing nothing', () => {
    it.each([
      ['INSERT', () => `INSERT INTO ${a} (id, name) VALUES (9, 'nine')`],
      ['UPDATE … RETURNING', () => `UPDATE ${a} SET name = 'changed' RETURNING id`],
      ['DELETE', () => `DELETE FROM ${a}`],
      ['a write after a WITH', () => `WITH x AS (SELECT 1 AS id) DELETE FROM ${a} WHERE id IN (SELECT id FROM x)`],
      ['two statements', () => `SELECT * FROM ${a}; DELETE FROM ${a}`],
      ['a blank text', () => '  -- nothing\n'],
    ])('%s', async (_, sql) => {
      const error = await refusal(sql(), 'not-a-query');
      expect(error.message).toMatch(/query\(\) or transact\(\)|one SELECT|blank/);
      expect(await count(a)).toBe(2);
      expect(((await run(`SELECT name FROM ${a} WHERE id = 1`)) as { name: string }[])[0]!.name).toBe('one');
    });

    it('CREATE TABLE (and the table is not made)', async () => {
      const made = `rt_new_${suffix}`;
      await refusal(`CREATE TABLE ${made} (id INTEGER)`, 'not-a-query');
      await expect(run(`SELECT * FROM ${made}`)).rejects.toThrow(/does not exist|no such table/);
    });

    it(pg ? 'SET' : 'PRAGMA', async () => {
      await refusal(pg ? 'SET statement_timeout = 5' : 'PRAGMA table_info(' + a + ')', 'not-a-query');
      await refusal(pg ? 'SHOW statement_timeout' : 'PRAGMA user_version = 7', 'not-a-query');
    });
  });

  describe('refuses a query that reads no table', () => {
    it.each([['SELECT 1'], [pg ? 'SELECT now()' : "SELECT date('now')"], ['VALUES (1), (2)']])('%s', async (sql) => {
      const error = await refusal(sql, 'no-tables');
      expect(error.message).toMatch(/reads no table/);
    });
  });

  describe('refuses tables whose changes cannot be captured', () => {
    it('a catalog', async () => {
      const error = await refusal(
        pg ? 'SELECT * FROM pg_catalog.pg_class' : 'SELECT * FROM sqlite_schema',
        'unwatchable-table',
      );
      expect(error.message).toMatch(
        pg ? /"pg_catalog"."pg_class" \(a system catalog/ : /"sqlite_schema" \(sqlite's own/,
      );
    });

    it('a catalog read with a watchable table still refuses the whole query', async () => {
      const sql = pg
        ? `SELECT * FROM ${a} WHERE name IN (SELECT table_name FROM information_schema.tables)`
        : `SELECT * FROM ${a} WHERE name IN (SELECT name FROM sqlite_schema)`;
      await refusal(sql, 'unwatchable-table');
    });

    it('a temporary table', async () => {
      const temp = `rt_temp_${suffix}`;
      const error = await lastValueFrom(
        broker.transact(async (tx) => {
          await tx.query(`CREATE TEMPORARY TABLE ${temp} (id INTEGER)`);
          try {
            return await dialect.readTables((s, ps) => tx.query(s, [...ps]), `SELECT * FROM ${temp}`, []);
          } catch (e) {
            return e;
          } finally {
            await tx.query(`DROP TABLE ${temp}`);
          }
        }),
      );
      expect(error).toBeInstanceOf(LiveQueryError);
      expect((error as LiveQueryError).problem).toBe('unwatchable-table');
      expect((error as Error).message).toMatch(/temporary table/);
    });
  });

  describe('lets the database’s own errors through', () => {
    it('a missing table', async () => {
      const error = await failure(`SELECT * FROM rt_missing_${suffix}`);
      expect(error).not.toBeInstanceOf(LiveQueryError);
      expect((error as Error).message).toMatch(pg ? /does not exist/ : /no such table/);
    });

    it('a syntax error inside a SELECT', async () => {
      const error = await failure(`SELECT * FROM ${a} WHERE`);
      expect(error).not.toBeInstanceOf(LiveQueryError);
      expect((error as Error).message).toMatch(/syntax error|incomplete input/);
    });
  });

  if (pg) {
    describe('postgres', () => {
      const schema = `rt_s_${suffix}`;
      beforeAll(() => run(`CREATE SCHEMA ${schema}`));
      afterAll(() => run(`DROP SCHEMA ${schema} CASCADE`));

      it('a schema other than public', async () => {
        await run(`CREATE TABLE ${schema}."Other Name" (id INTEGER)`);
        expect(await readTables(`SELECT * FROM ${schema}."Other Name" JOIN ${a} USING (id)`)).toEqual([
          ref(a),
          ref('Other Name', schema),
        ]);
      });

      it('TABLE t and a parenthesized set operation are queries', async () => {
        expect(await readTables(`TABLE ${a}`)).toEqual([ref(a)]);
        expect(await readTables(`(SELECT id FROM ${a}) EXCEPT (SELECT id FROM ${b})`)).toEqual(sorted(a, b));
      });

      it('refuses a data-modifying CTE, which EXPLAIN plans but never runs', async () => {
        const error = await refusal(`WITH d AS (DELETE FROM ${a} RETURNING id) SELECT * FROM d`, 'not-a-query');
        expect(error.message).toMatch(/writes/);
        await refusal(`WITH d AS (UPDATE ${a} SET name = 'x' RETURNING id) SELECT * FROM d`, 'not-a-query');
        await refusal(`WITH d AS (INSERT INTO ${a} (id) VALUES (7) RETURNING id) SELECT * FROM d`, 'not-a-query');
        expect(await count(a)).toBe(2);
        expect(((await run(`SELECT name FROM ${a} WHERE id = 1`)) as { name: string }[])[0]!.name).toBe('one');
      });

      it('refuses two statements without parameters, where the simple protocol would run both', async () => {
        await refusal(`SELECT 1 FROM ${a};DELETE FROM ${a}`, 'not-a-query');
        await refusal(`SELECT $$;$$ FROM ${a}; DELETE FROM ${a}`, 'not-a-query');
        expect(await count(a)).toBe(2);
        // A `;` inside a dollar-quoted string, an E'' string or a nested comment is no separator.
        const sql = `SELECT $q$;$q$, E'\\';', 'it''s;' /* a /* nested; */ comment */ FROM ${a}`;
        expect(await readTables(sql)).toEqual([ref(a)]);
      });

      it('reads strings as the server does: with standard_conforming_strings off, a backslash escapes a quote', async () => {
        const sql = `SELECT '\\'' FROM ${a}; DELETE FROM ${a}; SELECT '\\''`;
        const error = await readTables(sql, [], ['SET LOCAL standard_conforming_strings = off']).catch(
          (e: unknown) => (e as TransactionError).cause,
        );
        expect(error).toBeInstanceOf(LiveQueryError);
        expect((error as LiveQueryError).message).toMatch(/holds 3/);
        expect(await count(a)).toBe(2);
        // With the setting on (the default), the same text is one statement (which postgres cannot parse).
        const standard = await failure(sql);
        expect(standard).not.toBeInstanceOf(LiveQueryError);
        expect(await count(a)).toBe(2);
      });

      it('refuses SELECT … INTO, which creates a table (and none is made)', async () => {
        await refusal(`SELECT * INTO ${schema}.copied FROM ${a}`, 'not-a-query');
        await expect(run(`SELECT * FROM ${schema}.copied`)).rejects.toThrow(/does not exist/);
      });

      it('refuses SELECT … FOR UPDATE / FOR SHARE: they lock rows', async () => {
        const error = await refusal(`SELECT * FROM ${a} FOR UPDATE`, 'not-a-query');
        expect(error.message).toMatch(/lock rows/);
        await refusal(`SELECT * FROM ${a} JOIN ${b} ON ${b}.a_id = ${a}.id FOR SHARE OF ${b}`, 'not-a-query');
      });

      it('refuses a materialized view, a sequence and information_schema', async () => {
        await run(`CREATE MATERIALIZED VIEW ${schema}.mv AS SELECT * FROM ${a}`);
        await run(`CREATE SEQUENCE ${schema}.seq`);
        expect((await refusal(`SELECT * FROM ${schema}.mv`, 'unwatchable-table')).message).toMatch(/materialized view/);
        expect((await refusal(`SELECT * FROM ${schema}.seq`, 'unwatchable-table')).message).toMatch(/a sequence/);
        expect((await refusal('SELECT * FROM information_schema.tables', 'unwatchable-table')).message).toMatch(
          /"pg_catalog"\.".*" \(a system catalog/,
        );
      });

      it('names the partitions a partitioned table reads, after pruning', async () => {
        await run(`CREATE TABLE ${schema}.parted (k INTEGER, v TEXT) PARTITION BY LIST (k)`);
        await run(`CREATE TABLE ${schema}.part1 PARTITION OF ${schema}.parted FOR VALUES IN (1)`);
        await run(`CREATE TABLE ${schema}.part2 PARTITION OF ${schema}.parted FOR VALUES IN (2)`);
        expect(await readTables(`SELECT * FROM ${schema}.parted`)).toEqual([
          ref('part1', schema),
          ref('part2', schema),
        ]);
        expect(await readTables(`SELECT * FROM ${schema}.parted WHERE k = $1`, [2])).toEqual([ref('part2', schema)]);
      });
    });
  } else {
    describe('sqlite', () => {
      it('skips a table-valued function (json_each): its rows come from its arguments', async () => {
        expect(await readTables(`SELECT ${a}.id, j.value FROM ${a}, json_each('[1, 2]') AS j`)).toEqual([ref(a)]);
        await refusal(`SELECT * FROM json_each('[1, 2]')`, 'no-tables');
      });

      it('refuses a declared virtual table (fts5), even aliased, and still skips json_each beside it', async () => {
        const fts = `rt_fts_${suffix}`;
        const other = `rt_fts2_${suffix}`;
        await run(`CREATE VIRTUAL TABLE ${fts} USING fts5(body)`);
        await run(`CREATE VIRTUAL TABLE ${other} USING fts5(body)`);
        try {
          const error = await refusal(`SELECT * FROM ${fts} WHERE ${fts} MATCH 'x'`, 'unwatchable-table');
          expect(error.message).toMatch(new RegExp(`the virtual table "main"\\."${fts}"`));
          expect(error.message).not.toMatch(other);
          const aliased = `SELECT ${a}.id FROM ${a}, json_each(${a}.name) AS j, ${fts} AS f WHERE f.rowid = ${a}.id`;
          expect((await refusal(aliased, 'unwatchable-table')).message).toMatch(fts);
          expect(await readTables(`SELECT ${a}.id, j.value FROM ${a}, json_each('[1, 2]') AS j`)).toEqual([ref(a)]);
          // Its shadow tables are plain tables: read directly, they are watchable.
          expect(await readTables(`SELECT * FROM ${fts}_data`)).toEqual([ref(`${fts}_data`)]);
        } finally {
          await run(`DROP TABLE ${other}`);
          await run(`DROP TABLE ${fts}`);
        }
      });

      it('refuses sqlite_sequence', async () => {
        const auto = `rt_auto_${suffix}`;
        await run(`CREATE TABLE ${auto} (id INTEGER PRIMARY KEY AUTOINCREMENT)`);
        try {
          await refusal(`SELECT * FROM sqlite_sequence`, 'unwatchable-table');
        } finally {
          await run(`DROP TABLE ${auto}`);
        }
      });

      it('refuses a table of an attached database', async () => {
        await run(`ATTACH DATABASE ':memory:' AS rt_aux`);
        try {
          await run('CREATE TABLE rt_aux.other (id INTEGER)');
          const error = await refusal(`SELECT * FROM ${a} JOIN rt_aux.other USING (id)`, 'unwatchable-table');
          expect(error.message).toMatch(/attached database "rt_aux"/);
        } finally {
          await run('DETACH DATABASE rt_aux');
        }
      });

      it('an OR over two indexes (MULTI-INDEX OR: the indexes opened with ReopenIdx)', async () => {
        const many = `rt_many_${suffix}`;
        await run(`CREATE TABLE ${many} (id INTEGER PRIMARY KEY, k INTEGER, note TEXT)`);
        try {
          await run(`CREATE INDEX ${many}_k ON ${many} (k)`);
          await run(`CREATE INDEX ${many}_note ON ${many} (note)`);
          await run(
            `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) ` +
              `INSERT INTO ${many} SELECT i, i % 500, 'n' || i FROM n`,
          );
          await run(`ANALYZE ${many}`);
          const sql = `SELECT * FROM ${many} WHERE k = 1 OR note = ?`;
          const program = (await run(`EXPLAIN ${sql}`, ['x'])) as { opcode: string }[];
          expect(program.map((op) => op.opcode)).toContain('ReopenIdx');
          expect(await readTables(sql, ['x'])).toEqual([ref(many)]);
        } finally {
          await run(`DROP TABLE ${many}`);
        }
      });

      it('a WITHOUT ROWID table', async () => {
        const w = `rt_w_${suffix}`;
        await run(`CREATE TABLE ${w} (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID`);
        try {
          expect(await readTables(`SELECT v FROM ${w} WHERE k = ?`, ['x'])).toEqual([ref(w)]);
        } finally {
          await run(`DROP TABLE ${w}`);
        }
      });

      it('two statements: node-sqlite3 would run only the first', async () => {
        await refusal(`SELECT * FROM ${a}; SELECT * FROM ${b}`, 'not-a-query');
        // A `;` inside a string, a quoted name or a bracketed name is no separator.
        expect(await readTables(`SELECT ';', [x;y] FROM (SELECT 1 AS [x;y]), ${a} WHERE name <> 'a;b'`)).toEqual([
          ref(a),
        ]);
      });
    });
  }
});
