import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { writeSampleLog } from '../../demo/statalysis/generate';
import { importFile } from '../../demo/statalysis/import';
import { readReport, type Report } from '../../demo/statalysis/report';
import { StatBroker } from '../../demo/statalysis/stat-broker';
import { pgAvailable, scratchDir } from '../support/targets';
import {
  independentCount,
  places,
  postgresPlace,
  rowCount,
  runMain,
  sqlitePlace,
  startMain,
  type Place,
  type PlaceKind,
} from './statalysis-helpers';

// Every postgres case uses a schema of its own (the demo's table names are fixed).
const dir = scratchDir();
const LINES = 3000;
const sample = path.join(dir, 'small.log');

beforeAll(() => writeSampleLog(sample, { lines: LINES, seed: 7 }));

/** Opens a broker on a fresh place, runs `fn`, and cleans up whatever happens. */
async function withBroker<T>(kind: PlaceKind, fn: (broker: StatBroker, place: Place) => Promise<T>): Promise<T> {
  const place = await kind.make();
  const broker = new StatBroker(place.target);
  try {
    await broker.waitUntilRunning();
    return await fn(broker, place);
  } finally {
    await broker.shutdown();
    await place.drop();
  }
}

const importOnce = (broker: StatBroker, file = sample) => importFile(broker, file, { batchSize: 250 });

describe.each(places)('statalysis import [$name]', (kind) => {
  it(`stores exactly the lines the test counts itself, and reports them [${kind.name}]`, async () => {
    const count = independentCount(sample);
    await withBroker(kind, async (broker) => {
      const result = await importOnce(broker);
      expect(result).toMatchObject({
        outcome: 'imported',
        lines: LINES,
        records: count.valid,
        bad: LINES - count.valid,
      });
      expect(await rowCount(broker, 'entries')).toBe(count.valid);
      expect(await rowCount(broker, 'bad_lines')).toBe(LINES - count.valid);
      const report = await readReport(broker, 5);
      expect(report.entries).toBe(count.valid);
      expect(Object.fromEntries(report.statuses.map((s) => [s.status, s.hits]))).toEqual(count.statuses);
      const urls = [...count.urls].map(([url, hits]) => ({ url, hits }));
      urls.sort((a, b) => b.hits - a.hits || (a.url < b.url ? -1 : 1));
      expect(report.topUrls).toEqual(urls.slice(0, 5));
      expect(report.perHour.reduce((a, b) => a + b, 0)).toBe(count.valid);
    });
  });

  it(`adds nothing when the same file is imported again [${kind.name}]`, async () => {
    await withBroker(kind, async (broker) => {
      await importOnce(broker);
      const tables = ['entries', 'bad_lines', 'files', 'url', 'ua', 'ref', 'vhost', 'bad_ip'];
      const before = await Promise.all(tables.map((t) => rowCount(broker, t)));
      // A copy under another name, or gzipped, is the same file: it is known by its text.
      const copy = path.join(dir, `copy-${kind.name}.log`);
      fs.copyFileSync(sample, copy);
      fs.writeFileSync(`${copy}.gz`, gzipSync(fs.readFileSync(sample)));
      for (const again of [sample, copy, `${copy}.gz`])
        expect(await importOnce(broker, again)).toMatchObject({ outcome: 'skipped', linesThisRun: 0 });
      expect(await Promise.all(tables.map((t) => rowCount(broker, t)))).toEqual(before);
    });
  });

  it(`counts and skips malformed lines, and finishes the import [${kind.name}]`, async () => {
    const good =
      'www.example.com:443 203.0.113.9 - - [10/Oct/2023:13:55:36 -0700] "GET /ok HTTP/1.1" 200 12 "-" "agent"';
    const file = path.join(dir, `bad-${kind.name}.log`);
    fs.writeFileSync(
      file,
      Buffer.concat([
        Buffer.from(`${good}\n${good.slice(0, -10)}\n`), // truncated
        Buffer.from([0, 0, 0xff, 0xfe, 0x16, 0x03, 0x01, 0x80, 0x0a]), // binary garbage
        Buffer.from(`${good.replace('/ok', `/${'x'.repeat(1024 * 1024)}`)}\n`), // over 1 MB
        Buffer.from('203.0.113.9 - - [10/Oct/2023:13:55:36 -0700] "GET / HTTP/1.1" 200 12\n'), // common format: too few fields
        Buffer.from(`${good} "one more"\n${good.replace('/ok', '/second')}\n`), // too many fields, then good
      ]),
    );
    await withBroker(kind, async (broker) => {
      expect(await importOnce(broker, file)).toMatchObject({ outcome: 'imported', lines: 7, records: 2, bad: 5 });
      const report = await readReport(broker);
      expect(report.topUrls.map((u) => u.url).sort()).toEqual(['/ok', '/second']);
      const reasons = Object.fromEntries(report.badLines.map((b) => [b.reason, b.count]));
      expect(reasons).toEqual({ truncated: 1, binary: 1, 'too long': 1, fields: 2 });
    });
  });

  it(`leaves no duplicate entries when killed midway and run again [${kind.name}]`, async () => {
    const file = path.join(dir, `kill-${kind.name}.log`);
    await writeSampleLog(file, { lines: 20_000, seed: 11, hugeLine: false });
    const count = independentCount(file);
    const place = await kind.make();
    try {
      const args = [file, '--db', place.target, '--batch', '100', '--no-report'];
      // Killed (SIGKILL: no clean-up of any kind) as soon as it says a batch was committed.
      const child = startMain(args, dir);
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          if (d.toString().includes('lines committed')) child.kill('SIGKILL');
        });
        child.once('close', (status, signal) =>
          signal === 'SIGKILL' ? resolve() : reject(new Error(`exit ${status}`)),
        );
      });
      const broker = new StatBroker(place.target);
      const partial = await rowCount(broker, 'entries');
      await broker.shutdown();
      expect(partial).toBeGreaterThan(0);
      expect(partial).toBeLessThan(count.valid);

      const rerun = await runMain(args, dir);
      expect(rerun.stderr).toBe('');
      expect(rerun.status).toBe(0);
      expect(rerun.stdout).toMatch(/resumed after line [\d,]+, now 20,000 lines/);
      const after = new StatBroker(place.target);
      try {
        expect(await rowCount(after, 'entries')).toBe(count.valid);
        expect(await rowCount(after, '(select distinct id_file, line from entries) d')).toBe(count.valid);
        expect(await rowCount(after, 'bad_lines')).toBe(count.lines - count.valid);
      } finally {
        await after.shutdown();
      }
    } finally {
      await place.drop();
    }
  });
});

(pgAvailable ? it : it.skip)('gives the same report on sqlite and on postgres [sqlite-file, postgres]', async () => {
  const read = (kind: PlaceKind) =>
    withBroker(kind, async (broker): Promise<Report> => {
      await importOnce(broker);
      return readReport(broker);
    });
  const [onSqlite, onPostgres] = [await read(sqlitePlace), await read(postgresPlace)];
  expect(onSqlite.entries).toBeGreaterThan(0);
  expect(onPostgres).toEqual(onSqlite);
});

describe('statalysis command line', () => {
  it('--help explains every flag and exits 0', async () => {
    const { status, stdout } = await runMain(['--help'], dir);
    expect(status).toBe(0);
    for (const flag of ['FILE', '--db', '--batch', '--sample-lines', '--top', '--no-report', '--quiet', '--help'])
      expect(stdout).toContain(flag);
  });

  it.each([
    ['an unknown flag', ['--bogus'], 2, /Unknown option '--bogus'/],
    ['a bad number', ['--batch', 'many'], 2, /--batch needs a whole number/],
    ['a malformed target', ['x.log', '--db', 'mysql://x'], 2, /bad database target/],
    ['an unreadable file', ['no-such.log'], 1, /cannot read no-such.log: ENOENT/],
    ['an unreachable database', [sample, '--db', 'postgres://postgres@127.0.0.1:1/x'], 1, /cannot open postgres/],
  ])('%s: one clear line on stderr and a non-zero exit', async (_what, args, expected, message) => {
    const { status, stderr } = await runMain(args as string[], dir);
    expect(status).toBe(expected);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(message as RegExp);
  });
});
