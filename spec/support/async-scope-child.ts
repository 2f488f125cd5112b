/**
 * Run in a process of its own by spec/transaction/async-scope.spec.ts (Jest
 * itself keeps an AsyncLocalStorage on, so a promise hook is always on inside
 * it): uses sasync on the target in argv[2] and prints, as JSON, whether a
 * promise hook ran at each step.
 */
import { executionAsyncResource } from 'node:async_hooks';
import { lastValueFrom } from 'rxjs';
import { AccessBroker } from '../../lib';

/** With a promise hook on, a promise reaction runs with its promise as the current async resource. */
async function promiseHookOn(): Promise<boolean> {
  let resource: unknown;
  await Promise.resolve().then(() => {
    resource = executionAsyncResource();
  });
  return resource instanceof Promise;
}

async function main(target: string): Promise<Record<string, boolean>> {
  const seen: Record<string, boolean> = { before: await promiseHookOn() };
  const b = new AccessBroker(target);
  await b.waitUntilRunning();
  seen.afterStartUp = await promiseHookOn();
  const inside = await lastValueFrom(
    b.transact(async (tx) => {
      const nested = await lastValueFrom(b.transact(async () => promiseHookOn()));
      await lastValueFrom(b.transact(() => tx.query('SELECT 1'), { savepoint: true }));
      return { work: await promiseHookOn(), nested };
    }),
  );
  seen.inWork = inside.work;
  seen.inNested = inside.nested;
  seen.afterTransactions = await promiseHookOn();
  seen.inRun = await lastValueFrom(b.run(() => promiseHookOn()));
  seen.afterRun = await promiseHookOn();
  await b.dataSource.query('SELECT 1');
  await b.dataSource.transaction((m) => m.query('SELECT 1'));
  seen.afterOutsideCalls = await promiseHookOn();
  await b.shutdown();
  seen.afterShutdown = await promiseHookOn();
  return seen;
}

main(process.argv[2]!).then(
  (seen) => console.log(JSON.stringify(seen)),
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
