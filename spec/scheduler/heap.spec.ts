import { Heap, type HeapEntry } from '../../lib/scheduler/heap';

interface Entry extends HeapEntry {
  readonly value: number;
  readonly id: number;
}

/** A small deterministic PRNG (mulberry32), so a failure can be reproduced. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const byValueThenId = (a: Entry, b: Entry): number => a.value - b.value || a.id - b.id;

function newHeap(): Heap<Entry> {
  return new Heap<Entry>((a, b) => byValueThenId(a, b) < 0);
}

function entries(rand: () => number, n: number, range: number): Entry[] {
  return Array.from({ length: n }, (_, id) => ({ heapIndex: -1, value: Math.floor(rand() * range), id }));
}

function drain(heap: Heap<Entry>): Entry[] {
  const out: Entry[] = [];
  for (let e = heap.pop(); e !== undefined; e = heap.pop()) out.push(e);
  return out;
}

/** Every entry in the heap knows where it is: popping the rest must find them all at their index. */
function expectIndexesConsistent(inHeap: readonly Entry[], heap: Heap<Entry>): void {
  expect(heap.size).toBe(inHeap.length);
  const indexes = inHeap.map((e) => e.heapIndex).sort((a, b) => a - b);
  expect(indexes).toEqual(inHeap.map((_, i) => i));
}

describe('Heap', () => {
  it('pops undefined when empty', () => {
    const heap = newHeap();
    expect(heap.size).toBe(0);
    expect(heap.pop()).toBeUndefined();
  });

  it.each([1, 2, 3, 10, 100, 1000])('pops %i random entries in sorted order (with duplicates)', (n) => {
    const rand = random(n);
    const all = entries(rand, n, Math.max(2, n >> 2));
    const heap = newHeap();
    for (const e of all) heap.push(e);
    expect(heap.size).toBe(n);
    expect(drain(heap)).toEqual([...all].sort(byValueThenId));
    expect(heap.size).toBe(0);
  });

  it('keeps the order when pushes and pops interleave', () => {
    const rand = random(42);
    const heap = newHeap();
    const shadow: Entry[] = [];
    let id = 0;
    for (let step = 0; step < 5000; step++) {
      if (rand() < 0.6 || shadow.length === 0) {
        const e = { heapIndex: -1, value: Math.floor(rand() * 100), id: id++ };
        heap.push(e);
        shadow.push(e);
      } else {
        shadow.sort(byValueThenId);
        expect(heap.pop()).toBe(shadow.shift());
      }
    }
    expect(drain(heap)).toEqual(shadow.sort(byValueThenId));
  });

  it('removes arbitrary entries and still pops the rest in order', () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const rand = random(seed);
      const all = entries(rand, 200, 50);
      const heap = newHeap();
      for (const e of all) heap.push(e);
      const removed = all.filter(() => rand() < 0.4);
      for (const e of removed) {
        expect(heap.remove(e)).toBe(true);
        expect(e.heapIndex).toBe(-1);
      }
      const kept = all.filter((e) => !removed.includes(e));
      expectIndexesConsistent(kept, heap);
      expect(drain(heap)).toEqual(kept.sort(byValueThenId));
    }
  });

  it('removes the root, the last entry and the only entry', () => {
    const heap = newHeap();
    const [a, b, c] = entries(random(9), 3, 1000).sort(byValueThenId) as [Entry, Entry, Entry];
    heap.push(c);
    heap.push(b);
    heap.push(a);
    expect(heap.remove(a)).toBe(true);
    expect(heap.remove(c)).toBe(true);
    expect(heap.size).toBe(1);
    expect(heap.remove(b)).toBe(true);
    expect(heap.size).toBe(0);
    expect(heap.pop()).toBeUndefined();
  });

  it('returns false when removing an entry that is not in the heap, and leaves the heap alone', () => {
    const heap = newHeap();
    const all = entries(random(3), 20, 10);
    for (const e of all) heap.push(e);
    const stranger: Entry = { heapIndex: -1, value: 0, id: 999 };
    expect(heap.remove(stranger)).toBe(false);
    // An entry that claims an index it does not hold is not removed either.
    const impostor: Entry = { heapIndex: 0, value: 0, id: 998 };
    expect(heap.remove(impostor)).toBe(false);
    const outOfRange: Entry = { heapIndex: 50, value: 0, id: 997 };
    expect(heap.remove(outOfRange)).toBe(false);
    expect(heap.size).toBe(20);
    expect(drain(heap)).toEqual([...all].sort(byValueThenId));
  });

  it('returns false when removing an entry twice or after it was popped', () => {
    const heap = newHeap();
    const all = entries(random(4), 10, 100);
    for (const e of all) heap.push(e);
    const victim = all[5]!;
    expect(heap.remove(victim)).toBe(true);
    expect(heap.remove(victim)).toBe(false);
    const popped = heap.pop()!;
    expect(popped.heapIndex).toBe(-1);
    expect(heap.remove(popped)).toBe(false);
    expect(heap.size).toBe(8);
  });

  it('keeps heapIndex pointing at each entry through pushes, pops and removes', () => {
    const rand = random(77);
    const heap = newHeap();
    const inHeap: Entry[] = [];
    let id = 0;
    for (let step = 0; step < 2000; step++) {
      const r = rand();
      if (r < 0.5 || inHeap.length === 0) {
        const e = { heapIndex: -1, value: Math.floor(rand() * 30), id: id++ };
        heap.push(e);
        inHeap.push(e);
        expect(e.heapIndex).toBeGreaterThanOrEqual(0);
      } else if (r < 0.75) {
        const e = heap.pop()!;
        expect(e.heapIndex).toBe(-1);
        inHeap.splice(inHeap.indexOf(e), 1);
      } else {
        const e = inHeap.splice(Math.floor(rand() * inHeap.length), 1)[0]!;
        expect(heap.remove(e)).toBe(true);
        expect(e.heapIndex).toBe(-1);
      }
      expectIndexesConsistent(inHeap, heap);
    }
    expect(drain(heap)).toEqual(inHeap.sort(byValueThenId));
  });
});
