import type { DataSourceOptions } from 'typeorm';
import { DatabaseError } from '../../lib';
import { resolveTarget, type DatabaseTarget } from '../../lib/target';

const PRIMARY = 'postgres://app@db1:5432/app';
const REPLICA = 'postgres://app@db2:5432/app';

function thrownBy(target: unknown): Error {
  try {
    resolveTarget(target as DatabaseTarget);
  } catch (err) {
    return err as Error;
  }
  throw new Error('resolveTarget did not throw');
}

describe('resolveTarget: { primary, replicas }', () => {
  it("resolves to the primary's target (its key: brokers on the primary share its DataSource) with its replicas", () => {
    const resolved = resolveTarget({ primary: PRIMARY, replicas: [REPLICA] });
    expect(resolved.key).toBe(resolveTarget(PRIMARY).key);
    expect(resolved.options).toMatchObject({ type: 'postgres', url: `${PRIMARY}` });
    expect(resolved.replicas?.map((r) => r.key)).toEqual([resolveTarget(REPLICA).key]);
    expect(resolved.replication).toEqual({ maxReplicaWait: 100, maxReplicaLag: 5000 });
  });

  it('takes the waiting bounds and DataSourceOptions members', () => {
    const replica: DataSourceOptions = { type: 'postgres', host: 'db3', database: 'app' };
    const resolved = resolveTarget({ primary: PRIMARY, replicas: [replica], maxReplicaWait: 0, maxReplicaLag: 50 });
    expect(resolved.replicas?.[0]?.options).toBe(replica);
    expect(resolved.replication).toEqual({ maxReplicaWait: 0, maxReplicaLag: 50 });
  });

  // As TypeORM reads them: with replication, the connection fields at the top (database here) are not used.
  it("reads TypeORM's replication options as the same thing, the same object giving the same key", () => {
    const options = {
      type: 'postgres',
      database: 'app',
      poolSize: 4,
      replication: {
        master: { host: 'db1', username: 'app' },
        slaves: [{ host: 'db2', username: 'app' }, { url: REPLICA }],
      },
    } as DataSourceOptions;
    const resolved = resolveTarget(options);
    expect(resolved.key).toBe(options);
    expect(resolveTarget(options)).toBe(resolved);
    expect(resolved.options).toEqual({ type: 'postgres', poolSize: 4, host: 'db1', username: 'app' });
    expect(resolved.replicas?.map((r) => r.options)).toEqual([
      { type: 'postgres', poolSize: 4, host: 'db2', username: 'app' },
      { type: 'postgres', poolSize: 4, url: REPLICA },
    ]);
  });

  it.each([
    ['no primary', { replicas: [REPLICA] }, /it has no primary/],
    ['replicas not an array', { primary: PRIMARY, replicas: REPLICA }, /replicas must be an array, not "postgres/],
    [
      'a replica that is a number',
      { primary: PRIMARY, replicas: [5432] },
      /replica 0 must be a URL or DataSourceOptions, not 5432/,
    ],
    ['a malformed replica URL', { primary: PRIMARY, replicas: ['postgres://'] }, /bad database target/],
    [
      'a sqlite replica',
      { primary: PRIMARY, replicas: ['sqlite::memory:'] },
      /replica 0 is sqlite::memory:: replicas are postgres/,
    ],
    ['a sqlite primary', { primary: 'sqlite::memory:', replicas: [] }, /the primary is sqlite::memory:/],
    ['the primary as a replica', { primary: PRIMARY, replicas: [PRIMARY] }, /replica 0 \(.*\) is the primary/],
    ['a replica twice', { primary: PRIMARY, replicas: [REPLICA, REPLICA] }, /replica 1 \(.*\) is listed twice/],
    [
      'a nested replicated target',
      { primary: { primary: PRIMARY, replicas: [] }, replicas: [] },
      /not a DataSource or another replicated target/,
    ],
    [
      "TypeORM's replication without slaves",
      { type: 'postgres', replication: { master: {} } },
      /TypeORM's replication needs/,
    ],
  ])('refuses %s at once with DatabaseError', (_what, target, message) => {
    const error = thrownBy(target);
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error.message).toMatch(message);
  });

  it.each([
    ['maxReplicaWait', -1],
    ['maxReplicaWait', '100'],
    ['maxReplicaLag', Number.NaN],
  ])('refuses %s = %p with RangeError', (name, value) => {
    const error = thrownBy({ primary: PRIMARY, replicas: [], [name]: value });
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).toMatch(new RegExp(`^${name} must be a number of milliseconds`));
  });
});
