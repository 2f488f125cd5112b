import { Refresher } from '../../lib/live/refresher';
import { useVirtualClock } from '../support/virtual-clock';

/** A Refresher whose runs are held open until the spec ends them. */
function held(throttle: number) {
  const runs: { at: number; end: () => void }[] = [];
  let now = () => 0;
  const refresher = new Refresher(
    throttle,
    () => new Promise<void>((resolve) => runs.push({ at: now(), end: resolve })),
  );
  return { refresher, runs, setNow: (f: () => number) => (now = f) };
}

describe('Refresher: when a live query runs again', () => {
  const vc = useVirtualClock();

  it('holds changes during the first run and runs once after it', async () => {
    const { refresher, runs, setNow } = held(30);
    setNow(() => vc.current.now);
    const first = refresher.first();
    refresher.changed();
    refresher.changed();
    expect(runs).toHaveLength(1);
    runs[0]!.end();
    await first;
    expect(runs).toHaveLength(1); // the throttle since the first run's start
    await vc.current.advance(30);
    expect(runs.map((r) => r.at)).toEqual([0, 30]);
    runs[1]!.end();
    await vc.current.advance(1000);
    expect(runs).toHaveLength(2);
  });

  it('runs at once for a change after a quiet spell (leading edge)', async () => {
    const { refresher, runs, setNow } = held(30);
    setNow(() => vc.current.now);
    const first = refresher.first();
    runs[0]!.end();
    await first;
    await vc.current.advance(500);
    refresher.changed();
    expect(runs.map((r) => r.at)).toEqual([0, 500]);
  });

  it('turns a burst of 1,000 changes over 100 ms into at most one run per throttle, and one after the last', async () => {
    const { refresher, runs, setNow } = held(30);
    setNow(() => vc.current.now);
    const first = refresher.first();
    runs[0]!.end();
    await first;
    await vc.current.advance(100);
    for (let i = 0; i < 1000; i++) {
      refresher.changed();
      // Each run takes 5 ms of (virtual) time.
      const open = runs.at(-1)!;
      if (runs.length > 1 && vc.current.now - open.at >= 5) open.end();
      if (i % 10 === 9) await vc.current.advance(1);
    }
    for (const r of runs) r.end();
    await vc.current.advance(100);
    for (const r of runs) r.end();
    await vc.current.advance(100);
    const starts = runs.slice(1).map((r) => r.at);
    // 100 ms of changes at a 30 ms throttle: 4 or 5 runs, each a throttle after the last.
    expect(starts.length).toBeGreaterThanOrEqual(4);
    expect(starts.length).toBeLessThanOrEqual(5);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(30);
    // The last change (at 199 ms) is read by a run that starts after it.
    expect(starts.at(-1)!).toBeGreaterThanOrEqual(199);
  });

  it('never runs twice at once: a change during a long run is one more run after it', async () => {
    const { refresher, runs, setNow } = held(0);
    setNow(() => vc.current.now);
    const first = refresher.first();
    runs[0]!.end();
    await first;
    refresher.changed();
    expect(runs).toHaveLength(2);
    for (let i = 0; i < 50; i++) refresher.changed();
    await vc.current.advance(1000);
    expect(runs).toHaveLength(2);
    runs[1]!.end();
    await vc.current.advance(0);
    expect(runs).toHaveLength(3);
    runs[2]!.end();
    await vc.current.advance(1000);
    expect(runs).toHaveLength(3);
  });

  it('backs off under a sustained stream of changes (up to 12 throttles), and comes back after a quiet interval', async () => {
    const starts: number[] = [];
    const refresher = new Refresher(30, async () => void starts.push(vc.current.now));
    await refresher.first();
    // 1,000 changes a second for 10 s, each run instant.
    for (let ms = 0; ms < 10_000; ms += 2) {
      refresher.changed();
      await vc.current.advance(2);
    }
    await vc.current.advance(1000);
    const reRuns = starts.slice(1);
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    expect(gaps.slice(0, 4)).toEqual([30, 60, 120, 240]);
    expect(Math.max(...gaps)).toBe(360);
    // About PowerSync's figure (32-35 events for 10,000 writes at a 30 ms throttle).
    expect(reRuns.length).toBeLessThanOrEqual(35);
    // Quiet now: the next change is read at once, and the interval is back to 30 ms.
    const at = vc.current.now;
    refresher.changed();
    refresher.changed();
    await vc.current.advance(30);
    expect(starts.slice(-2)).toEqual([at, at + 30]);
  });

  it('stop() clears its timer and runs nothing more', async () => {
    const { refresher, runs, setNow } = held(30);
    setNow(() => vc.current.now);
    const first = refresher.first();
    runs[0]!.end();
    await first;
    refresher.changed();
    expect(vc.current.pending()).toBe(1);
    refresher.stop();
    expect(vc.current.pending()).toBe(0);
    refresher.changed();
    await vc.current.advance(1000);
    expect(runs).toHaveLength(1);
  });
});
