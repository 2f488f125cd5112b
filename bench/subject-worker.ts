/**
 * The entry of a subject's own process. Each subject runs alone in a process,
 * because TypeORM changes process-wide state that would bias the others:
 * it turns on node-sqlite3's verbose mode (a stack trace and util.inspect of
 * the arguments for every call) for every sqlite3 connection in the process,
 * and sasync's AsyncLocalStorage installs promise hooks.
 */
import { openRawPostgres } from './baselines/raw-postgres';
import { openRawSqlite } from './baselines/raw-sqlite';
import { openTypeorm } from './baselines/typeorm-direct';
import { openKnex } from './peers/knex';
import { openKysely } from './peers/kysely';
import { openPipelined } from './peers/pipelined';
import { openPostgresJsSubject } from './peers/postgresjs';
import { openSasync, openSasyncCommitWith } from './sasync-subject';
import type { OpenSubject, Subject, SubjectName, SubjectSpec } from './subject';
import { measure, type Measure } from './timing';
import { postgresWorkload, sqliteWorkload, type DbKind } from './workload';

export type Request =
  | { readonly id: number; readonly op: 'open'; readonly spec: SubjectSpec }
  | { readonly id: number; readonly op: 'measure'; readonly measure: Measure }
  | { readonly id: number; readonly op: 'close' };

export type Reply = { readonly id: number } & (
  { readonly ok: true; readonly value?: unknown } | { readonly ok: false; readonly error: string }
);

/** The peers (bench/peers/) run on postgres only. */
const OPENERS: Record<DbKind, Partial<Record<SubjectName, OpenSubject>>> = {
  sqlite: { sasync: openSasync, typeorm: openTypeorm, raw: openRawSqlite },
  postgres: {
    sasync: openSasync,
    commitWith: openSasyncCommitWith,
    typeorm: openTypeorm,
    raw: openRawPostgres,
    pipelined: openPipelined,
    kysely: openKysely,
    knex: openKnex,
    postgresjs: openPostgresJsSubject,
  },
};

let subject: Subject | undefined;

async function handle(request: Request): Promise<unknown> {
  switch (request.op) {
    case 'open': {
      const { name, kind, target, table } = request.spec;
      const workload = kind === 'sqlite' ? sqliteWorkload : postgresWorkload;
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
