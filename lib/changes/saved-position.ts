import { parseSnapshot } from './pg-snapshot';
import type { Position } from './position';

/** What a saved position says, as it is written in its text (bigints as decimal text). */
interface Saved {
  /** The dialect whose log it is a place in. */
  readonly d: 'sqlite' | 'postgres';
  readonly x: string;
  readonly i: string;
  readonly s?: string;
  readonly u?: string;
  readonly f?: string;
  readonly t?: string;
  readonly n?: string;
}

const PREFIX = 'sasync-position:1:';
const DIGITS = /^\d{1,20}$/;
const NEWEST = /^\d{1,20}:\d{1,20}$/;

/** What a position is, for the messages of the errors below. */
const WHAT =
  "a position is the text a store's position() resolved to (on the same database), " +
  'kept as it was; leave `since` out to start at the log’s head';

/**
 * A reader's position as text a program can keep (in a file, a table) and
 * give back as a store's `since` option, to be told on its next start what
 * other processes changed meanwhile. Opaque: a version, the dialect, and
 * the position's fields (postgres: snapshot, page, log table and file,
 * newest entry; sqlite: the last id read).
 */
export function savedPosition(dialect: 'sqlite' | 'postgres', p: Position): string {
  const saved: Saved = {
    d: dialect,
    x: p.xid.toString(),
    i: p.id.toString(),
    ...(p.snapshot === undefined ? {} : { s: p.snapshot }),
    ...(p.upto === undefined ? {} : { u: p.upto }),
    ...(p.file === undefined ? {} : { f: p.file }),
    ...(p.table === undefined ? {} : { t: p.table }),
    ...(p.newest === undefined ? {} : { n: p.newest }),
  };
  return PREFIX + Buffer.from(JSON.stringify(saved)).toString('base64url');
}

/**
 * The position `text` (from {@link savedPosition}) names, for a store on `dialect`.
 * @throws TypeError for anything else: not a string, not a position, a damaged one.
 * @throws RangeError for a position of the other dialect's log.
 */
export function parseSavedPosition(text: unknown, dialect: 'sqlite' | 'postgres'): Position {
  if (typeof text !== 'string') throw new TypeError(`since must be a string, not ${typeof text}: ${WHAT}`);
  const saved = text.startsWith(PREFIX) ? decode(text.slice(PREFIX.length)) : undefined;
  if (!saved) throw new TypeError(`since is not a change log position (${JSON.stringify(text.slice(0, 40))}): ${WHAT}`);
  if (saved.d !== dialect) {
    throw new RangeError(`since is a position in a ${saved.d} change log, and this store is on ${dialect}: ${WHAT}`);
  }
  return {
    xid: BigInt(saved.x),
    id: BigInt(saved.i),
    ...(saved.s === undefined ? {} : { snapshot: saved.s }),
    ...(saved.u === undefined ? {} : { upto: saved.u }),
    ...(saved.f === undefined ? {} : { file: saved.f }),
    ...(saved.t === undefined ? {} : { table: saved.t }),
    ...(saved.n === undefined ? {} : { newest: saved.n }),
  };
}

/** The fields `body` holds, or undefined when it is not a well-formed position of either dialect. */
function decode(body: string): Saved | undefined {
  let saved: unknown;
  try {
    saved = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof saved !== 'object' || saved === null) return undefined;
  const s = saved as Record<string, unknown>;
  const digits = (v: unknown) => typeof v === 'string' && DIGITS.test(v);
  const optional = (v: unknown, ok: (v: unknown) => boolean) => v === undefined || ok(v);
  const snapshot = (v: unknown) => typeof v === 'string' && parseSnapshot(v) !== undefined;
  if (!digits(s.x) || !digits(s.i)) return undefined;
  if (s.d === 'sqlite') {
    return s.s === undefined && s.u === undefined && s.f === undefined && s.t === undefined && s.n === undefined
      ? (s as unknown as Saved)
      : undefined;
  }
  if (s.d !== 'postgres') return undefined;
  const ok =
    snapshot(s.s) &&
    optional(s.u, snapshot) &&
    optional(s.f, digits) &&
    optional(s.t, digits) &&
    optional(s.n, (v) => typeof v === 'string' && NEWEST.test(v));
  return ok ? (s as unknown as Saved) : undefined;
}
