import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { PersistentDict, type Change } from '../../lib';
import { LISTENER_APPLICATION_NAME } from '../../lib/dialect/postgres/bus';
import { remoteSettled } from '../../lib/stores/cached-store';
import { createCluster, pgClusterAvailable, type PgCluster } from '../support/pg-cluster';
import { until, within } from '../support/streams';
import { uniqueName } from '../support/targets';

const WRITER = path.join(__dirname, 'fixtures', 'log-writer.ts');
const N = 150;

/**
 * Faults on a private cluster (never the shared server) while another
 * process writes a steady stream: the reader continues from its position,
 * so nothing is lost, and a change is reported once however it arrives.
 */
(pgClusterAvailable ? describe : describe.skip)('the change log through faults [postgres]', () => {
  let cluster: PgCluster;
  beforeAll(async () => {
    cluster = await createCluster();
  });
  afterAll(async () => {
    cluster?.thaw();
    await cluster?.remove();
  });

  it('the LISTEN backend terminated, then the server restarted, during a stream of writes: every change once, views equal the table [postgres]', async () => {
    const group = uniqueName('g');
    const reader = new PersistentDict<string, number>(group, cluster.url);
    const seen: Change<string, number>[] = [];
    const sub = reader.changes$.subscribe((c) => seen.push(c));
    await reader.loadAll();
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, cluster.url, group, String(N)]);
    let written = -1;
    let done = false;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      if (line === 'done') done = true;
      else written = Number(line);
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      await until(() => written >= N / 4, 'a quarter written', 30_000);
      // Both listening (the writer's may still be connecting on a busy machine: it failed once in a full run).
      const listeners = async () => (await cluster.backends(LISTENER_APPLICATION_NAME)).length === 2;
      await until(listeners, "the reader's and the writer's listeners connected", 30_000);
      // This cluster's listeners (the reader's and the writer's): the shared server is not touched.
      expect(await cluster.terminate(LISTENER_APPLICATION_NAME)).toBe(2);
      await until(() => written >= N / 2, 'half written', 30_000);
      await cluster.restart({ mode: 'fast' });
      await until(() => done, `all written (${stderr})`, 60_000);
      expect(await exited).toBe(0);
      await within(reader[remoteSettled](), 'the reader catches up', 30_000);
      sub.unsubscribe();
      for (let i = 0; i < N; i++) {
        const sets = seen.filter((c) => c.type === 'set' && c.key === `w-${i}`);
        expect([i, sets.map((c) => [c.value, c.origin])]).toEqual([i, [[i, 'remote']]]);
      }
      expect(seen.filter((c) => c.type !== 'set' && c.type !== 'resync')).toEqual([]);
      const rows = await cluster.query<{ name: string; value: string }>(
        'SELECT name, value FROM sasync_items WHERE group_id = $1',
        [group],
      );
      expect(rows.length).toBe(N);
      expect((await reader.loadAll()).size).toBe(N);
    } finally {
      if (child.exitCode === null) child.kill();
      await reader.shutdown();
    }
  }, 120_000);
});
