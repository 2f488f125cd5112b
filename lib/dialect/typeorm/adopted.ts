import type { DataSource, QueryRunner } from 'typeorm';

/** What sasync does when the owner of a DataSource it uses destroys it. */
export interface OwnerDestroyHooks {
  /**
   * Called as the owner's `destroy()` begins, before TypeORM closes
   * anything: sasync refuses new work, closes its row streams (a pooled
   * stream connection would hold pg-pool's end() forever) and finalizes its
   * prepared statements. TypeORM's destroy() runs after it settles.
   */
  destroying(): Promise<void>;
  /** The error for a runner asked of the destroyed DataSource; undefined while it is usable. */
  refusal(): Error | undefined;
}

/**
 * Replaces `name` on the live object `target` by `wrap(previous)`; returns
 * what takes it back. The replacement is taken back only if it is still in
 * place; if something else has wrapped it meanwhile, ours stays in that
 * chain but passes every call straight through from then on.
 */
function replaceMethod<T extends object, K extends keyof T>(
  target: T,
  name: K,
  wrap: (previous: T[K], active: () => boolean) => T[K],
): () => void {
  const hadOwn = Object.prototype.hasOwnProperty.call(target, name);
  const previous = target[name];
  let active = true;
  const replacement = wrap(previous, () => active);
  target[name] = replacement;
  return () => {
    active = false;
    if (target[name] !== replacement) return;
    if (hadOwn) target[name] = previous;
    else delete target[name];
  };
}

/**
 * Watches an app's DataSource (one sasync did not make) for its owner's
 * destroy(), and refuses runners once it is destroyed with `hooks.refusal()`'s
 * clear error instead of TypeORM's "Driver not Connected" (postgres) or
 * "Connection with sqlite database is not established". Returns what takes
 * both back, so that the DataSource is left as it was.
 *
 * TypeORM internal: `DataSource.destroy` and `DataSource.createQueryRunner`
 * are replaced on the live object (TypeORM has no event for either: its
 * `close()` calls `this.destroy()`, its manager and repositories call
 * `this.createQueryRunner()`). Breaks if TypeORM closes a DataSource some
 * other way: sasync's streams would then hold pg-pool's end(), and queued
 * work would fail with TypeORM's own error
 * (spec/broker/datasource-target.spec.ts).
 */
export function watchOwnerDestroy(ds: DataSource, hooks: OwnerDestroyHooks): () => void {
  const undoDestroy = replaceMethod(
    ds,
    'destroy',
    (destroy, active) =>
      async function destroyAfterSasync(this: DataSource): Promise<void> {
        if (active()) await hooks.destroying().catch(() => undefined);
        return destroy.call(this);
      },
  );
  const undoRunner = replaceMethod(
    ds,
    'createQueryRunner',
    (create, active) =>
      function refusedOnceDestroyed(this: DataSource, mode?: 'master' | 'slave'): QueryRunner {
        const refused = active() && !this.isInitialized ? hooks.refusal() : undefined;
        if (refused) throw refused;
        return create.call(this, mode);
      },
  );
  return () => {
    undoRunner();
    undoDestroy();
  };
}

/**
 * The one QueryRunner TypeORM's sqlite driver shares between every caller,
 * if it has made it; undefined otherwise (and once the DataSource is destroyed).
 *
 * TypeORM internal: SqliteDriver's `queryRunner`. Why: sasync hooks that
 * runner's query() for its transactions, and takes the hook off when it
 * leaves an app's DataSource. Breaks if TypeORM renames it: the app's own
 * statements would still pass sasync's bound-value checks after the brokers
 * shut down (spec/broker/datasource-target.spec.ts).
 */
export function sqliteSharedRunner(ds: DataSource): QueryRunner | undefined {
  return (ds.driver as unknown as { queryRunner?: QueryRunner }).queryRunner;
}

/**
 * Makes overlapping `initialize()` calls on an app's DataSource share one
 * attempt while it runs: sasync's and its owner's (`new Broker(ds)` then
 * `await ds.initialize()`). TypeORM checks `isInitialized` only as it
 * starts, so two overlapping calls would each connect (two pools, or two
 * sqlite connections), one of them never closed. Returns what takes it back.
 *
 * TypeORM internal: `DataSource.initialize` is replaced on the live object.
 * Breaks if TypeORM initializes some other way (spec/broker/datasource-target.spec.ts).
 */
export function shareInitialize(ds: DataSource): () => void {
  let attempt: Promise<DataSource> | undefined;
  return replaceMethod(
    ds,
    'initialize',
    (initialize, active) =>
      function sharedInitialize(this: DataSource): Promise<DataSource> {
        if (!active()) return initialize.call(this);
        attempt ??= initialize.call(this).finally(() => (attempt = undefined));
        return attempt;
      },
  );
}
