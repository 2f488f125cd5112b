import { once } from 'node:events';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CancelledError, TransactionError } from '../../lib';
import { withItems, type ItemsBroker } from '../support/brokers';
import {
  allItemsSql,
  busySessionList,
  releaseCheckedRun,
  failingAtSql,
  fillItems,
  readCounter,
  settle,
  sqliteConnections,
  sqliteFile,
  type ReadCounter,
  until,
  within,
} from '../support/streams';
import { allTargets, fileAndPg } from '../support/targets';

const ROWS = 1_234;
const BATCH = 100;

interface Row {
  id: number;
  name: string;
}

/** The rows fillItems wrote, as a stream gives them (postgres ids are numbers too: SERIAL is int4). */
const expected = (n = ROWS) => Array.from({ length: n }, (_, i) => ({ id: i + 1, name: `n${i + 1}` }));
const normal = (rows: Row[]) => rows.map((r) => ({ id: Number(r.id), name: r.name }));

/** Everything a Node Readable gives, as text. */
async function text(readable: NodeJS.ReadableStream): Promise<string> {
  let all = '';
  for await (const chunk of readable) all += String(chunk);
  return all;
}

describe.each(allTargets)('toReadable() and toReadableStream() give every row, in order [$name]', (t) => {
  const stream = (b: ItemsBroker, read?: ReadCounter) =>
    b.stream<Row>(allItemsSql(b), [], { batchSize: BATCH, onBatch: read?.onBatch });

  it('toReadable(): objectMode rows', () =>
    withItems(t, async (b) => {
      await fillItems(b, ROWS);
      const rows: Row[] = [];
      const readable = stream(b).toReadable();
      expect(readable.readableObjectMode).toBe(true);
      for await (const row of readable) rows.push(row as Row);
      expect(normal(rows)).toEqual(expected());
    }));

  it("toReadable({ format: 'ndjson' }): one JSON text per line", () =>
    withItems(t, async (b) => {
      await fillItems(b, ROWS);
      const lines = (await text(stream(b).toReadable({ format: 'ndjson' }))).split('\n');
      expect(lines.pop()).toBe('');
      expect(normal(lines.map((l) => JSON.parse(l) as Row))).toEqual(expected());
    }));

  it("toReadable({ format: 'json' }): one JSON array, also when empty", () =>
    withItems(t, async (b) => {
      expect(JSON.parse(await text(stream(b).toReadable({ format: 'json' })))).toEqual([]);
      await fillItems(b, ROWS);
      expect(normal(JSON.parse(await text(stream(b).toReadable({ format: 'json' }))) as Row[])).toEqual(expected());
    }));

  it('toReadableStream(): rows, ndjson bytes and a JSON array', () =>
    withItems(t, async (b) => {
      await fillItems(b, ROWS);
      const rows: Row[] = [];
      const reader = stream(b).toReadableStream().getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) rows.push(r.value);
      expect(normal(rows)).toEqual(expected());
      const ndjson = await new Response(stream(b).toReadableStream({ format: 'ndjson' })).text();
      expect(
        normal(
          ndjson
            .trimEnd()
            .split('\n')
            .map((l) => JSON.parse(l) as Row),
        ),
      ).toEqual(expected());
      const json = await new Response(stream(b).toReadableStream({ format: 'json' })).json();
      expect(normal(json as Row[])).toEqual(expected());
    }));

  it('an unknown format is refused at once, before any connection is taken', () =>
    withItems(t, async (b) => {
      const read = readCounter();
      const bad = { format: 'csv' } as unknown as { format: 'json' };
      expect(() => stream(b, read).toReadable(bad)).toThrow(
        /format must be one of 'objects', 'ndjson', 'json', not csv/,
      );
      expect(() => stream(b, read).toReadableStream(bad)).toThrow(RangeError);
      expect(read.batches).toBe(0);
    }));
});

describe.each(allTargets)('a sink that stops early closes the cursor and returns the connection [$name]', (t) => {
  const appName = `sasync-rows-sinks-${process.pid}`;
  const run = releaseCheckedRun(t, appName, ROWS);
  const stream = (b: ItemsBroker, read: ReadCounter, signal?: AbortSignal) =>
    b.stream<Row>(allItemsSql(b), [], { batchSize: BATCH, onBatch: read.onBatch, signal });

  it('toReadable().destroy() after 3 rows: closed once "close" is emitted, nothing read after', () =>
    run(async (b) => {
      const read = readCounter();
      const readable = stream(b, read).toReadable();
      const names: string[] = [];
      for await (const row of readable) {
        names.push((row as Row).name);
        if (names.length === 3) break; // for await destroys the readable
      }
      if (!readable.closed) await new Promise((resolve) => readable.once('close', resolve));
      expect(names).toEqual(['n1', 'n2', 'n3']);
      await settle(b);
      expect(read.rows).toBeLessThanOrEqual(2 * BATCH);
    }));

  it('a pipeline whose sink fails: the error reaches pipeline() and the cursor is closed', () =>
    run(async (b) => {
      const read = readCounter();
      const failure = new Error('the client went away');
      let written = 0;
      const sink = new Writable({
        objectMode: true,
        write: (_row, _encoding, done) => done(++written === 150 ? failure : null),
      });
      await expect(pipeline(stream(b, read).toReadable(), sink)).rejects.toBe(failure);
      await settle(b);
      expect(read.rows).toBeLessThanOrEqual(3 * BATCH);
    }));

  it('toReadableStream(): reader.cancel() after 3 rows', () =>
    run(async (b) => {
      const read = readCounter();
      const reader = stream(b, read).toReadableStream().getReader();
      for (let i = 0; i < 3; i++) expect((await reader.read()).value?.name).toBe(`n${i + 1}`);
      await reader.cancel(new Error('enough'));
      await settle(b);
      expect(read.rows).toBeLessThanOrEqual(2 * BATCH);
    }));

  it("toReadableStream({ format: 'ndjson' }) piped to a Response whose body is cancelled", () =>
    run(async (b) => {
      const read = readCounter();
      const body = new Response(stream(b, read).toReadableStream({ format: 'ndjson' })).body!;
      const reader = body.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toMatch(/^\{"id":1,"name":"n1"\}\n/);
      await reader.cancel();
      await settle(b);
      expect(read.rows).toBeLessThanOrEqual(2 * BATCH);
    }));

  it('an AbortSignal aborted while the sink is full fails the Readable with CancelledError at once', () =>
    run(async (b) => {
      const read = readCounter();
      const controller = new AbortController();
      const readable = stream(b, read, controller.signal).toReadable();
      readable.read(); // starts reading; nothing more is asked for
      // The first batch is in the Readable's buffer (a full sink), not still being read.
      await once(readable, 'readable');
      await settle(b);
      expect(read.batches).toBe(1);
      const failed = once(readable, 'error');
      controller.abort(new Error('stop'));
      const [error] = (await failed) as [CancelledError];
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.message).toMatch(/cancelled: stop/);
    }));

  it('an AbortSignal aborted while the web stream is full errors the stream with CancelledError', () =>
    run(async (b) => {
      const read = readCounter();
      const controller = new AbortController();
      const reader = stream(b, read, controller.signal).toReadableStream().getReader();
      await reader.read();
      await settle(b);
      controller.abort(new Error('stop'));
      // Rows queued before the abort may still be read (the cursor closes first); then the stream fails.
      let rows = 1;
      const error = await (async () => {
        for (;;) if ((await reader.read()).value) rows++;
      })().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CancelledError);
      expect(rows).toBeLessThanOrEqual(BATCH);
      expect(read.rows).toBe(BATCH);
    }));
});

// The abort ends a read in flight: on postgres the stream's statement is
// cancelled from a short-lived session of its own, which the release check
// must not take for a leak (see expectNoBusySessions).
describe.each(fileAndPg)('an AbortSignal aborted while a read runs [$name]', (t) => {
  const appName = `sasync-rows-sinks-slow-${process.pid}`;
  const run = releaseCheckedRun(t, appName, 0);
  const slow =
    t.dialect === 'postgres'
      ? 'SELECT pg_sleep(20) AS s'
      : 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) SELECT count(*) AS s FROM c';

  it('fails the Readable with CancelledError without waiting for the statement', () =>
    run(async (b) => {
      const controller = new AbortController();
      const file = t.dialect === 'sqlite' ? sqliteFile(b) : undefined;
      const before = file === undefined ? 0 : sqliteConnections(file);
      const readable = b.stream(slow, [], { signal: controller.signal }).toReadable();
      const failed = once(readable, 'error');
      readable.read();
      // The read is under way: postgres runs the statement; sqlite opened the stream's reader connection.
      if (file === undefined) {
        await until(
          async () => (await busySessionList(b, appName)).some((s) => s.query === slow),
          'the statement runs',
        );
      } else await until(() => sqliteConnections(file) > before, 'the reader connection is open');
      const started = Date.now();
      controller.abort(new Error('stop'));
      const [error] = (await within(failed, 'the Readable failing')) as [CancelledError];
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.message).toMatch(/cancelled: stop/);
      // Far less than the statement would take (20 s on postgres, seconds on sqlite).
      expect(Date.now() - started).toBeLessThan(8000);
    }));
});

describe.each(allTargets)('an error in the query reaches the sink [$name]', (t) => {
  const appName = `sasync-rows-sinks-error-${process.pid}`;
  const run = releaseCheckedRun(t, appName, 3 * BATCH);
  const failing = (b: ItemsBroker) => b.stream<Row>(failingAtSql(b, 2 * BATCH + 5), [], { batchSize: BATCH });

  it('toReadable(): pipeline() rejects with TransactionError', () =>
    run(async (b) => {
      let rows = 0;
      const sink = new Writable({ objectMode: true, write: (_row, _encoding, done) => (rows++, done()) });
      const error = (await pipeline(failing(b).toReadable(), sink).catch((e: unknown) => e)) as TransactionError;
      expect(error).toBeInstanceOf(TransactionError);
      expect(error.sql).toBe(failingAtSql(b, 2 * BATCH + 5));
      // postgres reads past the failing row only at the batch it is in; sqlite may fail reading any batch.
      expect(rows).toBeLessThanOrEqual(2 * BATCH);
    }));

  it('toReadableStream(): the reader rejects with TransactionError', () =>
    run(async (b) => {
      const error = await new Response(failing(b).toReadableStream({ format: 'ndjson' })).text().catch((e) => e);
      expect(error).toBeInstanceOf(TransactionError);
    }));
});

// Counted, not timed: a reader that stops leaves the stream reading no further.
describe.each(allTargets)('a stalled sink stops the reads [$name]', (t) => {
  const STALL_AT = 345;
  const stream = (b: ItemsBroker, read: ReadCounter) =>
    b.stream<Row>(allItemsSql(b), [], { batchSize: BATCH, onBatch: read.onBatch });

  it('toReadableStream(): rows read stay within rows taken + 2 × batchSize', () =>
    withItems(t, async (b) => {
      await fillItems(b, ROWS);
      const read = readCounter();
      const reader = stream(b, read).toReadableStream().getReader();
      for (let i = 0; i < STALL_AT; i++) await reader.read();
      await settle(b);
      expect(read.rows).toBeGreaterThanOrEqual(STALL_AT);
      expect(read.rows).toBeLessThanOrEqual(STALL_AT + 2 * BATCH);
      let rest = 0;
      while (!(await reader.read()).done) rest++;
      expect(STALL_AT + rest).toBe(ROWS);
    }));

  it("toReadableStream({ format: 'ndjson' }): one chunk per batch, at most 2 read ahead", () =>
    withItems(t, async (b) => {
      await fillItems(b, ROWS);
      const read = readCounter();
      const reader = stream(b, read).toReadableStream({ format: 'ndjson' }).getReader();
      for (let i = 0; i < 3; i++) await reader.read();
      await settle(b);
      expect(read.batches).toBeLessThanOrEqual(3 + 2);
      await reader.cancel();
    }));

  it('toReadable() not read from: one batch read and no more', () =>
    withItems(t, async (b) => {
      await fillItems(b, ROWS);
      const read = readCounter();
      const readable = stream(b, read).toReadable();
      const first = await new Promise((resolve) => readable.once('readable', () => resolve(readable.read())));
      expect((first as Row).name).toBe('n1');
      await settle(b);
      expect(read.rows).toBe(BATCH);
      readable.destroy();
      await new Promise((resolve) => readable.once('close', resolve));
    }));

  it('toReadableStream() never read opens no cursor and reads nothing (dropped unread, it holds no connection)', () =>
    withItems(t, async (b) => {
      await fillItems(b, ROWS);
      const read = readCounter();
      const body = stream(b, read).toReadableStream();
      await settle(b);
      expect(read.batches).toBe(0);
      expect(b.connectionStats().idle).toBe(b.connectionStats().open);
      // Read once now: the first batch comes only on demand.
      const reader = body.getReader();
      expect(((await reader.read()).value as Row).name).toBe('n1');
      expect(read.batches).toBe(1);
      await reader.cancel();
    }));
});
