import { PersistentDict, type DatabaseTarget, type SyncView } from '../../lib';
import type { LogRecord } from '../statalysis/parse';

/** The group of `sasync_items` that holds the live statistics. */
export const LIVE_GROUP = 'statalysis-live';

/** Status classes counted; 1xx too, so that the classes and the bad lines add up to the lines. */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

/** idle: nothing imported yet; skipped: the file was imported before; failed: see `message`. */
export type LiveState = 'idle' | 'running' | 'done' | 'skipped' | 'failed';

/** A stored value: every key holds a count, except state, file and message. */
export type LiveValue = number | string;

/** What the page receives: one snapshot of the dict, decoded. */
export interface LiveEvent {
  readonly state: LiveState;
  readonly file: string;
  readonly message: string;
  /** Lines this import has committed, and how many the file has when known (the sample), else 0. */
  readonly lines: number;
  readonly total: number;
  readonly bad: number;
  /** Bytes read and the file's size, for a progress bar. */
  readonly bytes: number;
  readonly size: number;
  readonly status: Record<StatusClass, number>;
  /** Hits per minute of log time (UTC ISO minute, `2024-03-04T00:00`), in order. */
  readonly minutes: readonly (readonly [string, number])[];
}

const MINUTE = 'minute:';

/**
 * The live statistics of the running (or the last) import, kept in a
 * PersistentDict on the import's own database: `lines`, `bad`,
 * `status:2xx`…, `minute:<ISO minute>` → hits, and the import's state. The
 * importer calls {@link begin}, {@link batch} after each committed batch, and
 * {@link finish}; each call sets keys in memory at once, and the dict writes
 * them lazily, coalesced, and tells `snapshot$()` subscribers.
 */
export class LiveStats {
  readonly dict: PersistentDict<string, LiveValue>;
  #view: SyncView<string, LiveValue> | undefined;

  constructor(target: DatabaseTarget) {
    this.dict = new PersistentDict<string, LiveValue>(LIVE_GROUP, target);
  }

  /** Loads what an earlier run left, so that the page shows it until the next import begins. */
  async open(): Promise<void> {
    this.#view = await this.dict.preload();
  }

  /** Forgets the previous import's numbers. */
  begin(file: string, total: number, size: number): void {
    const view = this.#open();
    view.clear();
    view.set('state', 'running').set('file', file).set('total', total).set('size', size);
  }

  /** Counts one committed batch. */
  batch(records: readonly LogRecord[], bad: number): void {
    const view = this.#open();
    const add = (key: string, n: number) => view.set(key, ((view.get(key) as number | undefined) ?? 0) + n);
    add('lines', records.length + bad);
    add('bad', bad);
    const counts = new Map<string, number>();
    for (const r of records) {
      const status = `status:${Math.floor(r.status / 100)}xx`;
      const minute = MINUTE + r.dt.toISOString().slice(0, 16);
      counts.set(status, (counts.get(status) ?? 0) + 1).set(minute, (counts.get(minute) ?? 0) + 1);
    }
    for (const [key, n] of counts) add(key, n);
  }

  /** How far into the file the import has read. */
  progress(bytes: number): void {
    this.#open().set('bytes', bytes);
  }

  finish(state: Exclude<LiveState, 'idle' | 'running'>, message = ''): void {
    this.#open().set('state', state).set('message', message);
  }

  #open(): SyncView<string, LiveValue> {
    if (!this.#view) throw new Error('LiveStats: await open() first');
    return this.#view;
  }
}

/** A snapshot of the dict as the page wants it. */
export function liveEvent(snapshot: ReadonlyMap<string, LiveValue>): LiveEvent {
  const count = (key: string) => Number(snapshot.get(key) ?? 0);
  const text = (key: string) => String(snapshot.get(key) ?? '');
  const minutes: [string, number][] = [];
  for (const [key, value] of snapshot) if (key.startsWith(MINUTE)) minutes.push([key.slice(MINUTE.length), +value]);
  minutes.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return {
    state: (text('state') || 'idle') as LiveState,
    file: text('file'),
    message: text('message'),
    lines: count('lines'),
    total: count('total'),
    bad: count('bad'),
    bytes: count('bytes'),
    size: count('size'),
    status: Object.fromEntries(STATUS_CLASSES.map((c) => [c, count(`status:${c}`)])) as Record<StatusClass, number>,
    minutes,
  };
}
