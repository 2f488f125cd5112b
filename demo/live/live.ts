import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Observable } from 'rxjs';
import type { DatabaseTarget } from '../../lib';
import { StatBroker } from '../statalysis/stat-broker';
import { EventStreams } from './events';
import { ImportJob } from './import-job';
import { liveServer } from './server';
import { LiveStats } from './stats-dict';
import { topUrls } from './top-urls';

export interface LiveOptions {
  /** The database the import and its statistics go to. */
  readonly target: DatabaseTarget;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  /** A log to import; without one, a generated sample (see {@link ImportJob}). */
  readonly file?: string;
  readonly sampleLines?: number;
  /** Where samples are written (default: a temporary directory, removed by close()). */
  readonly sampleDir?: string;
  /** Lines per transaction (default 1000). */
  readonly batchSize?: number;
}

export interface Live {
  /** `http://127.0.0.1:PORT/` */
  readonly url: string;
  readonly job: ImportJob;
  /** Event streams open now. */
  readonly clients: () => number;
  /** Event streams open, now and at every change: wait on it rather than poll `clients()`. */
  readonly clients$: Observable<number>;
  /** Stops the server and any import, then shuts down the broker and the dict; resolves when all is released. */
  close(): Promise<void>;
}

/** Listening failed: `code` is the system's (EADDRINUSE when the port is taken). */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  constructor(
    readonly code: string,
    readonly port: number,
    options: { cause: unknown },
  ) {
    super(`cannot listen on 127.0.0.1:${port}: ${code}`, options);
  }
}

/**
 * Opens the import's broker and the live statistics on `target`, then serves
 * the live page on 127.0.0.1. Whatever fails on the way is released before
 * the error reaches the caller.
 */
export async function startLive(options: LiveOptions): Promise<Live> {
  const { target, port = 0, file, sampleLines = 200_000, batchSize = 1000 } = options;
  const ownDir = options.sampleDir ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'sasync-live-'));
  const broker = new StatBroker(target);
  const stats = new LiveStats(target);
  const job = new ImportJob({ broker, stats, file, sampleLines, sampleDir: options.sampleDir ?? ownDir!, batchSize });
  const events = new EventStreams(stats.dict.snapshot$({ within: 250 }), topUrls(broker));
  const server = liveServer(events, job);

  const release = async () => {
    // The import fails at its next transaction once the broker is shut down; it records that in the dict, so the dict goes last.
    const stopped = job.stop();
    await broker.shutdown();
    await stopped;
    await stats.dict.shutdown();
    if (ownDir) fs.rmSync(ownDir, { recursive: true, force: true });
  };
  try {
    await Promise.all([broker.waitUntilRunning(), stats.open()]);
    await listen(server, port);
  } catch (err) {
    await release().catch(() => undefined);
    throw err;
  }
  const { port: actual } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${actual}/`,
    job,
    clients: () => events.open,
    clients$: events.open$,
    close: () => (closing ??= closeServer(server).then(release)),
  };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new ListenError(err.code ?? 'error', port, { cause: err })),
    );
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

/** Stops listening and ends every connection, event streams included (their subscriptions end with them). */
function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
