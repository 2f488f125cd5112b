import fs from 'node:fs';
import path from 'node:path';
import { writeSampleLog } from '../statalysis/generate';
import { importFile } from '../statalysis/import';
import type { StatBroker } from '../statalysis/stat-broker';
import type { LiveStats } from './stats-dict';

/** The sample's name in `sampleDir`: rewritten, with a new seed, for each import. */
export const LIVE_SAMPLE = 'statalysis-live-sample.log';

export interface JobOptions {
  readonly broker: StatBroker;
  readonly stats: LiveStats;
  /** A log to import; without one, a new sample of `sampleLines` lines in `sampleDir` each time. */
  readonly file?: string;
  readonly sampleLines: number;
  readonly sampleDir: string;
  /** Lines per transaction. */
  readonly batchSize: number;
}

/**
 * At most one import at a time, reported to {@link LiveStats} as it goes.
 * Each start imports a sample the database has not seen (a new seed), so
 * that the demo can be run again and again; a FILE imported before is
 * skipped, as statalysis does. An import never rejects: a failure ends up
 * in the stats (`state: failed`, `message`).
 */
export class ImportJob {
  readonly #o: JobOptions;
  #running: Promise<void> | undefined;
  #stopping = false;

  constructor(options: JobOptions) {
    this.#o = options;
  }

  get running(): boolean {
    return this.#running !== undefined;
  }

  /** Starts an import unless one is running: false if one is. */
  start(): boolean {
    if (this.#running || this.#stopping) return false;
    this.#running = this.#run().finally(() => (this.#running = undefined));
    return true;
  }

  /** Refuses new imports; resolves once the current one, if any, has ended (failed, if its broker was shut down). */
  stop(): Promise<void> {
    this.#stopping = true;
    return this.#running ?? Promise.resolve();
  }

  async #run(): Promise<void> {
    const { broker, stats, batchSize } = this.#o;
    try {
      const { file, total } = await this.#source();
      stats.begin(path.basename(file), total, fs.statSync(file).size);
      const result = await importFile(broker, file, {
        batchSize,
        onBatch: (records, bad) => stats.batch(records, bad),
        onProgress: (p) => stats.progress(p.bytesRead),
      });
      if (result.outcome === 'skipped') stats.finish('skipped', `${result.name} was imported before: nothing new`);
      else stats.finish('done');
    } catch (err) {
      const why = this.#stopping ? 'stopped by the server shutting down' : (err as Error).message;
      // The dict may be shut down already: then there is nowhere to say it.
      try {
        stats.finish('failed', why);
      } catch {
        /* shut down */
      }
    }
  }

  async #source(): Promise<{ file: string; total: number }> {
    const { file, sampleDir, sampleLines } = this.#o;
    if (file) return { file, total: 0 };
    const sample = path.join(sampleDir, LIVE_SAMPLE);
    await writeSampleLog(sample, { lines: sampleLines, seed: Date.now() % 2 ** 31 });
    return { file: sample, total: sampleLines };
  }
}
