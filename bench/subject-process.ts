import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import type { SubjectName, SubjectSpec } from './subject';
import type { Reply, Request } from './subject-worker';
import type { Measure, Sample } from './timing';

/** A subject running in its own process (see subject-worker.ts for why). */
export interface RemoteSubject {
  readonly name: SubjectName;
  measure(m: Measure): Promise<Sample>;
  /** Drops the subject's table, closes its connections and ends the process. */
  close(): Promise<void>;
}

type Pending = { resolve: (value: unknown) => void; reject: (err: Error) => void };
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** Starts a subject's process (with the parent's tsx flags) and opens the subject in it. */
export async function spawnSubject(spec: SubjectSpec): Promise<RemoteSubject> {
  const child = fork(path.join(__dirname, 'subject-worker.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const call = rpc(child, spec.name);
  try {
    await call({ op: 'open', spec });
  } catch (err) {
    child.kill();
    throw err;
  }
  return {
    name: spec.name,
    measure: (m) => call({ op: 'measure', measure: m }) as Promise<Sample>,
    async close() {
      try {
        await call({ op: 'close' });
      } finally {
        await stop(child);
      }
    },
  };
}

function rpc(child: ChildProcess, name: string): (request: WithoutId<Request>) => Promise<unknown> {
  const pending = new Map<number, Pending>();
  let nextId = 0;
  child.on('message', (reply: Reply) => {
    const p = pending.get(reply.id);
    pending.delete(reply.id);
    if (reply.ok) p?.resolve(reply.value);
    else p?.reject(new Error(`${name}: ${reply.error}`));
  });
  child.on('exit', (code, signal) => {
    for (const p of pending.values()) p.reject(new Error(`${name}'s process ended (${signal ?? code})`));
    pending.clear();
  });
  return (request) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      child.send({ ...request, id });
    });
}

/** Lets the process end by itself once its connections are closed; kills it if it lingers. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  if (child.connected) child.disconnect();
  const timer = setTimeout(() => child.kill(), 5000);
  await exited;
  clearTimeout(timer);
}
