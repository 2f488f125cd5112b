import type { EntityManager, ObjectLiteral } from 'typeorm';
import { InvalidIdentifierError, TransactionError } from '../errors';
import type { StreamGate } from '../rows/open-stream';
import type { RowStream } from '../rows/row-stream';
import type { StreamOptions } from '../rows/stream-options';
import { queryStream } from '../rows/query-stream';
import { checkIdentifier } from '../schema/identifiers';
import { Awaitable } from '../transaction/awaitable';
import { currentContext } from '../transaction/context';
import { checkTransactOptions, type TransactOptions } from '../transaction/options';
import type { Submitted, Submitter } from '../transaction/submit';
import type { PreparedStatement } from '../dialect';
import { preparedStatement, type Prepared } from './prepared';
import { refusedStatement } from './refused-parameters';
import type { SharedDatabase } from './registry';

/** Statements that start or end a transaction or savepoint. */
const TRANSACTION_CONTROL = /^\s*(begin|start|commit|end|rollback|abort|savepoint|release)\b/i;

/** A statement's submission: in autocommit, or (with an isolation level) in a transaction of its own. */
const AUTOCOMMIT: Submitted = { autocommit: true, kind: 'statement' };
const IN_TRANSACTION: Submitted = { autocommit: false, kind: 'statement' };

/** Statements run one at a time: a broker's query() and its prepared statements (see AccessBroker.query, .prepare). */
export class Statements {
  readonly #db: SharedDatabase;
  readonly #submitter: Submitter;
  readonly #gate: StreamGate;
  readonly #prepared = new Map<string, Prepared<unknown>>();

  constructor(db: SharedDatabase, submitter: Submitter, gate: StreamGate) {
    this.#db = db;
    this.#submitter = submitter;
    this.#gate = gate;
  }

  /** See AccessBroker.query. */
  query<T>(
    sql: string,
    parameters: readonly unknown[] | undefined,
    options: TransactOptions | undefined,
  ): Awaitable<T[]> {
    checkTransactOptions(options);
    const values = parameters ? [...parameters] : undefined;
    const refused = refusedStatement<T[]>(this.#db.dialect, values ?? [], sql);
    if (refused) return refused;
    const run = (tx: EntityManager) => tx.query(sql, values) as Promise<T[]>;
    return this.#statement(run, options ?? {}, options?.name ?? 'query', sql);
  }

  /**
   * See AccessBroker.prepare: one Prepared per name, for this broker.
   * @throws InvalidIdentifierError for a bad name or a name reused for other SQL.
   */
  prepare<T = ObjectLiteral>(name: string, sql: string): Prepared<T> {
    const existing = this.#prepared.get(name);
    if (existing) {
      if (existing.sql !== sql) {
        throw new InvalidIdentifierError(
          'statement',
          name,
          `it is already prepared for other SQL (${JSON.stringify(existing.sql)}); use another name`,
        );
      }
      return existing as Prepared<T>;
    }
    checkIdentifier('statement', name);
    const prepared = new PreparedQuery<T>(this, name, sql);
    this.#prepared.set(name, prepared as Prepared<unknown>);
    return prepared;
  }

  /** Runs a prepared statement, named `name` for messages (see Prepared.query). */
  runPrepared<T>(
    statement: PreparedStatement,
    name: string,
    parameters: readonly unknown[] | undefined,
    options: TransactOptions | undefined,
  ): Awaitable<T[]> {
    checkTransactOptions(options);
    const values = parameters ? [...parameters] : [];
    const refused = refusedStatement<T[]>(this.#db.dialect, values, statement.sql);
    if (refused) return refused;
    const run = (tx: EntityManager) => this.#db.dialect.runPrepared(tx.queryRunner!, statement, values) as Promise<T[]>;
    return this.#statement(run, options ?? {}, options?.name ?? name, statement.sql);
  }

  /** Streams a prepared statement's rows (as a cursor, not as the prepared statement). */
  streamPrepared<T>(sql: string, parameters: readonly unknown[] | undefined, options?: StreamOptions): RowStream<T> {
    return queryStream<T>(this.#db, this.#gate, sql, parameters, options);
  }

  /** One statement through the queue, in the current transaction or in autocommit. */
  #statement<R>(
    work: (tx: EntityManager) => Promise<R>,
    options: TransactOptions,
    method: string,
    sql: string,
  ): Awaitable<R> {
    const how = options.isolation === undefined ? AUTOCOMMIT : IN_TRANSACTION;
    const statement = this.#submitter.transaction(work, options, method, how) as Awaitable<R>;
    if (!TRANSACTION_CONTROL.test(sql)) return statement;
    // On its own, BEGIN would leave a transaction open on a pooled connection.
    return new Awaitable<R>((subscriber) => {
      if (currentContext(this.#db)?.open) return statement.subscribe(subscriber);
      subscriber.error(
        new TransactionError(
          `${method} runs one statement on its own and cannot control a transaction (${sql.trim().split(/\s/)[0]}): ` +
            'use transact() for a transaction, and { savepoint: true } for a savepoint',
          { method, sql },
        ),
      );
      return undefined;
    });
  }
}

/** A statement made by `prepare()`: compiled once per connection, run with new parameters. */
class PreparedQuery<T> implements Prepared<T> {
  readonly #statement: PreparedStatement;
  readonly #statements: Statements;

  constructor(
    statements: Statements,
    readonly name: string,
    readonly sql: string,
  ) {
    this.#statements = statements;
    this.#statement = preparedStatement(sql);
  }

  query(parameters?: readonly unknown[], options?: TransactOptions): Awaitable<T[]> {
    return this.#statements.runPrepared<T>(this.#statement, this.name, parameters, options);
  }

  stream(parameters?: readonly unknown[], options?: StreamOptions): RowStream<T> {
    return this.#statements.streamPrepared<T>(this.sql, parameters, options);
  }
}
