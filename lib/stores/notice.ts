/**
 * What a store announces after a write, on the channel named after its table:
 * the group and the keys that changed, never the values (postgres caps a
 * NOTIFY payload below 8000 bytes). Too many keys to list: `all`, and
 * listeners reread the whole group.
 */
export interface Notice {
  /** Group id as stored. */
  readonly g: string;
  /** The announcing store instance, so that it can skip its own notices. */
  readonly o: string;
  /** The group was cleared before the keys in `k` were written. */
  readonly c?: 1;
  /** Keys as stored (names, or encoded coordinates). */
  readonly k?: readonly string[];
  /** Anything in the group may have changed. */
  readonly all?: 1;
}

/** Comfortably under postgres's 8000-byte limit, counted in UTF-8 bytes. */
const MAX_PAYLOAD_BYTES = 7000;

export function encodeNotice(notice: Notice): string {
  const text = JSON.stringify(notice);
  if (Buffer.byteLength(text) <= MAX_PAYLOAD_BYTES) return text;
  return JSON.stringify({ g: notice.g, o: notice.o, all: 1 } satisfies Notice);
}

/** The notice in a payload, or undefined for one that is not a store's (someone else's NOTIFY). */
export function decodeNotice(payload: string): Notice | undefined {
  try {
    const notice = JSON.parse(payload) as Partial<Notice>;
    if (typeof notice?.g !== 'string' || typeof notice.o !== 'string') return undefined;
    if (notice.k !== undefined && !(Array.isArray(notice.k) && notice.k.every((k) => typeof k === 'string'))) {
      return undefined;
    }
    return notice as Notice;
  } catch {
    return undefined;
  }
}
