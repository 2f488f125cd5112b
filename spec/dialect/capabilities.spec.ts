import { DIALECT_LIST, type Dialect } from '../../lib/dialect';

/** The optional member each capability flag promises. */
const PROMISED: ReadonlyArray<[keyof Dialect['capabilities'], keyof Dialect]> = [
  ['gatesOutsideCalls', 'gateOutsideCalls'],
  ['destroysConnections', 'destroy'],
  ['detectsLostConnections', 'lostConnection'],
  ['advisoryLocks', 'openAdvisoryLocks'],
];

describe.each(DIALECT_LIST.map((d) => ({ name: d.name, dialect: d })))('the $name dialect', ({ dialect }) => {
  it.each(PROMISED)('has %s exactly when it implements %s', (flag, member) => {
    expect(typeof dialect[member] === 'function').toBe(dialect.capabilities[flag]);
  });

  it('states every capability as a boolean', () => {
    for (const value of Object.values(dialect.capabilities)) expect(typeof value).toBe('boolean');
  });

  it('implements every member the other dialects implement, optional ones aside', () => {
    const optional = new Set<string>(PROMISED.map(([, member]) => member));
    const members = (d: Dialect) => Object.keys(d).filter((k) => !optional.has(k));
    for (const other of DIALECT_LIST) expect(members(dialect).sort()).toEqual(members(other).sort());
  });
});

it('only postgres carries notices between processes', () => {
  expect(DIALECT_LIST.filter((d) => d.capabilities.crossProcessNotices).map((d) => d.name)).toEqual(['postgres']);
});

it('only postgres pipelines statements (sqlite has one connection in process: no round trip to spare)', () => {
  expect(DIALECT_LIST.filter((d) => d.capabilities.pipelinesStatements).map((d) => d.name)).toEqual(['postgres']);
});
