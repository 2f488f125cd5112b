import { clock, type TimerHandle } from '../clock';
import { Dispatch, guarded } from './dispatch';
import type { LogListener, ResyncReason } from './listener';
import type { LogDialect, ReadRows } from './log-dialect';
import { ChangeLogUnreadableError } from '../errors';
import type { Horizon, Position } from './position';

/** What a listener lends the reader: a way to run its queries (through its store's broker). */
export interface ReaderHost {
  readonly read: ReadRows;
  /** Makes the log table again if it is missing (after a failed read). */
  ensureLog(): Promise<void>;
}

/** Entries taken per query; a longer backlog is read in several. */
export const READ_LIMIT = 1000;
/** caughtUp() tries again this soon after a read that succeeded and did not reach its target. */
export const CATCH_UP_RETRY_MS = 20;
/** caughtUp() gives up after this many failed reads in a row (each after the reader's backoff). */
export const CATCH_UP_MAX_FAILURES = 6;
/** After a failed read, the first retry delay; it doubles up to RETRY_MAX_MS. */
export const RETRY_MS = 100;
export const RETRY_MAX_MS = 5000;

interface Registration {
  readonly listener: LogListener;
  readonly host: ReaderHost;
}

/** A listener that starts at a saved position: what was committed since is read for it alone. */
interface CatchUp {
  readonly registration: Registration;
  readonly since: Position;
  readonly done: () => void;
}

/**
 * The one reader of a DataSource's change log, shared by every store group
 * on it: each wake-up (a NOTIFY, a local commit, a changed data_version,
 * a reconnection) leads to one read from the reader's position, whatever
 * the number of stores, and the entries are handed to the groups they name
 * (see Dispatch). Wake-ups during a read cost one more read after it.
 * Values are never taken from the log: listeners re-read the keys named.
 *
 * It reads through the first registered listener's host; it holds no
 * connection or timer of its own once the last listener left.
 */
export class ChangeReader {
  readonly #dialect: LogDialect;
  readonly #registrations = new Set<Registration>();
  readonly #dispatch = new Dispatch();
  #position: Position | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #timer: TimerHandle | undefined;
  #timerDue = Infinity;
  #failure: { error: unknown } | undefined;
  #retry = RETRY_MS;
  /** Reads done, for specs and benches. */
  reads = 0;

  constructor(dialect: LogDialect) {
    this.#dialect = dialect;
  }

  /** Whether a listener other than `origin` hears this store table's group (in this process). */
  hears(kind: string, group: string, origin: string): boolean {
    return this.#dispatch.hears(kind, group, origin);
  }

  get listening(): number {
    return this.#registrations.size;
  }

  /** Whether a read failed and the reader waits for its backoff before the next (for specs). */
  get retrying(): boolean {
    return this.#failure !== undefined && this.#timer !== undefined && !this.#running;
  }

  /**
   * Adds a listener; `positioned` resolves once the reader has a position
   * (or a read failed, and then everyone resyncs once a read succeeds).
   * A store reads nothing before then: whatever commits after its reads is
   * after the position, so it is delivered, and no re-read is needed.
   * `stop` removes it.
   */
  register(listener: LogListener, host: ReaderHost, since?: Position): { stop: () => void; positioned: Promise<void> } {
    const undispatch = this.#dispatch.add(listener);
    const registration: Registration = { listener, host };
    this.#registrations.add(registration);
    let positioned: Promise<void>;
    let caughtUp = () => undefined as void;
    if (since) {
      positioned = new Promise<void>((resolve) => (caughtUp = resolve));
      this.#catchUps.push({ registration, since, done: caughtUp });
    } else {
      positioned = this.#position
        ? Promise.resolve()
        : new Promise<void>((resolve) => this.#positionWaiters.push(resolve));
    }
    void this.wake();
    const stop = () => {
      caughtUp();
      if (!this.#registrations.delete(registration)) return;
      undispatch();
      if (this.#registrations.size === 0) this.#stop();
    };
    return { stop, positioned };
  }

  /**
   * Where the reader is, for a listener to save and start from later (see
   * register's `since`): everything committed before it has been handed to
   * every listener whose catch-up is done. Undefined before the first read.
   */
  get position(): Position | undefined {
    return this.#position;
  }

  readonly #catchUps: CatchUp[] = [];

  #positionWaiters: (() => void)[] = [];

  #positionKnown(): void {
    for (const resolve of this.#positionWaiters.splice(0)) resolve();
  }

  /** Reads what was committed since the position; resolves when the entries have been handed out. */
  wake(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    const run = this.#loop().finally(() => {
      this.#running = undefined;
      this.#retryDone();
      // Woken after the loop's last check: read once more.
      if (this.#again && this.#registrations.size > 0) void this.wake();
    });
    this.#running = run;
    return run;
  }

  /**
   * Resolves once everything committed before this call has been read and
   * handed out. For specs and benches; resolves at once when nobody
   * listens. While reads fail it waits for the reader's own retries (their
   * backoff, the table made again first), and rejects with
   * ChangeLogUnreadableError after CATCH_UP_MAX_FAILURES of them in a row.
   */
  async caughtUp(): Promise<void> {
    const first = this.#registrations.values().next();
    if (first.done) return;
    const target = await this.#dialect.now(first.value.host.read);
    await this.wake();
    for (let tries = 1; ; tries++) {
      if (this.#registrations.size === 0) return;
      const failure = this.#failure;
      if (!failure && this.#position && this.#dialect.reached(this.#position, target)) return;
      if (tries >= CATCH_UP_MAX_FAILURES) throw new ChangeLogUnreadableError(tries, failure?.error);
      if (failure) {
        // Not a read of our own: that would skip the reader's backoff.
        await this.#retried();
      } else {
        await new Promise<void>((resolve) => clock.setTimeout(resolve, CATCH_UP_RETRY_MS, { unref: true }));
        await this.wake();
      }
    }
  }

  #retryWaiters: (() => void)[] = [];

  /** Resolves once the reader's next retry (see #failed) has run, or it stopped. */
  #retried(): Promise<void> {
    if (this.#timer === undefined && !this.#running) return Promise.resolve();
    return new Promise<void>((resolve) => this.#retryWaiters.push(resolve));
  }

  #retryDone(): void {
    for (const resolve of this.#retryWaiters.splice(0)) resolve();
  }

  async #loop(): Promise<void> {
    // A wake-up during a page of a longer read is kept until that read ends:
    // the pages stop at the snapshot the read began with, so what committed
    // after it (and woke us) needs a read of its own.
    let more = false;
    do {
      if (!more) this.#again = false;
      const first = this.#registrations.values().next();
      if (first.done) return;
      try {
        more = await this.#readOnce(first.value.host);
        if (this.#catchUps.length > 0) await this.#catchUpAll(first.value.host);
      } catch (error) {
        this.#failed(first.value.host, error);
        return;
      } finally {
        if (this.#position || this.#failure) this.#positionKnown();
      }
    } while ((more || this.#again) && this.#registrations.size > 0);
  }

  /** One read (or one page of a longer one); whether more pages follow. */
  async #readOnce(host: ReaderHost): Promise<boolean> {
    this.reads++;
    if (!this.#position) {
      this.#position = await this.#dialect.head(host.read);
      this.#recovered();
      return false;
    }
    const start = this.#position;
    const read = await this.#dialect.read(host.read, start, READ_LIMIT);
    this.#position = read.next;
    this.#recovered();
    const missed = (horizon: Horizon) => this.#dialect.missed(horizon, start);
    if (read.lost || this.#dispatch.deliver(read.entries, missed)) {
      this.#resyncAll(read.lost ? 'log-lost' : 'retention');
    }
    return read.more;
  }

  /**
   * Reads, for each listener that started at a saved position, what was
   * committed between it and the reader's position (or a little beyond:
   * twice told is a re-read that finds nothing new), and hands it to that
   * listener alone. A position whose entries were pruned, in a log made
   * again since, or a log that cannot be read makes it resync (it says so;
   * memory that knew nothing has nothing to re-read).
   */
  async #catchUpAll(host: ReaderHost): Promise<void> {
    const target = this.#position!.upto
      ? { ...this.#position!, snapshot: this.#position!.upto, upto: undefined }
      : this.#position!;
    for (const c of this.#catchUps.splice(0)) {
      if (this.#registrations.has(c.registration)) await this.#catchUp(host, c, target);
      c.done();
    }
  }

  async #catchUp(host: ReaderHost, { registration, since }: CatchUp, target: Position): Promise<void> {
    const { listener } = registration;
    const dispatch = new Dispatch();
    dispatch.add(listener);
    let at = since;
    try {
      for (;;) {
        const start = at;
        const read = await this.#dialect.read(host.read, start, READ_LIMIT);
        at = read.next;
        const missed = (horizon: Horizon) => this.#dialect.missed(horizon, start);
        if (read.lost || dispatch.deliver(read.entries, missed)) {
          guarded(() => listener.resync(read.lost ? 'log-lost' : 'retention'));
          return;
        }
        if (!read.more && this.#dialect.reached(at, target)) return;
        if (!this.#registrations.has(registration)) return;
      }
    } catch (error) {
      guarded(() => listener.resync('log-unreadable', error));
    }
  }

  /** A read failed: try again after a backoff, making the table again first if it is gone. */
  #failed(host: ReaderHost, error: unknown): void {
    if (this.#registrations.size === 0) return;
    this.#failure ??= { error };
    this.#positionKnown();
    // Their stores' reads need not wait for a log that cannot be read: their catch-up runs once it can.
    for (const c of this.#catchUps) c.done();
    const wait = this.#retry;
    this.#retry = Math.min(this.#retry * 2, RETRY_MAX_MS);
    this.#after(wait, () => host.ensureLog().catch(() => undefined));
  }

  /** A read succeeded after failures: what the log held meanwhile may be gone, so everyone re-reads. */
  #recovered(): void {
    this.#retry = RETRY_MS;
    const failure = this.#failure;
    if (!failure) return;
    this.#failure = undefined;
    this.#resyncAll('log-unreadable', failure.error);
  }

  #resyncAll(reason: ResyncReason, error?: unknown): void {
    for (const r of [...this.#registrations]) {
      guarded(() => r.listener.resync(reason, error));
    }
  }

  /** Wakes the reader after `ms` (the earliest of such requests wins), first running `before`. */
  #after(ms: number, before?: () => Promise<unknown>): void {
    const due = clock.now() + ms;
    if (this.#timer !== undefined && this.#timerDue <= due) return;
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    this.#timerDue = due;
    // Unref'd: waiting for a change is no reason to keep a program alive.
    this.#timer = clock.setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerDue = Infinity;
        void (before ? before() : Promise.resolve()).then(() => this.wake());
      },
      ms,
      { unref: true },
    );
  }

  /** The last listener left: no timer; the next one starts from the log's head again. */
  #stop(): void {
    this.#retryDone();
    for (const c of this.#catchUps.splice(0)) c.done();
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerDue = Infinity;
    this.#position = undefined;
    this.#failure = undefined;
    this.#retry = RETRY_MS;
  }
}
