import type { DataSource, QueryRunner } from 'typeorm';
import { cancelBackend, destroySocket, isRunning, type PgClient } from '../typeorm/pg-client';
import { sendOneAtATime, stopOneAtATime } from '../typeorm/pg-one-at-a-time';
import { dropPendingBegin, pipelineStatements, stopPipelining } from '../typeorm/pg-pipeline';
import { autoPrepare, sendUnnamed, stopPreparing } from '../typeorm/pg-prepare';
import {
  pgPool,
  pgPoolClients,
  releaseRunnerClient,
  runnerClient,
  settledRunnerClient,
} from '../typeorm/postgres-driver';
import { recordLosses } from './lost-connection';
import { preparesStatements } from './options';

/**
 * Sets up an initialized DataSource: its clients record why they die, and,
 * on a DataSource sasync made, send SQL they repeat as named prepared
 * statements (none at all with the target's `prepare=false`), and a
 * transaction's BEGIN with its first statement and statements sent together
 * in one round trip (until the returned function stops all three). An app's own DataSource (`adopted`)
 * is left as its owner made it: its pool serves its owner's statements too,
 * which may go through a pooler that does not keep named statements
 * (pgbouncer in transaction mode). Its clients only hand pg one call at a
 * time (statements a transaction sends together wait in order, as in pg's
 * own queue, which warns and goes away in pg 9), until the returned
 * function puts them back.
 */
export function prepareConnection(ds: DataSource, adopted: boolean): () => void {
  const stopRecording = recordLosses(ds);
  const pool = pgPool(ds);
  if (!pool) return stopRecording;
  if (adopted) {
    for (const client of pgPoolClients(pool)) sendOneAtATime(client);
    pool.on('connect', sendOneAtATime);
    return () => {
      stopRecording();
      pool.off('connect', sendOneAtATime);
      for (const client of pgPoolClients(pool)) stopOneAtATime(client);
    };
  }
  // pipelineStatements' query goes over autoPrepare's: the statement it sends behind BEGIN is prepared as any other.
  const named = preparesStatements(ds.options);
  const prepare = (client: PgClient) => {
    if (named) autoPrepare(client);
    else sendUnnamed(client);
    pipelineStatements(client);
  };
  // A client back in the pool without COMMIT or ROLLBACK keeps no BEGIN for its next user.
  const released = (_err: unknown, client: PgClient) => dropPendingBegin(client);
  for (const client of pgPoolClients(pool)) prepare(client);
  pool.on('connect', prepare);
  pool.on('release', released);
  return () => {
    stopRecording();
    pool.off('connect', prepare);
    pool.off('release', released);
    for (const client of pgPoolClients(pool)) {
      stopPipelining(client);
      stopPreparing(client);
    }
  };
}

/** Cancels the runner's running statement, if one runs; true when it did. */
export async function interrupt(runner: QueryRunner): Promise<boolean> {
  const client = runnerClient(runner);
  // Nothing running (the work waits on something else): a plain ROLLBACK
  // will do, and the connection goes back to the pool.
  if (!client || !isRunning(client)) return false;
  // The cancel may reach the backend after its statement ended, so the
  // caller discards this connection afterwards rather than hand it to
  // someone whose query the cancel could hit.
  await cancelBackend(client);
  return true;
}

/** Gives up the runner's connection: pg-pool destroys it rather than pool it again. */
export function discard(runner: QueryRunner, error: unknown): Promise<void> {
  return releaseRunnerClient(runner, error ?? new Error('discarded'));
}

/** Destroys the runner's connection at once, once it has one (bounded by the connect timeout). */
export async function destroy(runner: QueryRunner): Promise<void> {
  const client = await settledRunnerClient(runner);
  // pg-pool drops a client released with an error, and ends it; ending
  // waits for a server that may never answer, so the socket goes now.
  await releaseRunnerClient(runner, new Error('destroyed: the server did not answer in time'));
  destroySocket(client);
}
