import type { Statements } from '../broker/statements';
import type { Submitter } from '../transaction/submit';
import type { ReplicaNode } from './replica-node';

/** A replica as one broker uses it: its shared state, and the broker's queueing on its database. */
export interface Member {
  readonly node: ReplicaNode;
  readonly submitter: Submitter;
  readonly statements: Statements;
}
