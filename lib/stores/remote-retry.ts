import { clock } from '../clock';

/** The first pause before a failed re-read is tried again, in ms; it doubles up to MAX_PAUSE. */
const FIRST_PAUSE = 100;
const MAX_PAUSE = 5000;

/**
 * Runs a re-read that the change log asked for until it succeeds or
 * `stopped()`: the reader has moved past the entries that caused it, so a
 * re-read lost to a dropped connection or a restarting server would lose
 * the change. Pauses on sasync's clock (unref'd) between tries; never
 * rejects.
 */
export async function untilRead(run: () => Promise<void>, stopped: () => boolean): Promise<void> {
  for (let pause = FIRST_PAUSE; !stopped(); pause = Math.min(pause * 2, MAX_PAUSE)) {
    try {
      await run();
      return;
    } catch {
      await new Promise<void>((resolve) => clock.setTimeout(resolve, pause, { unref: true }));
    }
  }
}
