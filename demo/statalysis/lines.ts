import fs from 'node:fs';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';

/** A line longer than the reader keeps: only its length is known. */
export interface TooLong {
  readonly tooLong: number;
}

export type Line = string | TooLong;

/** Longer lines are skipped unread (Apache refuses request lines over 8 KiB anyway). */
export const MAX_LINE_BYTES = 64 * 1024;

/** A file being read line by line; `bytesRead` counts the file's own (compressed) bytes. */
export interface LineReader extends AsyncIterable<Line[]> {
  readonly bytesRead: number;
  readonly size: number;
}

/**
 * Reads a log file (gunzipped if its name ends in `.gz`) as arrays of lines,
 * one array per chunk read, without their newlines (a trailing CR is dropped
 * too). A line over `maxBytes` is not kept in memory: it comes as
 * {@link TooLong}. Unreadable or corrupt files make the iteration throw.
 */
export function readLines(file: string, maxBytes = MAX_LINE_BYTES): LineReader {
  const size = fs.statSync(file).size;
  const raw = fs.createReadStream(file, { highWaterMark: 256 * 1024 });
  // pipeline() passes a read error of the file on to gunzip, and so to the iterator.
  const source: AsyncIterable<Buffer> = file.endsWith('.gz') ? pipeline(raw, createGunzip(), () => undefined) : raw;
  return {
    size,
    get bytesRead() {
      return raw.bytesRead;
    },
    [Symbol.asyncIterator]: () => split(source, maxBytes),
  };
}

async function* split(source: AsyncIterable<Buffer>, maxBytes: number): AsyncGenerator<Line[]> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const take = (piece: Buffer): Line => {
    const total = pendingBytes + piece.length;
    let line: Line;
    if (total > maxBytes) line = { tooLong: total };
    else {
      const bytes = pendingBytes === 0 ? piece : Buffer.concat([...pending, piece]);
      const end = bytes.length > 0 && bytes[bytes.length - 1] === 13 ? bytes.length - 1 : bytes.length;
      line = bytes.toString('utf8', 0, end);
    }
    pending = [];
    pendingBytes = 0;
    return line;
  };
  for await (const chunk of source) {
    const lines: Line[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      lines.push(take(chunk.subarray(start, nl)));
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    // Past the limit only the count goes on: a gigabyte without a newline costs nothing.
    if (pendingBytes + rest.length > maxBytes) pending = [];
    else if (rest.length > 0) pending.push(Buffer.from(rest));
    pendingBytes += rest.length;
    if (lines.length > 0) yield lines;
  }
  // The last line, when the file does not end with a newline (a writer cut off mid-line).
  if (pendingBytes > 0) yield [take(Buffer.alloc(0))];
}
