/**
 * The mark on a statement's values that asks for COMMIT right behind it:
 * `commitWith()` marks its statement's values, the guard keeps the mark on
 * the values it binds, and a postgres connection that pipelines sends COMMIT
 * at once after the marked statement, in the same round trip (see
 * pg-pipeline.ts). Elsewhere the mark is ignored: COMMIT goes the usual way,
 * after the statement's answer. A symbol-keyed property on the values array:
 * the driver reads only its elements.
 */
const COMMIT_BEHIND = Symbol('sasync.commitBehind');

type Marked = unknown[] & { [COMMIT_BEHIND]?: true };

/** `values`, marked: the statement sent with them is its transaction's last, COMMIT goes right behind it. */
export function markCommitBehind<T extends unknown[]>(values: T): T {
  (values as Marked)[COMMIT_BEHIND] = true;
  return values;
}

/** Whether `values` carry {@link markCommitBehind}'s mark. */
export function commitsBehind(values: unknown): boolean {
  return Array.isArray(values) && (values as Marked)[COMMIT_BEHIND] === true;
}
