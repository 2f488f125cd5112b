import type { IncomingMessage, ServerResponse } from 'node:http';
import { BehaviorSubject, type Observable } from 'rxjs';
import type { LiveResult } from '../../lib';
import { liveEvent, type LiveValue } from './stats-dict';
import type { TopUrl } from './top-urls';

/**
 * Server-Sent Events of the live statistics: each client gets its own
 * subscription to `snapshots` (the dict's `snapshot$`), one `data:` event of
 * {@link LiveEvent} JSON per snapshot, and a `top` event with the top URLs
 * (a live query) whenever they change. A client that reads slowly is sent
 * only the latest of each once it has drained (each one is whole, so none
 * is lost by skipping). The subscriptions end when the client goes, or when
 * the dict shuts down (which ends the response).
 */
export class EventStreams {
  readonly #snapshots: Observable<ReadonlyMap<string, LiveValue>>;
  readonly #top: Observable<LiveResult<TopUrl>>;
  readonly #open = new BehaviorSubject(0);

  constructor(snapshots: Observable<ReadonlyMap<string, LiveValue>>, top: Observable<LiveResult<TopUrl>>) {
    this.#snapshots = snapshots;
    this.#top = top;
  }

  /** Event streams open now: one subscription each. */
  get open(): number {
    return this.#open.value;
  }

  /** The number of open event streams, now and at every change (a client came or went). */
  get open$(): Observable<number> {
    return this.#open.asObservable();
  }

  serve(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    // EventSource reconnects by itself: after a second, not its default three.
    res.write('retry: 1000\n\n');
    let waiting: ReadonlyMap<string, LiveValue> | undefined;
    let waitingTop: readonly TopUrl[] | undefined;
    const send = (snapshot: ReadonlyMap<string, LiveValue>) => {
      if (res.writableNeedDrain) waiting = snapshot;
      else res.write(`data: ${JSON.stringify(liveEvent(snapshot))}\n\n`);
    };
    const sendTop = (rows: readonly TopUrl[]) => {
      if (res.writableNeedDrain) waitingTop = rows;
      else res.write(`event: top\ndata: ${JSON.stringify(rows)}\n\n`);
    };
    res.on('drain', () => {
      const [latest, latestTop] = [waiting, waitingTop];
      waiting = waitingTop = undefined;
      if (latest) send(latest);
      if (latestTop) sendTop(latestTop);
    });
    this.#open.next(this.#open.value + 1);
    const subscription = this.#snapshots.subscribe({
      next: send,
      error: () => res.end(),
      complete: () => res.end(),
    });
    // The panel is extra: a failed live query leaves the counters going.
    const top = this.#top.subscribe({ next: ({ rows }) => sendTop(rows), error: () => undefined });
    res.once('close', () => {
      subscription.unsubscribe();
      top.unsubscribe();
      this.#open.next(this.#open.value - 1);
    });
    req.resume();
  }
}
