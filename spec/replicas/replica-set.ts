import { createCluster, type PgCluster } from '../support/pg-cluster';

/** A private primary and one streaming replica of it, for the replica specs (never the shared server). */
export interface ReplicaPair {
  readonly primary: PgCluster;
  readonly replica: PgCluster;
  /** The replicated target: the primary's URL and the replica's, with these settings. */
  target(settings?: { maxReplicaWait?: number; maxReplicaLag?: number }): {
    primary: string;
    replicas: string[];
    maxReplicaWait?: number;
    maxReplicaLag?: number;
  };
  remove(): Promise<void>;
}

/** Creates a primary and a replica (about two seconds); `remove()` them in afterAll. */
export async function createReplicaPair(): Promise<ReplicaPair> {
  const primary = await createCluster();
  let replica: PgCluster;
  try {
    replica = await primary.replica();
  } catch (err) {
    await primary.remove();
    throw err;
  }
  return {
    primary,
    replica,
    target: (settings = {}) => ({ primary: primary.url, replicas: [replica.url], ...settings }),
    async remove() {
      await replica.remove();
      await primary.remove();
    },
  };
}

/** Where a statement ran: the replica answers true. */
export const WHERE = 'SELECT pg_is_in_recovery() AS replica';
