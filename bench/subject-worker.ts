/**
 * The entry of a subject's own process. Each subject runs alone in a process,
 * because TypeORM changes process-wide state that would bias the others:
 * it turns on node-sqlite3's verbose mode (a stack trace and util.inspect of
 * the arguments for every call) for every sqlite3 connection in the process,
 * and sasync's AsyncLocalStorage installs promise hooks.
 */
import { OPENERS } from './openers';
import type { Subject, SubjectSpec } from './subject';
import { measure, type Measure } from './timing';
import { postgresWorkload, sqliteWorkloadWith } from './workload';

export type Request =
  | { readonly id: number; readonly op: 'open'; readonly spec: SubjectSpec }
  | { readonly id: number; readonly op: 'measure'; readonly measure: Measure }
  | { readonly id: number; readonly op: 'close' };

export type Reply = { readonly id: number } & (
  { readonly ok: true; readonly value?: unknown } | { readonly ok: false; readonly error: string }
);

let subject: Subject | undefined;

async function handle(request: Request): Promise<unknown> {
  switch (request.op) {
    case 'open': {
      const { name, kind, target, table, synchronous } = request.spec;
      const workload = kind === 'sqlite' ? sqliteWorkloadWith(synchronous ?? 'FULL') : postgresWorkload;
      const open = OPENERS[kind][name];
      if (!open) throw new Error(`${name} does not run on ${kind}`);
      subject = await open({ target, workload, table });
      return undefined;
    }
    case 'measure':
      if (!subject) throw new Error('measure before open');
      return measure(subject.run, request.measure);
    case 'close':
      await subject?.close();
      subject = undefined;
      return undefined;
  }
}

process.on('message', (request: Request) => {
  handle(request).then(
    (value) => process.send!({ id: request.id, ok: true, value } satisfies Reply),
    (err: unknown) =>
      process.send!({
        id: request.id,
        ok: false,
        error: err instanceof Error ? (err.stack ?? err.message) : String(err),
      }),
  );
});
