import { clock } from '../clock';
import type { ReplicaNode } from './replica-node';

/** How long a read that waits for a replica pauses between two polls of its replay position. */
const POLL_PAUSE = 1;

/**
 * Picks the replica a read runs on among `nodes`: one in the rotation that
 * has replayed `required`, the least loaded (ties in turn). Without a round
 * trip when one is known to have; otherwise it polls their replay
 * positions (one poll per replica however many reads wait) until one has,
 * or `maxWait` ms have passed: undefined then (the read runs on the
 * primary). Replicas out of the rotation and due for a check are checked
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

  /** The replica for a read that must see `required`; synchronous when one is known to have replayed it. */
  choose(required: bigint): ReplicaNode | undefined | Promise<ReplicaNode | undefined> {
    const known = this.#pick(required);
    if (known) return known;
    if (!this.#nodes.some((n) => n.available) || this.#maxWait === 0) return undefined;
    return this.#wait(required, clock.now() + this.#maxWait);
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

  async #wait(required: bigint, deadline: number): Promise<ReplicaNode | undefined> {
    for (;;) {
      const candidates = this.#nodes.filter((n) => n.available);
      const left = deadline - clock.now();
      if (candidates.length === 0 || left <= 0) return undefined;
      await within(Promise.all(candidates.map((n) => n.poll().catch(() => undefined))), left);
      const found = this.#pick(required);
      if (found) return found;
      for (const node of candidates) node.behind(required, this.#maxLag);
      if (clock.now() >= deadline) return undefined;
      // Polled again after a pause: a replica a few commits behind catches up within a millisecond or two.
      await pause(Math.min(POLL_PAUSE, deadline - clock.now()));
    }
  }
}

/** Resolves after `ms` on `clock`. */
function pause(ms: number): Promise<void> {
  return new Promise<void>((resolve) => clock.setTimeout(resolve, Math.max(0, ms)));
}

/** Resolves when `promise` does or after `ms` on `clock`, whichever is first. */
function within(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = clock.setTimeout(resolve, Math.max(0, ms));
    promise.then(
      () => {
        clock.clearTimeout(timer);
        resolve();
      },
      () => {
        clock.clearTimeout(timer);
        resolve();
      },
    );
  });
}
