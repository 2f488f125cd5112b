import { openRawPostgres } from './baselines/raw-postgres';
import { openRawSqlite, openRawSqlitePrepared } from './baselines/raw-sqlite';
import { openTypeorm } from './baselines/typeorm-direct';
import { openKnex } from './peers/knex';
import { openKysely } from './peers/kysely';
import { openPipelined } from './peers/pipelined';
import { openPostgresJsSubject } from './peers/postgresjs';
import { openSasync, openSasyncCommitWith } from './sasync-subject';
import type { OpenSubject, SubjectName } from './subject';
import type { DbKind } from './workload';

/** How each transaction subject opens, per database. The peers (bench/peers/) run on postgres only. */
export const OPENERS: Record<DbKind, Partial<Record<SubjectName, OpenSubject>>> = {
  sqlite: {
    sasync: openSasync,
    commitWith: openSasyncCommitWith,
    typeorm: openTypeorm,
    raw: openRawSqlite,
    rawPrepared: openRawSqlitePrepared,
  },
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
