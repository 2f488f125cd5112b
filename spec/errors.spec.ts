import { QueryFailedError } from 'typeorm';
import {
  AsyncError,
  BrokerClosedError,
  CancelledError,
  ConnectionLostError,
  DatabaseError,
  InvalidIdentifierError,
  InvalidKeyError,
  MissingKeyError,
  SasyncError,
  SerializationError,
  TimeoutError,
  TransactIterationError,
  TransactionError,
} from '../lib/errors';

type ErrorClass = abstract new (...args: never[]) => Error;

/** Every error class, with an example instance and the message it must carry. */
const examples: [ErrorClass, () => SasyncError][] = [
  [SasyncError, () => new SasyncError('something failed')],
  [TransactionError, () => new TransactionError('transaction failed')],
  [BrokerClosedError, () => new BrokerClosedError('LogBroker')],
  [DatabaseError, () => new DatabaseError('cannot connect')],
  [AsyncError, () => new AsyncError('use await')],
  [MissingKeyError, () => new MissingKeyError('k')],
  [SerializationError, () => new SerializationError('cannot store a function')],
  [InvalidIdentifierError, () => new InvalidIdentifierError('table', 'x y', 'spaces are not allowed')],
  [TransactIterationError, () => new TransactIterationError('already iterating')],
  [InvalidKeyError, () => new InvalidKeyError('', 'prefs', 'a key cannot be empty')],
  [ConnectionLostError, () => new ConnectionLostError('running transaction', { cause: new Error('reset') })],
  [CancelledError, () => new CancelledError('transaction save was cancelled and rolled back: the caller aborted')],
  [TimeoutError, () => new TimeoutError('transaction save timed out after 50 ms and was rolled back', { timeout: 50 })],
];

describe.each(examples.map(([Class, make]) => [Class.name, Class, make] as const))('%s', (_name, Class, make) => {
  it('has the class name as its name', () => {
    expect(make().name).toBe(Class.name);
  });

  it('is an instance of its class, SasyncError and Error', () => {
    const err = make();
    expect(err).toBeInstanceOf(Class);
    expect(err).toBeInstanceOf(SasyncError);
    expect(err).toBeInstanceOf(Error);
  });

  it('has a stack trace and a toString() that starts with its name', () => {
    const err = make();
    expect(err.stack).toContain(Class.name);
    expect(String(err)).toMatch(new RegExp(`^${Class.name}: .+`));
  });
});

describe('error classes are distinct', () => {
  it('is not an instance of a sibling class', () => {
    expect(new DatabaseError('x')).not.toBeInstanceOf(TransactionError);
    expect(new TransactionError('x')).not.toBeInstanceOf(DatabaseError);
    expect(new AsyncError('x')).not.toBeInstanceOf(TransactIterationError);
    expect(new CancelledError('x')).not.toBeInstanceOf(TransactionError);
    expect(new CancelledError('x')).not.toBeInstanceOf(TimeoutError);
    expect(new TransactionError('x')).not.toBeInstanceOf(CancelledError);
  });
});

describe('CancelledError', () => {
  it('keeps message, cause and every context field', () => {
    const reason = new Error('the user closed the page');
    const err = new CancelledError('transaction save was cancelled', {
      cause: reason,
      method: 'save',
      dialect: 'postgres',
      attempts: 2,
      outcomeUnknown: true,
    });
    expect(err.message).toBe('transaction save was cancelled');
    expect(err.cause).toBe(reason);
    expect(err).toMatchObject({ method: 'save', dialect: 'postgres', attempts: 2, outcomeUnknown: true });
  });

  it('leaves unknown context undefined, counts no attempt and claims no unknown outcome by default', () => {
    expect(new CancelledError('x')).toMatchObject({
      method: undefined,
      dialect: undefined,
      attempts: 0,
      outcomeUnknown: false,
    });
  });
});

describe('TimeoutError', () => {
  it('is a CancelledError that keeps its limit in ms', () => {
    const err = new TimeoutError('transaction save timed out after 50 ms', {
      timeout: 50,
      method: 'save',
      attempts: 1,
    });
    expect(err).toBeInstanceOf(CancelledError);
    expect(err).toMatchObject({ timeout: 50, method: 'save', attempts: 1, outcomeUnknown: false });
  });

  it('leaves the limit undefined when not given', () => {
    expect(new TimeoutError('x').timeout).toBeUndefined();
  });
});

describe('SasyncError', () => {
  it('keeps its message and cause', () => {
    const cause = new Error('root');
    const err = new SasyncError('wrapped', { cause });
    expect(err.message).toBe('wrapped');
    expect(err.cause).toBe(cause);
  });

  it('has no cause when none is given', () => {
    const err = new SasyncError('alone');
    expect(err.cause).toBeUndefined();
    expect('cause' in err).toBe(false);
  });

  it('takes its name from a subclass defined outside sasync', () => {
    class AppError extends SasyncError {}
    expect(new AppError('x').name).toBe('AppError');
  });
});

describe('TransactionError', () => {
  it('keeps message, cause and every context field', () => {
    const cause = new Error('boom');
    const err = new TransactionError('setNameValue failed and was rolled back', {
      cause,
      method: 'setNameValue',
      sql: 'INSERT INTO entries VALUES ($1)',
      parameters: ['secret', 42],
      dialect: 'postgres',
      attempts: 3,
    });
    expect(err.message).toBe('setNameValue failed and was rolled back');
    expect(err.cause).toBe(cause);
    expect(err.method).toBe('setNameValue');
    expect(err.sql).toBe('INSERT INTO entries VALUES ($1)');
    expect(err.parameters).toEqual(['<string(6)>', '<number>']);
    expect(err.dialect).toBe('postgres');
    expect(err.attempts).toBe(3);
  });

  it('defaults attempts to 1 and leaves unknown context undefined', () => {
    const err = new TransactionError('failed');
    expect(err.attempts).toBe(1);
    expect(err.method).toBeUndefined();
    expect(err.sql).toBeUndefined();
    expect(err.parameters).toBeUndefined();
    expect(err.dialect).toBeUndefined();
    expect(err.code).toBeUndefined();
    expect(err.detail).toBeUndefined();
    expect(err.outcomeUnknown).toBe(false);
  });

  it('says when the outcome is unknown: told so, or caused by a connection lost during COMMIT', () => {
    expect(new TransactionError('cancelled during COMMIT', { outcomeUnknown: true }).outcomeUnknown).toBe(true);
    const lost = (duringCommit: boolean) =>
      new ConnectionLostError('running transaction', {
        cause: Object.assign(new Error('terminated'), { code: '57P01' }),
        duringCommit,
      });
    expect(new TransactionError('failed', { cause: lost(true) }).outcomeUnknown).toBe(true);
    expect(new TransactionError('failed', { cause: lost(false) }).outcomeUnknown).toBe(false);
  });

  it("reads code, detail, SQL and parameters from a cause shaped like TypeORM's QueryFailedError", () => {
    const cause = {
      name: 'QueryFailedError',
      message: 'could not serialize access due to concurrent update',
      query: 'UPDATE accounts SET balance = $1 WHERE owner = $2',
      parameters: [100, 'alice1'],
      driverError: { code: '40001', detail: 'Reason code: Canceled on identification as a pivot.' },
    };
    const err = new TransactionError('transfer failed', { cause, method: 'transfer' });
    expect(err.cause).toBe(cause);
    expect(err.code).toBe('40001');
    expect(err.detail).toBe('Reason code: Canceled on identification as a pivot.');
    expect(err.sql).toBe('UPDATE accounts SET balance = $1 WHERE owner = $2');
    expect(err.parameters).toEqual(['<number>', '<string(6)>']);
    expect(err.attempts).toBe(1);
  });

  it('reads the fields from a real TypeORM QueryFailedError, redacting the parameters', () => {
    const driverError = Object.assign(new Error('deadlock detected'), {
      code: '40P01',
      detail: 'Process 1 waits for ShareLock on transaction 2',
    });
    const cause = new QueryFailedError('DELETE FROM t WHERE pw = $1', ['hunter2'], driverError);
    const err = new TransactionError('cleanup failed', { cause });
    expect(err.code).toBe('40P01');
    expect(err.detail).toBe('Process 1 waits for ShareLock on transaction 2');
    expect(err.sql).toBe('DELETE FROM t WHERE pw = $1');
    expect(err.parameters).toEqual(['<string(7)>']);
    expect(JSON.stringify(err.parameters)).not.toContain('hunter2');
  });

  it('reads a code put directly on the driver error (sqlite: SQLITE_BUSY)', () => {
    const cause = Object.assign(new Error('SQLITE_BUSY: database is locked'), { errno: 5, code: 'SQLITE_BUSY' });
    const err = new TransactionError('write failed', { cause });
    expect(err.code).toBe('SQLITE_BUSY');
    expect(err.detail).toBeUndefined();
    expect(err.sql).toBeUndefined();
  });

  it('prefers the SQL and parameters given in the context over those of the cause', () => {
    const cause = { query: 'SELECT 1', parameters: ['a'], driverError: { code: '23505' } };
    const err = new TransactionError('failed', { cause, sql: 'SELECT 2', parameters: [true] });
    expect(err.sql).toBe('SELECT 2');
    expect(err.parameters).toEqual(['<boolean>']);
    expect(err.code).toBe('23505');
  });

  it('redacts every kind of parameter to its type, never its value', () => {
    const err = new TransactionError('failed', {
      parameters: [
        'password',
        '',
        12.5,
        true,
        null,
        undefined,
        10n,
        new Date(0),
        Buffer.from('abc'),
        new Uint8Array(4),
        { card: '4111' },
      ],
    });
    expect(err.parameters).toEqual([
      '<string(8)>',
      '<string(0)>',
      '<number>',
      '<boolean>',
      'null',
      '<undefined>',
      '<bigint>',
      '<date>',
      '<bytes(3)>',
      '<bytes(4)>',
      '<object>',
    ]);
    const shown = JSON.stringify(err.parameters);
    for (const secret of ['password', '12.5', '4111', 'abc']) expect(shown).not.toContain(secret);
  });

  it('keeps the redacted parameters read-only', () => {
    const err = new TransactionError('failed', { parameters: ['x'] });
    expect(Object.isFrozen(err.parameters)).toBe(true);
  });

  it('ignores a cause that is not an object', () => {
    const err = new TransactionError('failed', { cause: 'just a string' });
    expect(err.cause).toBe('just a string');
    expect(err.code).toBeUndefined();
    expect(err.sql).toBeUndefined();
  });
});

describe('BrokerClosedError', () => {
  it('names the broker, says what could not run and what to do instead', () => {
    const err = new BrokerClosedError('LogBroker(sqlite::memory:)', 'transaction setNameValue');
    expect(err.broker).toBe('LogBroker(sqlite::memory:)');
    expect(err.message).toContain('LogBroker(sqlite::memory:) is shut down');
    expect(err.message).toContain('cannot run transaction setNameValue');
    expect(err.message).toMatch(/Create a new broker|before calling shutdown\(\)/);
  });

  it("says 'work' when not told what was submitted", () => {
    expect(new BrokerClosedError('B').message).toContain('cannot run work');
  });
});

describe('DatabaseError', () => {
  it('keeps message, cause and target', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const err = new DatabaseError('cannot reach postgres: start it or set SASYNC_PG_URL', {
      cause,
      target: 'postgres://u:***@h/db',
    });
    expect(err.message).toBe('cannot reach postgres: start it or set SASYNC_PG_URL');
    expect(err.cause).toBe(cause);
    expect(err.target).toBe('postgres://u:***@h/db');
  });

  it('leaves target undefined when not given', () => {
    expect(new DatabaseError('x').target).toBeUndefined();
  });
});

describe('AsyncError', () => {
  it('keeps message and cause', () => {
    const cause = new Error('not loaded');
    const err = new AsyncError('get() needs await here: call preload() first for synchronous access', { cause });
    expect(err.message).toBe('get() needs await here: call preload() first for synchronous access');
    expect(err.cause).toBe(cause);
  });
});

describe('MissingKeyError', () => {
  it('names the key and the group and tells the caller about get(key, default)', () => {
    const err = new MissingKeyError('colour', 'prefs');
    expect(err.key).toBe('colour');
    expect(err.message).toContain('no item "colour" in group "prefs"');
    expect(err.group).toBe('prefs');
    expect(err.message).toContain('get(key, default)');
  });

  it('keeps a non-string key as it was', () => {
    const key = { x: 1 };
    const err = new MissingKeyError(key);
    expect(err.key).toBe(key);
    expect(err.message).toContain('no item {"x":1}');
    expect(err.message).not.toContain('in group');
  });
});

describe('SerializationError', () => {
  it('keeps message, cause and path', () => {
    const cause = new TypeError('Converting circular structure to JSON');
    const err = new SerializationError('cannot store a cyclic value: break the cycle or use a Map', {
      cause,
      path: 'value.child.parent',
    });
    expect(err.message).toBe('cannot store a cyclic value: break the cycle or use a Map');
    expect(err.cause).toBe(cause);
    expect(err.path).toBe('value.child.parent');
  });

  it('leaves path undefined when not given', () => {
    expect(new SerializationError('x').path).toBeUndefined();
  });
});

describe('InvalidIdentifierError', () => {
  it.each(['table', 'column', 'index', 'type'] as const)('names the %s, the identifier and the reason', (kind) => {
    const err = new InvalidIdentifierError(kind, 'drop table;', 'only letters, digits and _ are allowed');
    expect(err.kind).toBe(kind);
    expect(err.identifier).toBe('drop table;');
    expect(err.message).toBe(`invalid ${kind} "drop table;": only letters, digits and _ are allowed`);
  });
});

describe('InvalidKeyError', () => {
  it('names the key, the group and the reason', () => {
    const err = new InvalidKeyError('', 'prefs', 'a key cannot be empty');
    expect(err).toMatchObject({ key: '', group: 'prefs' });
    expect(err.message).toBe('invalid key "" for group "prefs": a key cannot be empty');
  });

  it('shortens a long key and describes a key that is not a string', () => {
    expect(new InvalidKeyError('k'.repeat(300), 'g', 'too long').message).toContain(`"${'k'.repeat(40)}…"`);
    expect(new InvalidKeyError({}, 'g', 'not a string').message).toContain('invalid key (object)');
    expect(new InvalidKeyError(7, 'g', 'not a string').message).toContain('invalid key 7');
  });
});

describe('TransactIterationError', () => {
  it('keeps message and cause', () => {
    const cause = new Error('first iteration');
    const err = new TransactIterationError('this RowStream is already being iterated: subscribe again instead', {
      cause,
    });
    expect(err.message).toBe('this RowStream is already being iterated: subscribe again instead');
    expect(err.cause).toBe(cause);
  });
});

describe('ConnectionLostError', () => {
  const fatal = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });

  it('names the target and the driver code, says the server rolled back and that retry may help', () => {
    const err = new ConnectionLostError('running transaction save', { cause: fatal, target: 'postgres://h/db' });
    expect(err.message).toBe(
      'the connection to postgres://h/db was lost (57P01) while running transaction save: ' +
        'terminating connection due to administrator command; the transaction was rolled back by the server; ' +
        'it may succeed if re-run: pass { retry: n }',
    );
    expect(err).toMatchObject({ code: '57P01', target: 'postgres://h/db', duringCommit: false, cause: fatal });
    expect(new TransactionError('failed', { cause: err }).code).toBe('57P01');
  });

  it('says the outcome is unknown when COMMIT was on the way, and does not suggest retry', () => {
    const err = new ConnectionLostError('running transaction', { cause: fatal, duringCommit: true });
    expect(err.duringCommit).toBe(true);
    expect(err.message).toMatch(/whether it committed is unknown/);
    expect(err.message).not.toMatch(/retry: n/);
  });

  it('says nothing was run when the connection could not be opened', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const err = new ConnectionLostError('running transaction', { cause: refused, connecting: true });
    expect(err.message).toMatch(/^could not open a connection to the database \(ECONNREFUSED\).*nothing was run/);
  });

  it('has code 08006 (connection_failure) when the driver gave none', () => {
    const err = new ConnectionLostError('reading a row stream', {
      cause: new Error('Connection terminated unexpectedly'),
    });
    expect(err.code).toBe('08006');
    expect(err.message).not.toMatch(/retry/);
  });
});
