import { ReplicaChoice } from '../../lib/replicas/replica-choice';
import type { ReplicaNode } from '../../lib/replicas/replica-node';
import { useVirtualClock } from '../support/virtual-clock';

/** A replica as the choice sees it: in the rotation or not, how far it replayed, how busy it is. */
class Node {
  available = true;
  replayed = 0n;
  inflight = 0;
  polls = 0;
  revived = 0;
  behindCalls: bigint[] = [];
  /** What the next poll finds replayed (the poll answers at once: a round trip is not what is timed here). */
  replaysTo: bigint | undefined;
  constructor(readonly name: string) {}
  poll(): Promise<void> {
    this.polls++;
    if (this.replaysTo !== undefined) this.replayed = this.replaysTo;
    return Promise.resolve();
  }
  revive(): void {
    this.revived++;
  }
  behind(required: bigint): void {
    this.behindCalls.push(required);
  }
}

const nodes = (...names: string[]) => names.map((n) => new Node(n));
const choiceOf = (list: Node[], maxWait = 100, maxLag = 5000) =>
  new ReplicaChoice(list as unknown as ReplicaNode[], maxWait, maxLag);

describe('ReplicaChoice', () => {
  const time = useVirtualClock();

  it('picks at once, without a poll, a replica known to have replayed the position: the least loaded, ties in turn', () => {
    const [a, b, c] = nodes('a', 'b', 'c');
    const choice = choiceOf([a!, b!, c!]);
    const picks = Array.from({ length: 6 }, () => (choice.choose(0n) as unknown as Node).name);
    expect(new Set(picks)).toEqual(new Set(['a', 'b', 'c']));
    b!.inflight = 1;
    c!.inflight = 2;
    expect((choice.choose(0n) as unknown as Node).name).toBe('a');
    a!.replayed = -1n;
    expect((choice.choose(0n) as unknown as Node).name).toBe('b');
    expect(a!.polls + b!.polls + c!.polls).toBe(0);
  });

  it('leaves out a replica out of the rotation, asking it to be checked again', () => {
    const [a, b] = nodes('a', 'b');
    a!.available = false;
    const choice = choiceOf([a!, b!]);
    expect((choice.choose(0n) as unknown as Node).name).toBe('b');
    expect(a!.revived).toBe(1);
    b!.available = false;
    expect(choice.choose(0n)).toBeUndefined();
  });

  it('polls while the read waits, and takes the replica once it has replayed the position', async () => {
    const [a] = nodes('a');
    const choice = choiceOf([a!]);
    const chosen = choice.choose(10n) as Promise<unknown>;
    expect(chosen).toBeInstanceOf(Promise);
    let result: unknown = 'waiting';
    void chosen.then((n) => (result = n));
    await time.current.advance(5);
    expect(result).toBe('waiting');
    expect(a!.polls).toBeGreaterThan(1);
    expect(a!.behindCalls.every((p) => p === 10n)).toBe(true);
    a!.replaysTo = 10n;
    await time.current.advance(2);
    expect(result).toBe(a);
  });

  it('gives up after maxReplicaWait: the read runs on the primary', async () => {
    const [a] = nodes('a');
    const choice = choiceOf([a!], 30);
    let result: unknown = 'waiting';
    void (choice.choose(10n) as Promise<unknown>).then((n) => (result = n));
    await time.current.advance(29);
    expect(result).toBe('waiting');
    await time.current.advance(2);
    expect(result).toBeUndefined();
    expect(time.current.pending()).toBe(0);
  });

  it('does not wait at all with maxReplicaWait 0', () => {
    const [a] = nodes('a');
    expect(choiceOf([a!], 0).choose(10n)).toBeUndefined();
    expect(a!.polls).toBe(0);
  });
});
