import type { IncomingMessage, ServerResponse } from 'node:http';
import { BehaviorSubject, type Observable } from 'rxjs';
import { liveEvent, type LiveValue } from './stats-dict';

/**
 * Server-Sent Events of the live statistics: each client gets its own
 * subscription to `snapshots` (the dict's `snapshot$`), one `data:` event of
 * {@link LiveEvent} JSON per snapshot. A client that reads slowly is sent
 * only the latest snapshot once it has drained (each one is whole, so none
 * is lost by skipping). The subscription ends when the client goes, or when
 * the dict shuts down (which ends the response).
 */
export class EventStreams {
  readonly #snapshots: Observable<ReadonlyMap<string, LiveValue>>;
  readonly #open = new BehaviorSubject(0);

  constructor(snapshots: Observable<ReadonlyMap<string, LiveValue>>) {
    this.#snapshots = snapshots;
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
    const send = (snapshot: ReadonlyMap<string, LiveValue>) => {
      if (res.writableNeedDrain) waiting = snapshot;
      else res.write(`data: ${JSON.stringify(liveEvent(snapshot))}\n\n`);
    };
    res.on('drain', () => {
      const latest = waiting;
      waiting = undefined;
      if (latest) send(latest);
    });
    this.#open.next(this.#open.value + 1);
    const subscription = this.#snapshots.subscribe({
      next: send,
      error: () => res.end(),
      complete: () => res.end(),
    });
    res.once('close', () => {
      subscription.unsubscribe();
      this.#open.next(this.#open.value - 1);
    });
    req.resume();
  }
}
