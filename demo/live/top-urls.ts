import { shareReplay, type Observable } from 'rxjs';
import type { AccessBroker, LiveResult } from '../../lib';

/** One line of the top URLs panel. */
export interface TopUrl {
  readonly url: string;
  readonly hits: number;
}

/** How many URLs the panel shows. */
export const TOP_URLS = 10;

/** The panel's query: the most requested URLs of everything imported, ties by URL. */
export const TOP_URLS_SQL =
  'SELECT u.value AS url, CAST(count(*) AS integer) AS hits FROM entries e JOIN url u ON u.id = e.id_url ' +
  `GROUP BY u.value ORDER BY hits DESC, url LIMIT ${TOP_URLS}`;

/**
 * The top URLs, live (`broker.live()`): re-read when an import's commits
 * touch `entries` or `url`, at most every 250 ms, at niceness -10 so that a
 * refresh overtakes the import's queued batches. One live query shared by
 * every page open (the latest result replayed to a page that comes), ended
 * when the last page goes.
 */
export function topUrls(broker: AccessBroker): Observable<LiveResult<TopUrl>> {
  return broker
    .live<TopUrl>(TOP_URLS_SQL, [], { key: 'url', throttle: 250, niceness: -10 })
    .pipe(shareReplay({ bufferSize: 1, refCount: true }));
}
