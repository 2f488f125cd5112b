import type { QueryRunner } from 'typeorm';
import type { RowSource } from '../../rows/row-source';

let cursors = 0;

/**
 * A cursor declared inside a transaction and read with `FETCH n`. Unlike a
 * pg-cursor portal, which keeps the client busy until it closes, other
 * statements of the same transaction run between fetches: work that reads a
 * stream and writes for each row must not wait for itself.
 */
export function declaredCursorSource<T>(runner: QueryRunner, sql: string, parameters: unknown[]): RowSource<T> {
  const name = `sasync_cursor_${++cursors}`;
  let declared: Promise<unknown> | undefined;
  let closed: Promise<void> | undefined;
  return {
    async read(n) {
      declared ??= runner.query(`DECLARE ${name} NO SCROLL CURSOR FOR ${sql}`, parameters);
      await declared;
      return (await runner.query(`FETCH ${Number(n)} FROM ${name}`)) as T[];
    },
    close() {
      closed ??= (async () => {
        // Once the transaction has ended, so has the cursor.
        if (declared && runner.isTransactionActive) await runner.query(`CLOSE ${name}`).catch(() => undefined);
      })();
      return closed;
    },
  };
}
