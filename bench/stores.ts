import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'devalue';
import { DataSource } from 'typeorm';
import type { BenchOptions } from './options';
import { sasyncLib } from './sasync-lib';
import { median } from './stats';

/** What the stores issue must reach (issue 4). */
export const CACHED_GET_TARGET = 1_000_000;
export const DICT_VS_INSERT_TARGET = 0.5; // the dict within 2x of one multi-row INSERT

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const ratio = (n: number): string => n.toFixed(3);
const value = (i: number) => ({ n: i, at: new Date(1_700_000_000_000 + i), tags: ['a', 'b'] });

interface StoreRow {
  database: string;
  measure: string;
  sasync: string;
  baseline: string;
  ratio: string;
  target: string;
}

/** Runs `fn` `rounds` times; the median rate of `count / seconds`. */
async function rate(rounds: number, count: number, fn: (round: number) => Promise<void>): Promise<number> {
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    await fn(r);
    rates.push(count / (Number(process.hrtime.bigint() - start) / 1e9));
  }
  return median(rates);
}

/** The stores part: cached gets, bulk writes against Items and a multi-row INSERT, cold gets. */
export async function benchStores(options: BenchOptions, pgOk: boolean, progress: (line: string) => void) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sasync-bench-stores-'));
  const rows: StoreRow[] = [];
  const rounds = Math.min(options.rounds, 3);
  try {
    const targets: [string, string][] = [['sqlite', `sqlite:${path.join(dir, 'stores.db')}`]];
    if (pgOk) targets.push(['postgres', options.pgUrl]);
    for (const [name, target] of targets) {
      progress(`stores: ${name}`);
      rows.push(...(await benchOne(name, target, options.quick, rounds, progress)));
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  console.log(`\nStores (median of ${rounds} rounds; ratio = sasync / baseline, higher is better)`);
  console.table(rows);
}

async function benchOne(
  database: string,
  target: string,
  quick: boolean,
  rounds: number,
  progress: (line: string) => void,
): Promise<StoreRow[]> {
  const { PersistentDict, Items, resolveTarget } = sasyncLib();
  const run = `${process.pid}_${Date.now().toString(36)}`;
  const rows: StoreRow[] = [];
  const writes = quick ? 10_000 : 100_000;
  const itemInserts = quick ? 500 : 3000;

  // Cached get: a preloaded dict answers from memory.
  const cached = new PersistentDict<string, unknown>(`bench_cached_${run}`, target);
  for (let i = 0; i < 1000; i++) void cached.set(`k${i}`, value(i));
  await cached.flush();
  const gets = quick ? 200_000 : 2_000_000;
  const getRate = await rate(rounds, gets, async () => {
    for (let i = 0; i < gets; i++) await cached.get(`k${i % 1000}`);
  });
  const view = await cached.preload();
  const viewRate = await rate(rounds, gets, async () => {
    for (let i = 0; i < gets; i++) view.get(`k${i % 1000}`);
  });
  await cached.shutdown();
  rows.push(
    row(database, 'cached get(), awaited, ops/s', getRate, CACHED_GET_TARGET, `≥ ${int(CACHED_GET_TARGET)}`),
    row(database, 'preloaded view.get(), ops/s', viewRate, CACHED_GET_TARGET, `≥ ${int(CACHED_GET_TARGET)}`),
  );

  // Bulk writes: the dict's lazy, batched writes against the same rows
  // written by one multi-row INSERT through TypeORM, and by Items.insert.
  progress(`stores: ${database}: ${int(writes)} sets`);
  const dictRate = await rate(rounds, writes, async (r) => {
    const d = new PersistentDict<string, unknown>(`bench_dict_${run}_${r}`, target);
    await d.waitUntilRunning();
    for (let i = 0; i < writes; i++) void d.set(`k${i}`, value(i));
    await d.flush();
    await d.shutdown();
  });
  const ds = new DataSource({ ...resolveTarget(target).options, logging: false });
  await ds.initialize();
  const p = (n: number) => (ds.options.type === 'postgres' ? `$${n}` : '?');
  const insertRate = await rate(rounds, writes, async (r) => {
    const group = `bench_insert_${run}_${r}`;
    await ds.transaction(async (tx) => {
      for (let start = 0; start < writes; start += 500) {
        const parameters: unknown[] = [];
        const values: string[] = [];
        for (let i = start; i < Math.min(writes, start + 500); i++) {
          const n = parameters.push(group, `k${i}`, stringify(value(i)));
          values.push(`(${p(n - 2)}, ${p(n - 1)}, ${p(n)})`);
        }
        await tx.query(`INSERT INTO sasync_items (group_id, name, value) VALUES ${values.join(', ')}`, parameters);
      }
    });
  });
  progress(`stores: ${database}: ${int(itemInserts)} Items.insert`);
  const itemsRate = await rate(rounds, itemInserts, async (r) => {
    const items = new Items<string, unknown>(`bench_items_${run}_${r}`, target);
    for (let i = 0; i < itemInserts; i++) await items.insert(`k${i}`, value(i));
    await items.shutdown();
  });
  rows.push(
    row(database, `${int(writes)} set + flush vs one multi-row INSERT, rows/s`, dictRate, insertRate, '≥ 0.5'),
    row(database, `${int(writes)} set + flush vs Items.insert (1 tx each), rows/s`, dictRate, itemsRate, ''),
  );

  // Cold gets: a new dict on 10,000 stored keys, one at a time vs 100 in flight.
  const coldKeys = quick ? 2000 : 10_000;
  const seed = new PersistentDict<string, unknown>(`bench_cold_${run}`, target);
  for (let i = 0; i < coldKeys; i++) void seed.set(`k${i}`, value(i));
  await seed.flush();
  const cold = async (inFlight: number) =>
    rate(rounds, coldKeys, async () => {
      const d = new PersistentDict<string, unknown>(`bench_cold_${run}`, target);
      let next = 0;
      const worker = async () => {
        while (next < coldKeys) await d.get(`k${next++}`);
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
      await d.shutdown();
    });
  progress(`stores: ${database}: cold gets`);
  const sequential = await cold(1);
  const concurrent = await cold(100);
  await seed.clear();
  await seed.shutdown();
  rows.push(row(database, 'cold get(), 100 in flight vs sequential, gets/s', concurrent, sequential, ''));

  await ds.query(`DELETE FROM sasync_items WHERE group_id LIKE ${p(1)}`, [`bench_%${run}%`]);
  await ds.destroy();
  return rows;
}

function row(database: string, measure: string, sasync: number, baseline: number, target: string): StoreRow {
  return { database, measure, sasync: int(sasync), baseline: int(baseline), ratio: ratio(sasync / baseline), target };
}
