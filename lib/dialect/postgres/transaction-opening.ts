/**
 * What opens a transaction that has run nothing yet: TypeORM's `START
 * TRANSACTION` (or a plain BEGIN) with its modes only (no statement after
 * it), then the `SET TRANSACTION` it may send; or a SAVEPOINT.
 */
const BEGIN = /^\s*(START\s+TRANSACTION|BEGIN)(\s+[A-Z ,]*)?;?\s*$/i;
const SET_TRANSACTION = /^\s*SET\s+TRANSACTION\s+[A-Z ,]+;?\s*$/i;
const SAVEPOINT = /^\s*SAVEPOINT\s+([A-Za-z_][A-Za-z0-9_]*)\s*;?\s*$/i;
/** What ends a transaction, or the failed part of one (ROLLBACK TO SAVEPOINT), or begins one. */
const BOUNDARY = /^\s*(ROLLBACK|COMMIT|END|ABORT|START\s+TRANSACTION|BEGIN)\b/i;

/**
 * The statements that undo a transaction (or savepoint) that has done
 * nothing and open it again as it was: `ROLLBACK` and the same BEGIN (and
 * SET TRANSACTION), or `ROLLBACK TO SAVEPOINT`.
 */
export type Reopen = readonly string[];

/**
 * Follows, in order, the statements one postgres connection sends, to tell
 * whether a statement is the first one of a transaction or savepoint (that
 * has done nothing else), and how to start that one again: when the server
 * refuses such a statement before running it (a stale cached plan), the
 * aborted transaction had done nothing, and can be begun again.
 *
 * A BEGIN counts only when sent on an idle connection (a BEGIN inside a
 * transaction opens nothing: postgres only warns); a SAVEPOINT sent outside
 * a transaction fails, and the statement after it runs in autocommit, where
 * the caller finds the connection idle and undoes nothing.
 */
export class TransactionOpening {
  /** The statements that opened the transaction or savepoint the next statement would be the first of. */
  #opened: string[] | undefined;
  #boundaries = 0;

  /** Transaction ends and beginnings sent so far: what is sent between two is in one transaction. */
  get boundaries(): number {
    return this.#boundaries;
  }

  /**
   * Takes the next call: `text` is its SQL when it is SQL sent without
   * values (undefined for anything else), `idle` whether the connection is
   * outside a transaction with nothing on the wire. Returns how to reopen
   * the transaction this call is the first statement of, else undefined.
   */
  follow(text: string | undefined, idle: () => boolean): Reopen | undefined {
    const first = this.#opened;
    this.#opened = undefined;
    if (text !== undefined && BOUNDARY.test(text)) this.#boundaries++;
    if (text === undefined) return first && reopen(first);
    if (BEGIN.test(text)) this.#opened = idle() ? [text] : undefined;
    else if (first && SET_TRANSACTION.test(text) && BEGIN.test(first[0]!)) this.#opened = [...first, text];
    else if (SAVEPOINT.test(text)) this.#opened = [text];
    else return first && reopen(first);
    return undefined;
  }

  /** Records statements sent to reopen a transaction (see {@link Reopen}): a boundary. */
  reopened(): void {
    this.#boundaries++;
  }
}

function reopen(opening: readonly string[]): Reopen {
  const savepoint = SAVEPOINT.exec(opening[0]!);
  return savepoint ? [`ROLLBACK TO SAVEPOINT ${savepoint[1]}`] : ['ROLLBACK', ...opening];
}
