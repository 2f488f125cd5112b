import { TransactionOpening } from '../../lib/dialect/postgres/transaction-opening';

const idle = () => true;
const busy = () => false;

describe('TransactionOpening', () => {
  it("tells the first statement after an idle connection's BEGIN (and SET TRANSACTION) how to begin again, and no later one", () => {
    const o = new TransactionOpening();
    expect(o.follow('START TRANSACTION', idle)).toBeUndefined();
    expect(o.follow('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ', idle)).toBeUndefined();
    expect(o.follow(undefined, idle)).toEqual([
      'ROLLBACK',
      'START TRANSACTION',
      'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ',
    ]);
    expect(o.follow(undefined, idle)).toBeUndefined();
    expect(o.follow('SELECT 1', idle)).toBeUndefined();
  });

  it('a SAVEPOINT: its first statement rolls back to it', () => {
    const o = new TransactionOpening();
    o.follow('START TRANSACTION', idle);
    expect(o.follow('SELECT 1', idle)).toEqual(['ROLLBACK', 'START TRANSACTION']);
    expect(o.follow('SAVEPOINT typeorm_1', busy)).toBeUndefined();
    expect(o.follow(undefined, busy)).toEqual(['ROLLBACK TO SAVEPOINT typeorm_1']);
  });

  it.each([
    ['a BEGIN sent while the connection is not idle (inside a transaction it opens nothing)', 'BEGIN', busy],
    ['a BEGIN with a statement after it', 'BEGIN; INSERT INTO t VALUES (1)', idle],
    ['anything else', 'SELECT 1', idle],
  ])('opens nothing: %s', (_, text, state) => {
    const o = new TransactionOpening();
    expect(o.follow(text, state)).toBeUndefined();
    expect(o.follow(undefined, state)).toBeUndefined();
  });

  it('a SET TRANSACTION after anything but BEGIN opens nothing', () => {
    const o = new TransactionOpening();
    o.follow('SAVEPOINT a', busy);
    expect(o.follow('SET TRANSACTION READ ONLY', busy)).toEqual(['ROLLBACK TO SAVEPOINT a']);
    expect(o.follow(undefined, busy)).toBeUndefined();
  });

  it('counts the boundaries of transactions sent (BEGIN, COMMIT, ROLLBACK, ROLLBACK TO SAVEPOINT) and reopenings', () => {
    const o = new TransactionOpening();
    for (const text of ['START TRANSACTION', 'SELECT 1', 'ROLLBACK TO SAVEPOINT a', 'COMMIT', 'SELECT 2', 'ROLLBACK'])
      o.follow(text, busy);
    o.reopened();
    expect(o.boundaries).toBe(5);
  });
});
