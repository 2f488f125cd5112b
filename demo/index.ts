/**
 * The sasync tour: `npm run demo` (sqlite file) or
 * `npm run demo -- --db postgres://postgres@127.0.0.1:5432/test`.
 */
import { lastValueFrom, merge, tap, type Observable } from 'rxjs';
import type { EntityManager } from 'typeorm';
import { SasyncError, TransactionError } from '../lib';
import { resetDatabase, targetFromArgs } from './cli';
import { LogBroker, type LogRecord } from './log-broker';

const say = console.log;
const heading = (title: string) => say(`\n== ${title}`);

/** A log record for `url`, stamped now. */
const hit = (url: string, http = 200): LogRecord => ({ dt: new Date(), ip: '192.0.2.7', http, url });

async function main(): Promise<void> {
  const started = Date.now();
  const target = targetFromArgs(process.argv.slice(2));
  await resetDatabase(target);

  const broker = new LogBroker(target);
  say(`sasync demo on ${target} (${broker.dialect})`);
  heading('Start-up: startup() made the tables, first(tx) seeded them');
  await broker.waitUntilRunning();
  for (const t of Object.values(broker.tables).sort((a, b) => a.name.localeCompare(b.name))) {
    const indexes = Object.values(t.indexes).map((i) => i.dbName);
    say(`  table ${t.name}: ${t.columns.map((c) => c.name).join(', ')}; indexes ${indexes.join(', ')}`);
  }
  say(`  first(tx) seeded url '/' as id ${await lastValueFrom(broker.urlId('/'))}`);

  heading('Cold Observables');
  const cold = broker.setNameValue('url', '/cold');
  say(`  made setNameValue('url', '/cold'); its id in the table: ${await lastValueFrom(broker.urlId('/cold'))}`);
  say(`  subscribed: id ${await lastValueFrom(cold)}; again: id ${await lastValueFrom(cold)} (ran again, found it)`);

  heading('Priority (one queue, UNIX niceness)');
  // All submitted in the same tick: 30 nice records, then urgent work. Whatever
  // already holds a slot finishes first (sqlite: one; postgres: several).
  const order: string[] = [];
  const mark = <T>(label: string, work: Observable<T>) => work.pipe(tap({ complete: () => order.push(label) }));
  const jobs = [
    ...Array.from({ length: 30 }, (_, i) => mark('n', broker.setRecord.with({ niceness: 20 })(hit(`/page/${i}`)))),
    ...Array.from({ length: 3 }, (_, i) => mark('U', broker.setNameValue.with({ niceness: -20 })('url', `/u${i}`))),
    mark('!', broker.setNameValue.with({ doNext: true })('url', '/next')),
  ];
  await lastValueFrom(merge(...jobs), { defaultValue: undefined });
  say('  submitted: 30 x niceness 20 (n), then 3 x niceness -20 (U), then 1 doNext (!)');
  say(`  completed: ${order.join('')}`);
  const overtaken = order.length - 1 - Math.max(order.lastIndexOf('U'), order.lastIndexOf('!'));
  say(`  the 4 urgent ones all finished before the last ${overtaken} nice ones, though submitted after them`);
  const slots = broker.dialect === 'sqlite' ? 'one at a time' : 'several at once, so their ends interleave';
  say(`  (what had already started ran on; ${broker.dialect} runs transactions ${slots})`);
  say(`  all ${order.length} of ${jobs.length} done: nice work waits, but is never starved`);

  heading('Nesting');
  // A transaction method called inside another's work joins its transaction.
  const joined = await lastValueFrom(
    broker.transact(async (tx) => {
      const ownTxid = await txid(tx);
      const idUrl = await lastValueFrom(broker.setRecord(hit('/nested')));
      const innerTxid = await lastValueFrom(broker.transact(txid));
      return { idUrl, ownTxid, innerTxid };
    }),
  );
  say(`  outer -> setRecord -> setNameValue joined one transaction: url id ${joined.idUrl}`);
  if (joined.ownTxid !== null) say(`  txid_current(): outer ${joined.ownTxid}, nested ${joined.innerTxid}`);

  // With { savepoint: true } a nested part can fail alone: the outer goes on.
  const before = await lastValueFrom(broker.entryCount());
  const outcome = await lastValueFrom(
    broker.transact(async () => {
      await lastValueFrom(broker.setRecord(hit('/kept')));
      const risky = broker.transact(
        // Adds the URL '/draft', then fails on the NOT NULL dt.
        () => lastValueFrom(broker.setRecord({ ...hit('/draft'), dt: null })),
        { savepoint: true },
      );
      return lastValueFrom(risky).then(
        () => 'committed',
        (err: TransactionError) => `failed (${err.code}), rolled back to its savepoint`,
      );
    }),
  );
  say(`  savepoint part: ${outcome}`);
  say(
    `  outer committed: entries ${before} -> ${await lastValueFrom(broker.entryCount())}, ` +
      `'/kept' id ${await lastValueFrom(broker.urlId('/kept'))}, '/draft' id ${await lastValueFrom(broker.urlId('/draft'))}`,
  );

  heading('Errors');
  try {
    // setNameValue inserts '/oops', then the entry fails: both roll back.
    await lastValueFrom(broker.setRecord({ ...hit('/oops'), dt: null }));
  } catch (err) {
    if (!(err instanceof TransactionError)) throw err;
    say(`  ${err.name}: ${err.message}`);
    say(`  code ${err.code}, sql: ${err.sql}`);
  }
  say(`  '/oops', added by the nested setNameValue, rolled back too: id ${await lastValueFrom(broker.urlId('/oops'))}`);
  say(`  still serving: setRecord('/after') -> url id ${await lastValueFrom(broker.setRecord(hit('/after')))}`);

  heading('Shutdown');
  const counted = lastValueFrom(broker.entryCount()); // submitted before shutdown: it still runs
  await broker.shutdown();
  say(`  entries at the end: ${await counted}; shut down after ${Date.now() - started} ms`);
  await lastValueFrom(broker.entryCount()).catch((err: Error) => say(`  afterwards: ${err.name}`));
}

/** postgres's transaction id, or null on sqlite (which has none to show). */
async function txid(tx: EntityManager): Promise<string | null> {
  if (tx.connection.options.type !== 'postgres') return null;
  const rows: { id: string }[] = await tx.query('SELECT txid_current() AS id');
  return rows[0]!.id;
}

main().catch((err: unknown) => {
  // sasync's own errors say what to do in one line; anything else gets its stack.
  console.error(err instanceof SasyncError ? `demo: ${err.name}: ${err.message}` : err);
  process.exitCode = 1;
});
