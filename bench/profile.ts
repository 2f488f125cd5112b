/**
 * A CPU profile of one subject's transactions, taken in this process (the
 * subject alone in it, as in the bench) around the timed part only, so that
 * start-up and warm-up stay out of it. Prints the top self-time frames, the
 * top frames of sasync's own code and the time per package, and writes the
 * .cpuprofile (open it in Chrome DevTools for the tree).
 *
 *   npm run build && npm run profile -- --db=postgres --in-flight=1 --lib=dist/lib
 */
import fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_PG_URL } from './options';
import { LIB_ENV, sasyncLibLabel } from './sasync-lib';
import { OPENERS } from './openers';
import type { OpenSubject } from './subject';
import { measure } from './timing';
import { postgresWorkload, sqliteWorkload, tableName } from './workload';

/** A node of the V8 CPU profile (the fields used here). */
interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      db: { type: 'string', default: 'postgres' },
      subject: { type: 'string', default: 'sasync' },
      'in-flight': { type: 'string', default: '1' },
      count: { type: 'string', default: '5000' },
      lib: { type: 'string' },
      out: { type: 'string' },
      top: { type: 'string', default: '25' },
      'no-profile': { type: 'boolean', default: false },
      heap: { type: 'boolean', default: false },
    },
  });
  if (values.lib !== undefined) process.env[LIB_ENV] = values.lib;
  const db = values.db;
  const open = (OPENERS as Record<string, Record<string, OpenSubject | undefined> | undefined>)[db]?.[values.subject];
  if (!open) throw new Error(`no subject ${values.subject} on ${db}`);
  const inFlight = Number(values['in-flight']);
  const count = Number(values.count);
  const sqliteFile = path.join(fs.mkdtempSync('/tmp/sasync-profile-'), 'profile.db');
  const target = db === 'postgres' ? (process.env.SASYNC_PG_URL ?? DEFAULT_PG_URL) : `sqlite:${sqliteFile}`;
  const workload = db === 'postgres' ? postgresWorkload : sqliteWorkload;
  const subject = await open({ target, workload, table: tableName(`profile_${values.subject}`) });
  const session = new Session();
  session.connect();
  try {
    await measure(subject.run, { warmup: 1000, count: 1000, inFlight });
    if (values['no-profile']) {
      const before = threadTicks();
      const usage = process.cpuUsage();
      const sample = await measure(subject.run, { warmup: 0, count, inFlight });
      const used = process.cpuUsage(usage);
      const after = threadTicks();
      console.log(`${values.subject} on ${db}, ${inFlight} in flight, ${count} transactions (${sasyncLibLabel()})`);
      console.log(
        `${Math.round(sample.opsPerSecond)} tx/s, ${Math.round(sample.cpuMicrosPerOp)} µs CPU/tx ` +
          `(user ${Math.round(used.user / count)}, system ${Math.round(used.system / count)})`,
      );
      console.table(
        [...after]
          .map(([thread, ticks]) => ({
            thread,
            'µs/tx': Math.round(((ticks - (before.get(thread) ?? 0)) * 1e4) / count),
          }))
          .filter((r) => r['µs/tx'] > 0),
      );
      return;
    }
    if (values.heap) {
      await session.post('HeapProfiler.enable');
      await session.post('HeapProfiler.startSampling', {
        samplingInterval: 256,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
      await measure(subject.run, { warmup: 0, count, inFlight });
      const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: HeapProfile };
      console.log(`${values.subject} on ${db}, ${inFlight} in flight: bytes allocated per transaction, by function`);
      reportHeap(profile, count, Number(values.top));
      return;
    }
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
    const sample = await measure(subject.run, { warmup: 0, count, inFlight });
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
    const out = values.out ?? `/tmp/sasync-${values.subject}-${db}-${inFlight}.cpuprofile`;
    fs.writeFileSync(out, JSON.stringify(profile));
    console.log(`${values.subject} on ${db}, ${inFlight} in flight, ${count} transactions (${sasyncLibLabel()})`);
    console.log(
      `${Math.round(sample.opsPerSecond)} tx/s, ${Math.round(sample.cpuMicrosPerOp)} µs CPU/tx ` +
        '(under the profiler: compare only with other profiles)',
    );
    report(profile, count, Number(values.top));
    console.log(`profile: ${out}`);
  } finally {
    session.disconnect();
    await subject.close();
    fs.rmSync(path.dirname(sqliteFile), { recursive: true, force: true });
  }
}

/** A node of the sampling heap profile (the fields used here). */
interface HeapNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly selfSize: number;
  readonly children: readonly HeapNode[];
}

interface HeapProfile {
  readonly head: HeapNode;
}

/** Prints the bytes allocated per transaction, in all and by allocating function (sampled). */
function reportHeap(profile: HeapProfile, count: number, top: number): void {
  const bytes = new Map<string, number>();
  let total = 0;
  const visit = (node: HeapNode): void => {
    const { functionName, url, lineNumber } = node.callFrame;
    const key = `${functionName || '(anonymous)'} ${shortUrl(url)}:${lineNumber + 1}`;
    bytes.set(key, (bytes.get(key) ?? 0) + node.selfSize);
    total += node.selfSize;
    node.children.forEach(visit);
  };
  visit(profile.head);
  console.log(`${Math.round(total / count)} bytes/tx in all`);
  console.table(
    [...bytes]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([frame, b]) => ({ frame, 'bytes/tx': Math.round(b / count) })),
  );
}

/** CPU clock ticks (1/100 s) used so far by each thread of this process, by thread name. */
function threadTicks(): Map<string, number> {
  const ticks = new Map<string, number>();
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const used = Number(fields[11]) + Number(fields[12]);
      const key = tid === String(process.pid) ? 'main' : name;
      ticks.set(key, (ticks.get(key) ?? 0) + used);
    } catch {
      // a thread that ended meanwhile
    }
  }
  return ticks;
}

/** Prints self time per frame, per sasync frame and per package, in µs per transaction. */
function report(profile: CpuProfile, count: number, top: number): void {
  const self = selfMicros(profile);
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const frames = new Map<string, number>();
  const packages = new Map<string, number>();
  for (const [id, micros] of self) {
    const { functionName, url, lineNumber } = byNode.get(id)!.callFrame;
    const key = `${functionName || '(anonymous)'} ${shortUrl(url)}:${lineNumber + 1}`;
    frames.set(key, (frames.get(key) ?? 0) + micros);
    const pkg = packageOf(functionName, url);
    packages.set(pkg, (packages.get(pkg) ?? 0) + micros);
  }
  const perTx = (m: number) => (m / count).toFixed(1);
  const table = (entries: [string, number][]) =>
    console.table(entries.slice(0, top).map(([frame, m]) => ({ frame, 'µs/tx': perTx(m) })));
  const sorted = [...frames].sort((a, b) => b[1] - a[1]);
  console.log('\nBy package (self time)');
  console.table([...packages].sort((a, b) => b[1] - a[1]).map(([pkg, m]) => ({ pkg, 'µs/tx': perTx(m) })));
  console.log('\nTop self-time frames');
  table(sorted.filter(([k]) => !k.startsWith('(idle)')));
  console.log('\nTop sasync frames (self time)');
  table(sorted.filter(([k]) => isSasync(k)));
}

/** Self time per node id, from the samples and their time deltas (µs). */
function selfMicros(profile: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
  }
  return self;
}

const isSasync = (key: string): boolean => / (dist\/)?lib\//.test(key) && !key.includes('node_modules');

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const lib = url.search(/\/(dist\/)?lib\//);
  if (lib >= 0) return url.slice(lib + 1);
  return url.replace(/^file:\/\//, '');
}

function packageOf(functionName: string, url: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return 'node';
  if (/\/(dist\/)?lib\//.test(url)) return 'sasync';
  return 'bench';
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
