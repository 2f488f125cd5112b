import { clock } from '../clock';

/** The first pause before a failed re-read is tried again, in ms; it doubles up to MAX_PAUSE. */
const FIRST_PAUSE = 100;
const MAX_PAUSE = 5000;

/** What a re-read tried again is told of its store: whether it closed, and a way to hear that it does. */
export interface RereadStop {
  stopped(): boolean;
  /** Calls `fn` (once) when the store closes; returns what stops listening. */
  onStop(fn: () => void): () => void;
}

/**
 * Runs a re-read that the change log asked for until it succeeds or the
 * store stops: the reader has moved past the entries that caused it, so a
 * re-read lost to a dropped connection or a restarting server would lose
 * the change. Pauses on sasync's clock (unref'd) between tries; a pause
 * ends, its timer cleared, when the store closes (a re-read failing because
 * the store is closing leaves no timer behind). Never rejects.
 */
export async function untilRead(run: () => Promise<void>, stop: RereadStop): Promise<void> {
  for (let pause = FIRST_PAUSE; !stop.stopped(); pause = Math.min(pause * 2, MAX_PAUSE)) {
    try {
      await run();
      return;
    } catch {
      if (stop.stopped()) return;
      await new Promise<void>((resolve) => {
        const timer = clock.setTimeout(() => end(), pause, { unref: true });
        const unlisten = stop.onStop(() => end());
        const end = () => {
          clock.clearTimeout(timer);
          unlisten();
          resolve();
        };
      });
    }
  }
}
