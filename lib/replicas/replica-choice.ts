import type { CancelToken } from '../cancel';
import { clock } from '../clock';
import type { ReplicaNode } from './replica-node';

/** How long a read that waits for a replica pauses between two polls of its replay position. */
const POLL_PAUSE = 1;

/** Reads waiting in a ReplicaChoice now, all choices together. */
let waiting = 0;

/** How many reads wait for a replica to replay what they must see, in the whole process (specs, diagnostics). */
export function waitingReads(): number {
  return waiting;
}

/**
 * Picks the replica a read runs on among `nodes`: one in the rotation that
 * has replayed `required`, the least loaded (ties in turn). Without a round
 * trip when one is known to have; otherwise it polls their replay
 * positions (one poll per replica however many reads wait) until one has,
 * or `maxWait` ms have passed: undefined then (the read runs on the
 * primary), or its `cancel` token aborts (undefined at once, no timer
 * left: the call timed out or left while it waited). Replicas out of the rotation and due for a check are checked
 * in the background.
 */
export class ReplicaChoice {
  readonly #nodes: readonly ReplicaNode[];
  readonly #maxWait: number;
  readonly #maxLag: number;
  #turn = 0;

  constructor(nodes: readonly ReplicaNode[], maxWait: number, maxLag: number) {
    this.#nodes = nodes;
    this.#maxWait = maxWait;
    this.#maxLag = maxLag;
  }

  /**
   * The replica for a read that must see `required`; synchronous when one
   * is known to have replayed it. A wait ends (undefined) when `cancel` aborts.
   */
  choose(required: bigint, cancel?: CancelToken): ReplicaNode | undefined | Promise<ReplicaNode | undefined> {
    if (cancel?.aborted) return undefined;
    const known = this.#pick(required);
    if (known) return known;
    if (!this.#nodes.some((n) => n.available) || this.#maxWait === 0) return undefined;
    return this.#wait(required, clock.now() + this.#maxWait, cancel);
  }

  #pick(required: bigint): ReplicaNode | undefined {
    let best: ReplicaNode | undefined;
    const n = this.#nodes.length;
    const start = this.#turn++ % n;
    for (let i = 0; i < n; i++) {
      const node = this.#nodes[(start + i) % n]!;
      if (!node.available) {
        node.revive();
        continue;
      }
      if (node.replayed < required) continue;
      if (!best || node.inflight < best.inflight) best = node;
    }
    return best;
  }

  async #wait(required: bigint, deadline: number, cancel: CancelToken | undefined): Promise<ReplicaNode | undefined> {
    waiting++;
    try {
      for (;;) {
        const candidates = this.#nodes.filter((n) => n.available);
        const left = deadline - clock.now();
        if (candidates.length === 0 || left <= 0) return undefined;
        await within(Promise.all(candidates.map((n) => n.poll().catch(() => undefined))), left, cancel);
        if (cancel?.aborted) return undefined;
        const found = this.#pick(required);
        if (found) return found;
        for (const node of candidates) node.behind(required, this.#maxLag);
        if (clock.now() >= deadline) return undefined;
        // Polled again after a pause: a replica a few commits behind catches up within a millisecond or two.
        await within(undefined, Math.min(POLL_PAUSE, deadline - clock.now()), cancel);
        if (cancel?.aborted) return undefined;
      }
    } finally {
      waiting--;
    }
  }
}

/**
 * Resolves when `promise` does (if given), after `ms` on `clock`, or when
 * `cancel` aborts, whichever is first; its timer and listener go then.
 */
function within(promise: Promise<unknown> | undefined, ms: number, cancel: CancelToken | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    let unlisten: (() => void) | undefined;
    const done = () => {
      clock.clearTimeout(timer);
      unlisten?.();
      resolve();
    };
    const timer = clock.setTimeout(done, Math.max(0, ms));
    if (cancel) unlisten = cancel.onAbort(done);
    promise?.then(done, done);
  });
}
