import type { BusListener, BusState } from './dialect';

/** One registration: a listener added twice is two entries, each removed by its own function. */
interface Entry {
  readonly listener: BusListener;
}

/**
 * What every ChangeBus keeps: its listeners by channel, its state, and who
 * observes the state. Listener and observer code runs guarded: its failure is
 * its own business (thrown on, it would skip the ones after it, which did
 * nothing wrong, and surface as a client 'error' or an uncaught error).
 */
export class BusListeners {
  readonly #channels = new Map<string, Set<Entry>>();
  readonly #observers = new Set<(state: BusState) => void>();
  #state: BusState = 'idle';

  get state(): BusState {
    return this.#state;
  }

  /** Channels that have listeners. */
  get channels(): ReadonlyMap<string, unknown> {
    return this.#channels;
  }

  setState(next: BusState): void {
    if (next === this.#state) return;
    this.#state = next;
    for (const observer of [...this.#observers]) guarded(() => observer(next));
  }

  onState(observer: (state: BusState) => void): () => void {
    const own = (s: BusState) => observer(s);
    this.#observers.add(own);
    return () => void this.#observers.delete(own);
  }

  /**
   * Adds a listener; the returned function removes it and says whether that
   * left its channel without listeners (false if it was removed already).
   */
  add(channel: string, listener: BusListener): () => boolean | undefined {
    if (this.#state === 'closed') throw new Error('the change bus is closed');
    const entry: Entry = { listener };
    let entries = this.#channels.get(channel);
    if (!entries) this.#channels.set(channel, (entries = new Set()));
    entries.add(entry);
    const set = entries;
    return () => {
      if (!set.delete(entry)) return undefined;
      if (set.size > 0 || this.#channels.get(channel) !== set) return false;
      this.#channels.delete(channel);
      return true;
    };
  }

  /**
   * A function that calls `fn` on the listeners `channel` has now (all
   * channels' when undefined), skipping any removed by the time it runs.
   */
  deliverer(channel: string | undefined, fn: (listener: BusListener) => void): () => void {
    const sets = channel === undefined ? [...this.#channels.values()] : [this.#channels.get(channel)];
    const targets = sets.flatMap((set) => (set ? [...set].map((entry) => [set, entry] as const) : []));
    return () => {
      for (const [set, entry] of targets) if (set.has(entry)) guarded(() => fn(entry.listener));
    };
  }

  /** Drops every listener (notices already queued are not delivered) and, after closing, the observers. */
  clear(): void {
    for (const entries of this.#channels.values()) entries.clear();
    this.#channels.clear();
  }

  dropObservers(): void {
    this.#observers.clear();
  }
}

function guarded(fn: () => void): void {
  try {
    fn();
  } catch {
    /* see the class comment */
  }
}
