import { spawn } from 'node:child_process';
import path from 'node:path';
import { devalueSerializer, PersistentDict } from '../../lib';
import { queryLog, loggedOptions } from '../support/brokers';
import { RawSql } from '../support/stores';
import { within } from '../support/streams';
import { allTargets, fileAndPg, uniqueName } from '../support/targets';

const WRITER = path.join(__dirname, 'fixtures', 'dict-writer.ts');

/** Runs the writer fixture; resolves with the child once it printed `line`. */
function runWriter(args: string[], line: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const printed = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(line)) resolve();
    });
    child.on('exit', (code) => (out.includes(line) ? resolve() : reject(new Error(`writer exited ${code}: ${err}`))));
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))),
  );
  return { child, printed, exited };
}

describe.each(allTargets)('PersistentDict reads and writes [$name]', (t) => {
  it(`makes one SELECT for 100 concurrent gets of one cold key [${t.name}]`, async () => {
    const log = queryLog();
    // Its own DataSource (a logged one) so that only this dict's queries count.
    const options = loggedOptions(t.target(), log);
    const group = uniqueName('g');
    // Written behind the stores' backs, with no change log entry: no store
    // re-reads it on hearing of it (the writer stays open: a memory database
    // lives as long as its last user).
    const writer = new RawSql(options);
    await writer.query('INSERT INTO sasync_items (group_id, name, value) VALUES (?, ?, ?)', [
      group,
      'cold',
      devalueSerializer.encode('v'),
    ]);
    // A dict on the group, with a cold cache.
    const d = new PersistentDict<string, string>(group, options);
    try {
      await d.waitUntilRunning();
      // Key reads only.
      const selects = () =>
        log.queries.filter((q) => /FROM sasync_items WHERE group_id = \S+ AND name IN/.test(q)).length;
      const before = selects();
      const values = await Promise.all(Array.from({ length: 100 }, () => d.get('cold')));
      expect(values).toEqual(Array(100).fill('v'));
      expect(selects() - before).toBe(1);
      // Then memory answers.
      await d.get('cold');
      expect(selects() - before).toBe(1);
      // Cold keys asked for together are read together.
      await Promise.all(Array.from({ length: 50 }, (_, i) => d.get(`other${i}`, null)));
      expect(selects() - before).toBe(2);
      // A missing key is remembered as missing too.
      await Promise.all(Array.from({ length: 10 }, () => d.get('absent', null)));
      await d.get('absent', null);
      await d.get('other7', null);
      expect(selects() - before).toBe(3);
    } finally {
      await d.shutdown();
      await writer.shutdown();
    }
  });

  it(`coalesces 10,000 sets to each of 10 keys; the last values win and every set resolves durable [${t.name}]`, async () => {
    const log = queryLog();
    const options = loggedOptions(t.target(), log);
    const d = new PersistentDict<string, number>(uniqueName('g'), options);
    const raw = new RawSql(options);
    try {
      await d.waitUntilRunning();
      const writes = () => log.queries.filter((q) => /INSERT INTO sasync_items/.test(q)).length;
      const before = writes();
      const settled: Promise<void>[] = [];
      let resolvedEarly = 0;
      for (let i = 0; i < 10_000; i++) {
        for (let k = 0; k < 10; k++) settled.push(d.set(`k${k}`, i * 10 + k));
        // Halfway, wait for a write: later sets then travel in later batches.
        if (i === 4999) await settled[settled.length - 1];
      }
      // Each set's promise resolves only when a value at least as new is stored.
      await Promise.all(
        settled.map((p, j) =>
          p.then(async () => {
            if (j % 9973 !== 0) return;
            const stored = await raw.items(d.group);
            const k = j % 10;
            const text = stored.get(`k${k}`);
            if (text === undefined || Number(JSON.parse(text)[0]) < Math.floor(j / 10) * 10 + k) resolvedEarly++;
          }),
        ),
      );
      expect(resolvedEarly).toBe(0);
      const issued = writes() - before;
      console.log(`[${t.name}] 100,000 sets to 10 keys issued ${issued} INSERT statement(s)`);
      expect(issued).toBeGreaterThan(0);
      expect(issued).toBeLessThan(1000);
      const stored = await raw.items(d.group);
      for (let k = 0; k < 10; k++) expect(JSON.parse(stored.get(`k${k}`)!)).toEqual([99_990 + k]);
    } finally {
      await d.shutdown();
      await raw.shutdown();
    }
  });

  it(`flush() resolves only after earlier writes are durable, and with nothing pending at once [${t.name}]`, async () => {
    const target = t.target();
    const raw = new RawSql(target);
    const d = new PersistentDict<string, number>(uniqueName('g'), target);
    try {
      await d.flush();
      void d.set('a', 1);
      void d.delete('gone');
      void d.set('b', 2);
      await d.flush();
      expect([...(await raw.items(d.group)).keys()].sort()).toEqual(['a', 'b']);
    } finally {
      await d.shutdown();
      await raw.shutdown();
    }
  });
});

describe.each(fileAndPg)('PersistentDict durability across processes [$name]', (t) => {
  it(`keeps 1,000 keys that a killed process had flushed [${t.name}]`, async () => {
    const target = t.target();
    const group = uniqueName('g');
    const writer = runWriter([target, group, '1000', 'flush'], 'flushed');
    await within(writer.printed, 'the writer printing "flushed"', 30_000);
    writer.child.kill('SIGKILL');
    expect(await writer.exited).toBe(-1);
    const d = new PersistentDict<string, { n: number }>(group, target);
    try {
      const all = await d.loadAll();
      expect(all.size).toBe(1000);
      for (let i = 0; i < 1000; i++) expect(all.get(`key${i}`)).toEqual({ n: i });
    } finally {
      await d.shutdown();
    }
  }, 60_000);

  it(`keeps every key of a process that called shutdown() without flushing [${t.name}]`, async () => {
    const target = t.target();
    const group = uniqueName('g');
    const writer = runWriter([target, group, '500', 'shutdown'], 'shut down');
    await within(writer.printed, 'the writer shutting down', 30_000);
    expect(await writer.exited).toBe(0);
    const d = new PersistentDict<string, { n: number }>(group, target);
    try {
      expect(await d.size()).toBe(500);
      expect(await d.get('key499')).toEqual({ n: 499 });
    } finally {
      await d.shutdown();
    }
  }, 60_000);
});
