import { Client, type ClientConfig } from 'pg';

/**
 * pg's Client, whose connecting gives up after `ms`. The timeout is set on
 * each client rather than on the pool: pg-pool would also start (and clear)
 * a timer for every checkout of an idle connection, once per transaction.
 * A wait for a pooled connection is bounded otherwise (sasync's queue keeps
 * transactions within the pool, and a caller's timeout or signal ends it).
 */
export function clientWithConnectTimeout(ms: number): typeof Client {
  return class TimedClient extends Client {
    constructor(config?: string | ClientConfig) {
      const given: ClientConfig = typeof config === 'string' ? { connectionString: config } : { ...config };
      super({ ...given, connectionTimeoutMillis: given.connectionTimeoutMillis || ms });
    }
  };
}
