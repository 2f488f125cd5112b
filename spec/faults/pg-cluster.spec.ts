import fs from 'node:fs';
import { Client } from 'pg';
import { createCluster, pgClusterAvailable, processState, type PgCluster } from '../support/pg-cluster';

/** The private cluster the fault specs use: it starts, freezes, thaws, terminates, restarts and goes away. */
(pgClusterAvailable ? describe : describe.skip)('private postgres cluster (spec/support/pg-cluster.ts)', () => {
  let cluster: PgCluster;
  beforeAll(async () => {
    cluster = await createCluster();
  });
  afterAll(async () => {
    await cluster?.remove();
  });

  it('serves on its own port, and freeze() stops only its own processes until thaw()', async () => {
    expect(cluster.port).not.toBe(5432);
    const [row] = await cluster.query<{ port: string }>('SHOW port');
    expect(Number(row!.port)).toBe(cluster.port);
    const client = new Client({ connectionString: cluster.url, application_name: 'smoke' });
    await client.connect();
    try {
      cluster.freeze();
      let answered = false;
      const pending = client.query('SELECT 1 AS one').then((r) => ((answered = true), r));
      // Stopped (state T), the postmaster and this client's backend cannot answer.
      expect(processState(cluster.pid()!)).toBe('T');
      expect(processState((client as unknown as { processID: number }).processID)).toBe('T');
      expect(answered).toBe(false);
      cluster.thaw();
      expect((await pending).rows).toEqual([{ one: 1 }]);
    } finally {
      // A failed expectation must not leave the cluster frozen for the specs after it.
      cluster.thaw();
      await client.end();
    }
  });

  it('terminate() ends the backends with an application_name, with 57P01', async () => {
    const client = new Client({ connectionString: cluster.url, application_name: 'victim' });
    await client.connect();
    const ended = new Promise<unknown>((resolve) => client.on('error', resolve));
    expect(await cluster.backends('victim')).toHaveLength(1);
    expect(await cluster.terminate('victim')).toBe(1);
    expect(await ended).toMatchObject({ code: '57P01' });
    await client.end().catch(() => undefined);
  });

  it('restart() brings it back on the same port; remove() deletes it', async () => {
    const before = cluster.pid();
    await cluster.restart({ mode: 'immediate' });
    expect(cluster.pid()).not.toBe(before);
    expect(await cluster.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    const other = await createCluster();
    const dir = other.dataDir;
    await other.remove();
    expect(fs.existsSync(dir)).toBe(false);
    expect(other.running()).toBe(false);
  });

  it("replica() streams the primary's writes", async () => {
    await cluster.query('CREATE TABLE IF NOT EXISTS replicated (n int)');
    await cluster.query('INSERT INTO replicated VALUES (1)');
    const replica = await cluster.replica();
    try {
      expect(replica.port).not.toBe(cluster.port);
      const [row] = await replica.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
      expect(row!.r).toBe(true);
      expect(await replica.query('SELECT n FROM replicated')).toEqual([{ n: 1 }]);
    } finally {
      await replica.remove();
    }
  });
});
