import { ItemsBroker } from './brokers';
import { createCluster, type PgCluster } from './pg-cluster';

/** A private cluster and an ItemsBroker on it, made before a describe block's tests and removed after. */
export interface ClusterBroker {
  readonly cluster: PgCluster;
  readonly broker: ItemsBroker;
}

/**
 * Registers beforeAll/afterAll hooks that make a private postgres cluster and
 * an ItemsBroker on it (`query` appended to the URL, e.g. `?max=6`), thaw it,
 * shut the broker down and remove the cluster, whatever the tests did. Read
 * the fields inside tests and hooks only.
 */
export function useClusterBroker(query = ''): ClusterBroker {
  const made: { cluster?: PgCluster; broker?: ItemsBroker } = {};
  beforeAll(async () => {
    made.cluster = await createCluster();
    made.broker = new ItemsBroker(`${made.cluster.url}${query}`);
    await made.broker.waitUntilRunning();
  });
  afterAll(async () => {
    made.cluster?.thaw();
    await made.broker?.shutdown();
    await made.cluster?.remove();
  });
  return {
    get cluster() {
      return made.cluster!;
    },
    get broker() {
      return made.broker!;
    },
  };
}
