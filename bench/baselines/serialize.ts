/**
 * A promise-chain mutex: each call starts after the previous one settled.
 * What a correct user of TypeORM's sqlite driver (one connection, one shared
 * QueryRunner) or of one sqlite3 connection must put around transactions.
 */
export function serializer(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const next = tail.then(fn, fn);
    tail = next.catch(() => undefined);
    return next;
  };
}
