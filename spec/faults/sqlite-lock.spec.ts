import { lastValueFrom } from 'rxjs';
import { DatabaseError, TimeoutError } from '../../lib';
import { ItemsBroker } from '../support/brokers';
import { holdSqliteLock } from '../support/sqlite-lock';
import { sqliteFile } from '../support/targets';

/** The bound on hearing of a timeout, and a margin for a loaded machine where none is asked for. */
const WITHIN = 250;
const MARGIN = 2000;

/** The sqlite file of a target string. */
function fileOf(target: string): string {
  return target.replace(/^sqlite:/, '');
}

/**
 * Another process holds a sqlite write lock: a transaction with a timeout
 * errors at its deadline rather than after the busy timeout, opening a
 * locked file is bounded, and once the lock is released the broker goes on.
 */
describe('another process holding a sqlite write lock [sqlite-file]', () => {
  it('a transaction with timeout errors at the deadline; after the release the broker goes on [sqlite-file]', async () => {
    const target = sqliteFile.target();
    const broker = new ItemsBroker(target);
    await broker.waitUntilRunning();
    const holder = await holdSqliteLock(fileOf(target));
    try {
      const start = Date.now();
      let error: unknown;
      try {
        await lastValueFrom(broker.query(broker.insertSql(), ['blocked'], { timeout: 1000 }));
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(TimeoutError);
      expect((error as TimeoutError).timeout).toBe(1000);
      expect((error as Error).message).toMatch(/timed out after 1000 ms/);
      expect(Date.now() - start).toBeLessThan(1000 + WITHIN);
    } finally {
      await holder.release();
    }
    await lastValueFrom(broker.query(broker.insertSql(), ['after']));
    expect(await broker.names()).toEqual(['after']);
    await broker.shutdown();
  });

  it('opening a file another process holds locked is bounded by the busy timeout; after the release the broker starts [sqlite-file]', async () => {
    const target = sqliteFile.target();
    const holder = await holdSqliteLock(fileOf(target));
    const broker = new ItemsBroker(target);
    try {
      const start = Date.now();
      let error: unknown;
      try {
        await broker.waitUntilRunning();
      } catch (err) {
        error = err;
      }
      // Either it could start (reading under a write lock) or it says why not, within the busy timeout.
      expect(Date.now() - start).toBeLessThan(5000 + MARGIN);
      if (error !== undefined) expect(error).toBeInstanceOf(DatabaseError);
    } finally {
      await holder.release();
    }
    await broker.waitUntilRunning();
    await lastValueFrom(broker.query(broker.insertSql(), ['after']));
    expect(await broker.names()).toEqual(['after']);
    await broker.shutdown();
  });
});
