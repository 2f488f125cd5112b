import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { readLines, type Line } from './lines';
import { parseLine, type LogRecord } from './parse';
import { valueOf, type Batch, type EntryStore, type IdCache } from './store';
import { BAD_LINE_COLUMNS, VALUE_TABLES } from './schema';

/** Where an import stands, after each committed batch. */
export interface ImportProgress {
  readonly name: string;
  /** Bytes of the file read so far (compressed bytes for .gz), and its size. */
  readonly bytesRead: number;
  readonly size: number;
  /** Lines committed so far (including those of an earlier, interrupted run). */
  readonly lines: number;
  /** Lines this run read, and the seconds since it started on the file: a rate. */
  readonly linesThisRun: number;
  readonly seconds: number;
}

export interface FileResult {
  readonly name: string;
  /** skipped: imported before; resumed: an earlier run was interrupted after `fromLine`. */
  readonly outcome: 'imported' | 'resumed' | 'skipped';
  readonly fromLine: number;
  readonly lines: number;
  readonly records: number;
  readonly bad: number;
  /** Lines read by this run, and how long it took. */
  readonly linesThisRun: number;
  readonly seconds: number;
}

export interface ImportOptions {
  /** Lines per transaction. */
  readonly batchSize: number;
  readonly onProgress?: (progress: ImportProgress) => void;
  /** After each batch commits, before onProgress: its records and its count of bad lines (demo/live counts them). */
  readonly onBatch?: (records: readonly LogRecord[], bad: number) => void;
}

/**
 * Imports one log file, resumably. A file is known by the sha256 of its
 * text (see {@link hashFile}); its `files` row holds how many lines are in the database. Each batch
 * transaction writes its entries and bad lines AND moves that count, so after
 * a kill at any moment the database holds exactly the lines up to the count,
 * and the next run skips those lines and goes on from there. (A unique index
 * on (id_file, line) makes a duplicate impossible besides.) Batches commit in
 * order: the next batch is parsed, and its new values added, while the
 * previous one is written, never two at once. A file marked done is skipped.
 */
export async function importFile(store: EntryStore, file: string, options: ImportOptions): Promise<FileResult> {
  const started = performance.now();
  const name = path.basename(file);
  const known = await store.openFile(name, await hashFile(file));
  const result = (outcome: FileResult['outcome'], totals: typeof known, linesThisRun: number): FileResult => ({
    name,
    outcome,
    fromLine: known.lines,
    lines: totals.lines,
    records: totals.records,
    bad: totals.bad,
    linesThisRun,
    seconds: (performance.now() - started) / 1000,
  });
  if (known.done) return result('skipped', known, 0);

  const reader = readLines(file);
  const totals = { ...known };
  let lineNo = 0;
  let records: LogRecord[] = [];
  let recordLines: number[] = [];
  let badLines: unknown[] = [];
  let writing: Promise<void> = Promise.resolve();

  const flush = async () => {
    const batch = { records, recordLines, badLines, lines: lineNo };
    [records, recordLines, badLines] = [[], [], []];
    await store.resolve(batch.records);
    const entries = entryParameters(store.ids, batch.records, batch.recordLines, known.id);
    await writing;
    totals.lines = batch.lines;
    totals.records += batch.records.length;
    const bad = batch.badLines.length / BAD_LINE_COLUMNS.length;
    totals.bad += bad;
    const write: Batch = { fileId: known.id, entries, badLines: batch.badLines, ...totals };
    const report = { name, bytesRead: reader.bytesRead, size: reader.size, lines: totals.lines };
    writing = store.writeBatch(write).then(() => {
      options.onBatch?.(batch.records, bad);
      options.onProgress?.({
        ...report,
        linesThisRun: batch.lines - known.lines,
        seconds: (performance.now() - started) / 1000,
      });
    });
    // Awaited before the next batch or at the end; until then a failure must not count as unhandled.
    writing.catch(() => undefined);
  };

  for await (const chunk of reader) {
    for (const line of chunk) {
      if (++lineNo <= known.lines) continue;
      const parsed = typeof line === 'string' ? parseLine(line) : ({ ok: false, reason: 'too long' } as const);
      if (parsed.ok) {
        records.push(parsed.record);
        recordLines.push(lineNo);
      } else badLines.push(known.id, lineNo, parsed.reason, sample(line));
      if (lineNo - totals.lines >= options.batchSize) await flush();
    }
  }
  if (lineNo > totals.lines) await flush();
  await writing;
  await store.finishFile(known.id);
  return result(known.lines > 0 ? 'resumed' : 'imported', totals, Math.max(0, lineNo - known.lines));
}

/** The bound parameters of a batch's entries, in ENTRY_COLUMNS order. */
function entryParameters(ids: IdCache, records: LogRecord[], lines: number[], fileId: number): unknown[] {
  const values: unknown[] = [];
  records.forEach((r, i) => {
    values.push(r.dt, r.ip, r.status, r.bytes);
    for (const table of VALUE_TABLES) values.push(ids.get(table, valueOf(r, table)));
    values.push(fileId, lines[i]);
  });
  return values;
}

/** The start of a bad line, printable, for the report. */
function sample(line: Line): string {
  if (typeof line !== 'string') return `(${line.tooLong} bytes)`;
  // eslint-disable-next-line no-control-regex
  return line.slice(0, 120).replace(/[\x00-\x1f\x7f\ufffd]/g, '?');
}

/**
 * sha256 of the log's text (gunzipped for .gz): what identifies a file in
 * `files`, so that `access.log.1` is known again once rotated to `access.log.1.gz`.
 */
export async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  const raw = fs.createReadStream(file, { highWaterMark: 1024 * 1024 });
  const source: AsyncIterable<Buffer> = file.endsWith('.gz') ? pipeline(raw, createGunzip(), () => undefined) : raw;
  for await (const chunk of source) hash.update(chunk);
  return hash.digest('hex');
}
