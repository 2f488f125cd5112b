import type { DataSource } from 'typeorm';
import type sqlite3 from 'sqlite3';
import { EventEmitter } from 'node:events';
import { sqliteConnection } from '../typeorm/sqlite-driver';

type OnChange = (table: string) => void;

/** Per connection: the one 'change' listener sasync adds, and who hears it. */
const hooks = new WeakMap<
  sqlite3.Database,
  { readonly fns: Set<OnChange>; readonly listener: (...a: unknown[]) => void }
>();

/**
 * Calls `fn` with the table of each row the DataSource's connection writes
 * (node-sqlite3's `change` event: sqlite's update hook, triggers' writes
 * included), until the function returned is called. Only a wake-up: the
 * events come from sqlite's worker thread through the event loop, so they
 * may arrive after the writing transaction's COMMIT has answered, or
 * before, and a rolled-back write has them too.
 *
 * node-sqlite3 switches the hook on or off (a toggle) each time a 'change'
 * listener is added: sasync adds one listener per connection, whoever
 * listens here, and removes it with the last of them. An app's own 'change'
 * listener already there has switched the hook on: ours is then added
 * without toggling it. While the hook is on, node-sqlite3's async handle
 * keeps the process alive: stop listening when done.
 */
export function onConnectionChange(ds: DataSource, fn: OnChange): () => void {
  const db = sqliteConnection(ds);
  if (!db) return () => undefined;
  let hook = hooks.get(db);
  if (!hook) {
    const fns = new Set<OnChange>();
    const listener = (_type: unknown, _database: unknown, table: unknown) => {
      for (const f of [...fns]) {
        try {
          f(String(table));
        } catch {
          // A listener's failure is its own: the others still hear.
        }
      }
    };
    if (db.listenerCount('change') > 0) EventEmitter.prototype.on.call(db, 'change', listener);
    else db.on('change', listener);
    hooks.set(db, (hook = { fns, listener }));
  }
  const own: OnChange = (table) => fn(table);
  hook.fns.add(own);
  const current = hook;
  return () => {
    if (!current.fns.delete(own) || current.fns.size > 0) return;
    if (hooks.get(db) === current) hooks.delete(db);
    // node-sqlite3 switches the hook off only when no 'change' listener is left;
    // on a closed connection it would report an 'error' event instead (the hook went with it).
    if ((db as unknown as { open?: boolean }).open === false) {
      EventEmitter.prototype.removeListener.call(db, 'change', current.listener);
    } else db.removeListener('change', current.listener);
  };
}

/** How many 'change' listeners the DataSource's connection has (for specs). */
export function changeListenerCount(ds: DataSource): number {
  return sqliteConnection(ds)?.listenerCount('change') ?? 0;
}
