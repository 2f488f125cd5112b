import { lastValueFrom, toArray } from 'rxjs';
import { AccessBroker, resolveTarget } from '../../../lib';
import { sqliteFile } from '../../support/targets';

async function journalMode(b: AccessBroker): Promise<string> {
  const [row] = await lastValueFrom(b.query<{ journal_mode: string }>('PRAGMA journal_mode'));
  return row!.journal_mode;
}

describe('sqlite file databases [sqlite-file]', () => {
  it('run in WAL mode, whether the target is a URL or DataSourceOptions', async () => {
    const fromUrl = new AccessBroker(sqliteFile.target());
    const fromOptions = new AccessBroker({
      type: 'sqlite',
      database: resolveTarget(sqliteFile.target()).options.database as string,
    });
    expect(await journalMode(fromUrl)).toBe('wal');
    expect(await journalMode(fromOptions)).toBe('wal');
    await Promise.all([fromUrl.shutdown(), fromOptions.shutdown()]);
  });

  it('keep an explicit enableWAL: false', async () => {
    const b = new AccessBroker({
      type: 'sqlite',
      database: resolveTarget(sqliteFile.target()).options.database as string,
      enableWAL: false,
    });
    expect(await journalMode(b)).toBe('delete');
    await b.shutdown();
  });

  it("give a stream's reader connection the DataSource's busyTimeout, not a fixed 5 s", async () => {
    const database = resolveTarget(sqliteFile.target()).options.database as string;
    const timeouts = async (options: { busyTimeout?: number }) => {
      const b = new AccessBroker({ type: 'sqlite', database, ...options });
      const rows = await lastValueFrom(
        b.stream<{ timeout: number }>('SELECT * FROM pragma_busy_timeout').pipe(toArray()),
      );
      const [own] = await lastValueFrom(b.query<{ timeout: number }>('SELECT * FROM pragma_busy_timeout'));
      await b.shutdown();
      return { reader: rows.map((r) => r.timeout), own: own!.timeout };
    };
    expect(await timeouts({ busyTimeout: 300 })).toEqual({ reader: [300], own: 300 });
    expect(await timeouts({})).toEqual({ reader: [5000], own: 5000 });
  });
});

describe('sqlite file databases opened by several DataSources at once [sqlite-file]', () => {
  // On a new file, connections switching it to WAL together each hold a shared
  // lock and want the exclusive one; SQLite answers SQLITE_BUSY at once, without
  // waiting (about one round of four in six failed before the switch was tried again).
  it('all open, in WAL mode, round after round on fresh files', async () => {
    const failures: string[] = [];
    for (let round = 0; round < 40; round++) {
      const database = resolveTarget(sqliteFile.target()).options.database as string;
      const brokers = Array.from({ length: 4 }, () => new AccessBroker({ type: 'sqlite', database }));
      const modes = await Promise.allSettled(brokers.map(journalMode));
      await Promise.all(brokers.map((b) => b.shutdown()));
      for (const m of modes) failures.push(m.status === 'fulfilled' ? m.value : String(m.reason));
    }
    expect(failures).toEqual(Array.from({ length: 160 }, () => 'wal'));
  }, 60_000);
});
