/** How urgent a piece of work is, in UNIX terms. */
export interface PriorityOptions {
  /** An integer from -20 (most urgent) to 20 (nicest); default 0. */
  readonly niceness?: number;
  /** Run before any work of any niceness (FIFO among doNext work). */
  readonly doNext?: boolean;
  /** Run after any work of any niceness (FIFO among doLast work). */
  readonly doLast?: boolean;
}

/** The most urgent niceness, -20. */
export const MIN_NICENESS = -20;
/** The nicest (least urgent) niceness, 20. */
export const MAX_NICENESS = 20;

/** The three lanes work is queued in: doNext, by niceness, doLast. */
export const enum Lane {
  Next = 0,
  Normal = 1,
  Last = 2,
}

/** Where a submission sorts in the queue: smaller runs first. */
export interface QueueKey {
  readonly lane: Lane;
  readonly priority: number;
  readonly serial: number;
}

/**
 * Checks priority options before anything is queued.
 * @throws RangeError for a niceness that is not an integer in -20..20, or for
 *   doNext and doLast together.
 */
export function checkPriority(options: PriorityOptions | undefined): void {
  if (options === undefined) return;
  const { niceness, doNext, doLast } = options;
  if (niceness !== undefined) {
    if (
      typeof niceness !== 'number' ||
      !Number.isInteger(niceness) ||
      niceness < MIN_NICENESS ||
      niceness > MAX_NICENESS
    ) {
      const shown = typeof niceness === 'string' ? `'${niceness}' (a string)` : String(niceness);
      throw new RangeError(
        `niceness must be an integer from ${MIN_NICENESS} (most urgent) to ${MAX_NICENESS} (nicest), not ${shown}`,
      );
    }
  }
  if (doNext && doLast) {
    throw new RangeError('doNext and doLast were both set: choose one (doNext runs first, doLast runs last)');
  }
}

/**
 * AsynQueue's priority: `serial × (1 + ((niceness + 20) / 10)²)`. The factor
 * runs from 1 (niceness -20) through 5 (0) to 17 (20): a task of niceness 20
 * waits as long as 17 submissions of niceness -20 do, but never forever: once
 * the serial count passes 17 times its own, everything submitted later sorts
 * after it. Equal niceness is FIFO.
 */
export function queueKey(serial: number, options: PriorityOptions = {}): QueueKey {
  return { lane: laneOf(options), priority: priorityOf(serial, options), serial };
}

/** The lane of a submission (see {@link queueKey}). */
export function laneOf(options: PriorityOptions | undefined): Lane {
  return options?.doNext ? Lane.Next : options?.doLast ? Lane.Last : Lane.Normal;
}

/** The priority of a submission within its lane (see {@link queueKey}). */
export function priorityOf(serial: number, options: PriorityOptions | undefined): number {
  if (options?.doNext || options?.doLast) return serial;
  const n = options?.niceness ?? 0;
  return serial * (1 + ((n + 20) / 10) ** 2);
}

/** Orders two keys: negative when `a` runs first. */
export function compareKeys(a: QueueKey, b: QueueKey): number {
  return a.lane - b.lane || a.priority - b.priority || a.serial - b.serial;
}
