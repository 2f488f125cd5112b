/**
 * Reads on replicas (issue 15): read throughput and p99 with reads on the
 * primary only vs on the primary + one streaming replica, with a write
 * load beside them; and the client CPU the read-your-writes check adds to
 * each read.
 *
 *   npx tsx bench/replicas.ts [--seconds=5] [--readers=16] [--writers=2]
 *
 * A private primary and replica (spec/support/pg-cluster.ts: initdb,
 * pg_basebackup -R, on free ports; the shared server is never touched).
 * Each phase runs `readers` loops of a point SELECT through one broker and
 * `writers` loops of an UPDATE through another broker (another DataSource:
 * the writes of other processes, which the readers need not wait for), for
 * `seconds`. `primary only`: the readers' broker is on the primary's URL;
 * `primary + replica`: on `{ primary, replicas: [replica] }`. A third phase
 * has every reader write and then read its own row through the replicated
 * broker (read-your-writes: the share the replica served is reported). On
 * one machine both servers share its cores: the figure to read is how reads
 * spread, not a scale-out.
 *
 * The per-read CPU: the routing decision a read on a replicated target
 * makes (the read check of the SQL, the commit position it must see, the
 * choice of a replica that has replayed it), timed in a loop, in process.
 */
import { AccessBroker } from '../lib';
import { isReadSql } from '../lib/dialect/postgres/read-sql';
import { ReplicaChoice } from '../lib/replicas/replica-choice';
import type { ReplicaNode } from '../lib/replicas/replica-node';
import { createCluster, type PgCluster } from '../spec/support/pg-cluster';

function arg(name: string, fallback: number): number {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found ? Number(found.slice(name.length + 3)) : fallback;
}

const SECONDS = arg('seconds', 5);
const READERS = arg('readers', 16);
const WRITERS = arg('writers', 2);
const ROWS = 10_000;
const READ = 'SELECT id, v FROM bench WHERE id = $1';

interface PhaseResult {
  readonly reads: number;
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly writesPerSecond: number;
  readonly onReplica?: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
}

async function phase(reader: AccessBroker, writer: AccessBroker, ownWrites: boolean): Promise<PhaseResult> {
  const latencies: number[] = [];
  let writes = 0;
  let onReplica = 0;
  const end = Date.now() + SECONDS * 1000;
  const readLoop = async (n: number) => {
    while (Date.now() < end) {
      const id = 1 + Math.floor(Math.random() * ROWS);
      if (ownWrites) {
        await reader.query('UPDATE bench SET v = v + 1 WHERE id = $1', [id]);
        writes++;
      }
      const t = process.hrtime.bigint();
      const [row] = await reader.query<{ replica: boolean }>(
        ownWrites ? 'SELECT id, v, pg_is_in_recovery() AS replica FROM bench WHERE id = $1' : READ,
        [id],
      );
      latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (row?.replica) onReplica++;
      void n;
    }
  };
  const writeLoop = async () => {
    while (Date.now() < end) {
      await writer.query('UPDATE bench SET v = v + 1 WHERE id = $1', [1 + Math.floor(Math.random() * ROWS)]);
      writes++;
    }
  };
  const started = Date.now();
  await Promise.all([
    ...Array.from({ length: READERS }, (_, n) => readLoop(n)),
    ...Array.from({ length: ownWrites ? 0 : WRITERS }, writeLoop),
  ]);
  const seconds = (Date.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    reads: latencies.length,
    perSecond: Math.round(latencies.length / seconds),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    writesPerSecond: Math.round(writes / seconds),
    ...(ownWrites ? { onReplica: onReplica / latencies.length } : {}),
  };
}

/** The routing decision's client CPU per read, in µs (see the file's comment). */
function decisionMicros(): number {
  const node = { available: true, replayed: 1n << 40n, inflight: 0, revive: () => undefined } as unknown as ReplicaNode;
  const choice = new ReplicaChoice([node], 100, 5000);
  const sql = 'SELECT id, v FROM bench WHERE id = $1';
  const runs = 1_000_000;
  let hits = 0;
  const started = process.cpuUsage();
  for (let i = 0; i < runs; i++) {
    if (isReadSql(sql) && choice.choose(BigInt(i)) === node) hits++;
  }
  const used = process.cpuUsage(started);
  if (hits !== runs) throw new Error('the decision did not pick the replica');
  return (used.user + used.system) / runs;
}

async function main(): Promise<void> {
  let primary: PgCluster | undefined;
  let replica: PgCluster | undefined;
  try {
    primary = await createCluster();
    replica = await primary.replica();
    const writerUrl = `${primary.url}?application_name=bench-writer&max=${Math.max(2, WRITERS)}`;
    const setup = new AccessBroker(primary.url);
    await setup.query('CREATE TABLE bench (id int PRIMARY KEY, v int NOT NULL)');
    await setup.query('INSERT INTO bench SELECT g, 0 FROM generate_series(1, $1::int) g', [ROWS]);
    await setup.shutdown();
    const pool = `max=${READERS + 2}`;
    const results: Record<string, PhaseResult> = {};
    for (const [name, target, own] of [
      ['primary only', `${primary.url}?${pool}`, false],
      ['primary + replica', { primary: `${primary.url}?${pool}`, replicas: [`${replica.url}?${pool}`] }, false],
      [
        'write-then-read, primary + replica',
        { primary: `${primary.url}?${pool}`, replicas: [`${replica.url}?${pool}`] },
        true,
      ],
    ] as const) {
      const reader = new AccessBroker(target);
      const writer = new AccessBroker(writerUrl);
      try {
        await Promise.all([reader.waitUntilRunning(), writer.waitUntilRunning()]);
        results[name] = await phase(reader, writer, own);
      } finally {
        await Promise.all([reader.shutdown(), writer.shutdown()]);
      }
    }
    console.log(`replicas: ${READERS} readers, ${WRITERS} writers, ${SECONDS} s per phase, one machine`);
    console.table(
      Object.fromEntries(
        Object.entries(results).map(([k, r]) => [
          k,
          {
            'reads/s': r.perSecond,
            'p50 ms': r.p50.toFixed(3),
            'p99 ms': r.p99.toFixed(3),
            'writes/s': r.writesPerSecond,
            'on replica': r.onReplica === undefined ? '' : `${(r.onReplica * 100).toFixed(1)} %`,
          },
        ]),
      ),
    );
    console.log(
      `routing decision per read (read check + position + replica choice): ${decisionMicros().toFixed(3)} µs CPU`,
    );
  } finally {
    await replica?.remove();
    await primary?.remove();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
