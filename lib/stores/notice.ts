/**
 * What a store announces after a write, on the channel named after its table:
 * the group and the keys that changed, never the values (postgres caps a
 * NOTIFY payload below 8000 bytes). Too many keys to list: `all`, and
 * listeners reread the whole group.
 *
 * Anyone who can connect can NOTIFY on that channel, so a listener treats a
 * notice as a hint of what to read again from the table, never as data
 * (see {@link noticeHint}).
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

/**
 * What a listener of `group` should read again after a payload: nothing
 * (another group's notice, or its own), the keys it names (as stored, not
 * yet checked), or 'group' for a notice that claims a clear or a change of
 * anything, or that cannot be understood (a forged or corrupt notice might
 * be about this group: reading it again costs a query, trusting it would
 * cost the truth).
 */
export function noticeHint(payload: string, group: string, origin: string): readonly string[] | 'group' | undefined {
  let notice: unknown;
  try {
    notice = JSON.parse(payload);
  } catch {
    return 'group';
  }
  if (typeof notice !== 'object' || notice === null || Array.isArray(notice)) return 'group';
  const { g, o, c, k, all } = notice as Record<string, unknown>;
  if (typeof g !== 'string') return 'group';
  if (g !== group || o === origin) return undefined;
  if (c !== undefined || all !== undefined) return 'group';
  if (k === undefined) return [];
  if (!Array.isArray(k) || !k.every((name) => typeof name === 'string')) return 'group';
  return k as string[];
}
