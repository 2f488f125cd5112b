import { fork } from 'node:child_process';
import path from 'node:path';
import type { Job } from './types';

type Reply = { ok: true; value: unknown } | { ok: false; error: string };

/** Runs one job in a fresh process (with the parent's tsx flags and environment) and returns its result. */
export function runJob<T>(job: Job): Promise<T> {
  const child = fork(path.join(__dirname, 'worker.ts'), [JSON.stringify(job)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise<T>((resolve, reject) => {
    let reply: Reply | undefined;
    child.once('message', (message: Reply) => (reply = message));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (reply?.ok) resolve(reply.value as T);
      else reject(new Error(reply?.error ?? `the subject's process ended (${signal ?? code}) without a result`));
    });
  });
}
