import type { CancelToken } from '../cancel';
import type { ObjectLiteral } from 'typeorm';
import type { SharedDatabase } from '../broker/registry';
import { refusedParameters } from '../broker/refused-parameters';
import type { CursorQuery } from '../dialect';
import { openStream, type StreamGate } from '../rows/open-stream';
import type { RowSource } from '../rows/row-source';
import { RowStream } from '../rows/row-stream';
import {
  checkEntitiesOption,
  checkStreamOptions,
  type QueryBuilderStreamOptions,
  type StreamOptions,
} from '../rows/stream-options';
import { checkIdentifier } from '../schema/identifiers';
import type { Member } from './member';

/** What a routed stream needs from its router. */
export interface RoutedStreamSpec {
  readonly primary: SharedDatabase;
  readonly gate: StreamGate;
  readonly sql: string;
  readonly parameters: readonly unknown[] | undefined;
  readonly options: StreamOptions | undefined;
  /**
   * Where this subscription reads (undefined: the primary). Its wait for a
   * replica ends when `cancel` aborts (the stream's signal, unsubscribe, or its end).
   */
  choose(cancel: CancelToken): Member | undefined | Promise<Member | undefined>;
  /** Whether opening failed on the replica for a reason that sends it to the primary. */
  fallsBack(member: Member, err: unknown): 'lost' | 'refused' | undefined;
}

/** A routed cursor whose options were checked, and what makes its rows (`T`) of the raw rows (`R`) read. */
export interface RoutedCursorSpec<T, R> extends RoutedStreamSpec {
  readonly parameters: readonly unknown[];
  readonly options: StreamOptions;
  /**
   * Called per subscription, in its async context, once it is known where
   * its cursor reads (`db`: a replica's database, `replica` true; or the primary's).
   */
  perSubscription(db: SharedDatabase, replica: boolean): (raw: RowSource<R>) => RowSource<T>;
}

/**
 * `stream(sql)` on a replicated target: checked as on one database, each
 * subscription read where the router says (a replica, in its read-only
 * cursor transaction, from its own stream budget), or on the primary when
 * opening the cursor on the replica failed for the replica's own reason. Once
 * rows were read, a failure is the stream's (nothing is read twice).
 * @throws TypeError for parameters that are not an array or `entities: true`; RangeError or TypeError for bad
 *   options, InvalidIdentifierError for a malformed `key`.
 */
export function routedStream<T = ObjectLiteral>(spec: RoutedStreamSpec): RowStream<T> {
  const { parameters } = spec;
  const options = spec.options ?? {};
  if (parameters !== undefined && !Array.isArray(parameters)) {
    throw new TypeError('stream(sql, parameters, options): parameters must be an array (pass [] for none)');
  }
  checkStreamOptions(options);
  checkEntitiesOption((options as QueryBuilderStreamOptions).entities, false);
  return routedCursorStream<T, T>({
    ...spec,
    parameters: parameters ?? [],
    options,
    perSubscription: () => (raw) => raw,
  });
}

/**
 * A routed stream of checked options (raw SQL's, or a QueryBuilder's SQL and
 * parameters, see queryBuilderCursor): per subscription, its cursor opened
 * where `choose()` says, its rows made by `perSubscription`'s function of the
 * raw rows read there; on the primary when opening on the replica, or its
 * first read, failed for the replica's own reason.
 * @throws InvalidIdentifierError for a malformed `key`.
 */
export function routedCursorStream<T, R>(spec: RoutedCursorSpec<T, R>): RowStream<T> {
  const { primary, gate, sql, options } = spec;
  if (options.key !== undefined) checkIdentifier('column', options.key);
  const cursor: CursorQuery = { sql, parameters: [...spec.parameters], key: options.key };
  const refused = refusedParameters(primary.dialect, cursor.parameters, sql);
  return new RowStream<T>(async (token) => {
    if (refused !== undefined) throw refused;
    const member = await spec.choose(token);
    const onPrimary = () => openStream<R>(primary, gate, cursor, options, token);
    if (member) {
      // Made before the cursor opens, as on one database (in the subscription's context).
      const adapt = spec.perSubscription(member.node.db, true);
      try {
        const source = await openStream<R>(member.node.db, gate, cursor, options, token);
        return adapt(
          onReplica(source, member, (err) => (token.aborted ? undefined : spec.fallsBack(member, err) && onPrimary())),
        );
      } catch (err) {
        if (token.aborted || !spec.fallsBack(member, err)) throw err;
      }
    }
    const adapt = spec.perSubscription(primary, false);
    return adapt(await onPrimary());
  }, options);
}

/**
 * `source`, counted among its replica's reads until it closes; a first read
 * that fails for the replica's own reason (`elsewhere` gives the primary's
 * source then) goes on from the primary, since no row was delivered yet.
 */
function onReplica<T>(
  source: RowSource<T>,
  member: Member,
  elsewhere: (err: unknown) => Promise<RowSource<T>> | undefined,
): RowSource<T> {
  const node = member.node;
  node.inflight++;
  let current = source;
  let counted = true;
  let delivered = false;
  const uncount = () => {
    if (counted) node.inflight--;
    counted = false;
  };
  return {
    async read(n) {
      try {
        const rows = await current.read(n);
        delivered = true;
        return rows;
      } catch (err) {
        const primary = delivered || current !== source ? undefined : elsewhere(err);
        if (!primary) throw err;
        // Not waited for: closing a cursor whose server went away may take as long as the socket does to notice.
        void source.close().catch(() => undefined);
        uncount();
        current = await primary;
        return current.read(n);
      }
    },
    close: () => {
      uncount();
      return current.close();
    },
    interrupt: () => current.interrupt?.(),
  };
}
