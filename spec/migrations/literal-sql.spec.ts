import { MigrationError } from '../../lib';
import { parseArgs } from '../../lib/migrations/cli';
import { withLiterals } from '../../lib/migrations/literal-sql';

describe('a script’s statements with their parameters written in', () => {
  it('writes $n and ? parameters as literals, leaving quoted strings and names alone', () => {
    expect(withLiterals(`INSERT INTO t (a, "b$1?") VALUES ($2, $1, 'it''s $1?')`, ["o'k", 7], 'M1')).toBe(
      `INSERT INTO t (a, "b$1?") VALUES (7, 'o''k', 'it''s $1?')`,
    );
    expect(withLiterals('UPDATE t SET a = ?, b = ?, c = ?', [null, true, 2.5], 'M1')).toBe(
      'UPDATE t SET a = NULL, b = TRUE, c = 2.5',
    );
  });

  it('refuses a value that has no plain literal, naming the migration', () => {
    const attempt = () => withLiterals('INSERT INTO t VALUES ($1)', [new Uint8Array(2)], 'AddBlob1700000000000');
    expect(attempt).toThrow(MigrationError);
    expect(attempt).toThrow(
      /migration AddBlob1700000000000 binds a value a script cannot write .*run it with broker.migrate\(\)/,
    );
  });
});

describe('sasync’s command line', () => {
  it('takes migrate, --sql and the data source module, and says what is wrong otherwise', () => {
    expect(parseArgs(['migrate', '--sql', '-d', 'ds.js'])).toEqual({ sql: true, module: 'ds.js' });
    expect(parseArgs(['migrate', '--data-source=ds.js'])).toEqual({ sql: false, module: 'ds.js' });
    expect(parseArgs(['migrate'])).toMatch(/^--data-source is missing\nusage: sasync migrate/);
    expect(parseArgs(['migrate', '--dry', '-d', 'x'])).toMatch(/^unknown option "--dry"/);
    expect(parseArgs(['seed'])).toMatch(/^unknown command "seed"/);
  });
});
