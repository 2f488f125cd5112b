import fs from 'node:fs';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { DatabaseError } from '../../errors';

/**
 * Which file a sqlite connection has open. A connection keeps the file it
 * opened (its inode) even after that file is deleted or another file is
 * renamed over its path; what it writes then goes to a file nobody can open
 * again. Comparing the path's device and inode with the ones recorded at open
 * notices that before a write is acknowledged.
 */
export interface FileIdentity {
  /** The absolute path the database was opened at. */
  readonly file: string;
  readonly dev: number;
  readonly ino: number;
}

/** The identity of the file now at `file` (resolved against the working directory now). */
export function identify(file: string): FileIdentity {
  const absolute = path.resolve(file);
  const stat = fs.statSync(absolute);
  return { file: absolute, dev: stat.dev, ino: stat.ino };
}

/**
 * Throws DatabaseError unless the file at the recorded path is still the one
 * recorded. A stat per call: microseconds, against a commit's fsync.
 */
export function checkIdentity(identity: FileIdentity): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(identity.file);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw fileGone(identity, 'no file is there now', cause);
    throw new DatabaseError(
      `cannot check the sqlite file at ${identity.file} (${code ?? String(cause)}), so nothing is written to it: ` +
        'make the file and its directory readable again',
      { cause, target: identity.file },
    );
  }
  if (stat.dev !== identity.dev || stat.ino !== identity.ino) throw fileGone(identity, 'another file is there now');
}

/** The error for a database file that is no longer at its path. */
export function fileGone(identity: Pick<FileIdentity, 'file'>, now: string, cause?: unknown): DatabaseError {
  return new DatabaseError(
    `the sqlite file at ${identity.file} was deleted or replaced since it was opened (${now}): ` +
      'a write now would go to the old file and be lost with it, so it fails (a transaction rolls back). ' +
      'Restore the file, or shut the broker down and create a new one to open the file now at that path',
    { cause, target: identity.file },
  );
}

/** The file each file DataSource opened, recorded once it is initialized. */
const identities = new WeakMap<DataSource, FileIdentity>();

/** Records the file a file DataSource has just opened. */
export function recordIdentity(ds: DataSource, file: string): void {
  identities.set(ds, identify(file));
}

/** The file `ds` opened; undefined in memory. */
export function identityOf(ds: DataSource): FileIdentity | undefined {
  return identities.get(ds);
}
