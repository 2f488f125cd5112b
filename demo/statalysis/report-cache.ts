import { CacheRegion, MemoryBackend, PersistentBackend, type CacheBackend, type DatabaseTarget } from '../../lib';

/** The report's top-N tables: the two GROUP BYs over every entry, the dearest part of the report. */
export interface TopLists {
  readonly topUrls: readonly { url: string; hits: number }[];
  readonly topIps: readonly { ip: string; hits: number; bad: boolean }[];
}

/**
 * Where the top lists are kept between reads: `memory` (this process only;
 * this process's imports invalidate it) or `shared` (a PersistentBackend in
 * the database itself: kept across runs, and an import by any process
 * invalidates it for all).
 */
export type ReportCacheKind = 'memory' | 'shared';

/** The store group of the shared report cache. */
export const REPORT_CACHE_GROUP = 'statalysis-report';

/**
 * The report's top-N lists behind a {@link CacheRegion}, one entry per N.
 * Entries never expire: they are right until new entries are imported,
 * and {@link invalidate} (called by StatBroker when an import ends) drops
 * them all. The region (and, when shared, its backend's connection) is
 * made at first use and released by {@link close}.
 */
export class ReportCache {
  readonly #target: DatabaseTarget | undefined;
  readonly #kind: ReportCacheKind;
  #region: CacheRegion<TopLists> | undefined;
  #computed = 0;
  #closed: Promise<void> | undefined;

  /** `target` as the broker's (undefined: the one given to AccessBroker.setup). */
  constructor(target: DatabaseTarget | undefined, kind: ReportCacheKind = 'memory') {
    this.#target = target;
    this.#kind = kind;
  }

  /** How many times the top lists were computed (the creator ran) rather than read from the region. */
  get computed(): number {
    return this.#computed;
  }

  /** The lists for `n`: from the region, or made by `compute` (once, however many callers ask). */
  tops(n: number, compute: () => Promise<TopLists>): Promise<TopLists> {
    return this.#open().getOrCreate(`top:${n}`, () => {
      this.#computed++;
      return compute();
    });
  }

  /** The lists for `n` if the region holds them; never computes them. */
  cached(n: number): Promise<TopLists | undefined> {
    return this.#open().get(`top:${n}`);
  }

  /** Drops every list: the next read computes them again. In `shared`, for every process on the database. */
  invalidate(): Promise<void> {
    return this.#open().invalidate();
  }

  /** Releases the region and its backend (idempotent). */
  close(): Promise<void> {
    return (this.#closed ??= this.#region?.close() ?? Promise.resolve());
  }

  #open(): CacheRegion<TopLists> {
    if (this.#closed) throw new Error('the report cache is closed: its broker was shut down');
    if (this.#region) return this.#region;
    const backend: CacheBackend =
      this.#kind === 'shared'
        ? new PersistentBackend(this.#target, { group: REPORT_CACHE_GROUP })
        : new MemoryBackend();
    return (this.#region = new CacheRegion<TopLists>({ backend }));
  }
}
