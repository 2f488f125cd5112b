import type { DataSource, QueryRunner } from 'typeorm';
import type { OutsideGate } from '../dialect-connections';
import { runnerView } from './runner-view';

/** Each gated DataSource's own createQueryRunner, for sasync's calls that hold the slot already. */
const own = new WeakMap<DataSource, DataSource['createQueryRunner']>();

/**
 * Makes TypeORM calls on `ds` from outside sasync's work wait for the queue:
 * `ds.createQueryRunner()` (which `dataSource.manager`, `dataSource.query()`
 * and `dataSource.transaction()` call for each operation) returns, to a
 * caller that does not hold the queue's slot, a view of the runner that
 * takes the slot before its first statement and gives it back on release().
 * Where TypeORM has one connection and one runner for everything (sqlite),
 * such a call would otherwise run inside whatever transaction sasync is
 * running, and be rolled back with it.
 *
 * TypeORM internal: `DataSource.createQueryRunner` is replaced on the live
 * DataSource (TypeORM has no hook for runner creation; its manager and
 * repositories call it on `this` for each operation). Breaks if TypeORM
 * makes runners some other way, or caches the one it made: outside calls
 * would run inside sasync's transaction (spec/dialect/outside-calls.spec.ts).
 * Returns what takes the gate off (spec/broker/datasource-target.spec.ts).
 */
export function gateOutsideCalls(ds: DataSource, gate: OutsideGate): () => void {
  if (own.has(ds)) return () => undefined;
  const hadOwn = Object.prototype.hasOwnProperty.call(ds, 'createQueryRunner');
  const previous = ds.createQueryRunner;
  const create = previous.bind(ds);
  own.set(ds, create);
  let active = true;
  const gated: DataSource['createQueryRunner'] = (mode) => {
    const runner = create(mode);
    const claim = active ? gate.claim() : undefined;
    if (!claim) return runner;
    let held: Promise<() => void> | undefined;
    return runnerView(ds, runner, {
      enter: () => {
        held ??= claim();
        return held.then(() => undefined);
      },
      release: async (release) => {
        const slot = held;
        held = undefined;
        try {
          await release();
        } finally {
          await slot?.then(
            (giveBack) => giveBack(),
            () => undefined,
          );
        }
      },
    });
  };
  ds.createQueryRunner = gated;
  // Taken off when sasync leaves a DataSource it did not make: left as it
  // was, or, if something wrapped it meanwhile, passing calls straight on.
  return () => {
    active = false;
    own.delete(ds);
    if (ds.createQueryRunner !== gated) return;
    if (hadOwn) ds.createQueryRunner = previous;
    else delete (ds as Partial<DataSource>).createQueryRunner;
  };
}

/** A runner of `ds` for a caller that holds the queue's slot (not gated). */
export function ownQueryRunner(ds: DataSource): QueryRunner {
  return (own.get(ds) ?? ds.createQueryRunner.bind(ds))();
}
