import { clock } from '../clock';

/** How long an entry is fresh, and how long after that it may still be served while a new one is made. */
export interface CacheTiming {
  /**
   * Ms an entry is fresh after it was made (default: the region's, whose
   * default is Infinity: never expires). A number > 0, or Infinity.
   */
  readonly expiration?: number;
  /**
   * Ms after expiry during which the stale entry is served at once while one
   * creator makes the new one (default: the region's, whose default is
   * Infinity, as dogpile.cache serves a stale value however old). Past it,
   * callers wait for the creator, and see its error. A number ≥ 0, or Infinity.
   */
  readonly grace?: number;
}

/** Timing with defaults applied. */
export interface Timing {
  readonly expiration: number;
  readonly grace: number;
}

/** @throws RangeError for an expiration ≤ 0 or a negative grace (or NaN, or not a number). */
export function checkTiming(options: CacheTiming | undefined, defaults: Timing): Timing {
  const expiration = options?.expiration ?? defaults.expiration;
  const grace = options?.grace ?? defaults.grace;
  if (typeof expiration !== 'number' || !(expiration > 0)) {
    throw new RangeError(`expiration must be a number of ms > 0 (or Infinity), not ${String(expiration)}`);
  }
  if (typeof grace !== 'number' || !(grace >= 0)) {
    throw new RangeError(`grace must be a number of ms ≥ 0 (or Infinity), not ${String(grace)}`);
  }
  return { expiration, grace };
}

/** Where an entry stands at `now`. */
export type Freshness = 'fresh' | 'stale' | 'dead';

/**
 * Whether an entry made at `createdAt` is fresh now: the region's hit test,
 * which reads the clock only for an expiration that is not Infinity.
 */
export function isFresh(createdAt: number, timing: Timing): boolean {
  return timing.expiration === Infinity || clock.now() - createdAt < timing.expiration;
}

/** Fresh before `expiration`, stale (servable) within `grace` after it, dead after that. */
export function freshness(createdAt: number, now: number, timing: Timing): Freshness {
  const age = now - createdAt;
  if (age < timing.expiration) return 'fresh';
  return age < timing.expiration + timing.grace ? 'stale' : 'dead';
}
