import { AccessBroker } from '../../lib';
import { pgClusterAvailable } from '../support/pg-cluster';
import { createReplicaPair, type ReplicaPair } from './replica-set';

/**
 * The example of the README's section on replicas (proposed in
 * /work/briefs/readme-replicas.md), run on a private primary and replica:
 * keep the two in step.
 */
async function example(PRIMARY_URL: string, REPLICA_URL: string): Promise<string[]> {
  const out: string[] = [];
  const log = (...values: unknown[]) => out.push(values.map(String).join(' '));
  // --- the README's block begins here
  const broker = new AccessBroker({ primary: PRIMARY_URL, replicas: [REPLICA_URL], maxReplicaWait: 100 });
  await broker.query('CREATE TABLE IF NOT EXISTS visits (id serial PRIMARY KEY, page text NOT NULL)');

  // A write goes to the primary; the read right after it sees it, on the replica once it has replayed it.
  await broker.query('INSERT INTO visits (page) VALUES ($1)', ['/home']);
  const [count] = await broker.query<{ n: number }>('SELECT count(*)::int AS n FROM visits');
  log('visits', count!.n);

  // Where a read ran: { route: 'primary' } forces the primary (sAsync's using_bind).
  const [here] = await broker.query<{ replica: boolean }>('SELECT pg_is_in_recovery() AS replica', [], {
    route: 'primary',
  });
  log('on the replica?', here!.replica);

  // Read-only work runs on a replica too; a write there fails with ReadOnlyError.
  const pages = await broker.transact((tx) => tx.query('SELECT page FROM visits'), { readOnly: true });
  log('pages', JSON.stringify(pages));

  // Another process reads what this one wrote by passing the token on (in a cookie, a header…).
  const token = await broker.consistencyToken();
  const [after] = await broker.query<{ n: number }>('SELECT count(*)::int AS n FROM visits', [], { after: token });
  log('with the token', after!.n);
  await broker.shutdown();
  // --- the README's block ends here
  return out;
}

(pgClusterAvailable ? describe : describe.skip)('the README example of replicas [postgres]', () => {
  let pair: ReplicaPair;
  beforeAll(async () => {
    pair = await createReplicaPair();
  });
  afterAll(async () => {
    await pair?.remove();
  });

  it('prints what the README says', async () => {
    expect(await example(pair.primary.url, pair.replica.url)).toEqual([
      'visits 1',
      'on the replica? false',
      'pages [{"page":"/home"}]',
      'with the token 1',
    ]);
  });
});
