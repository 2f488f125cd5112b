import { isIP } from 'node:net';

/** One request from an access log, as it goes into the database. */
export interface LogRecord {
  /** The virtual host (`%v` of Apache's vhost_combined, port dropped), or '-' in plain combined format. */
  readonly vhost: string;
  readonly ip: string;
  readonly dt: Date;
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly bytes: number;
  readonly ref: string;
  readonly ua: string;
}

/**
 * Why a line is not a log record. `truncated`: it ends inside a quoted field;
 * `fields`: not the format's fields (too few, too many, or cut between two).
 */
export type BadReason = 'too long' | 'empty' | 'binary' | 'truncated' | 'fields' | 'ip' | 'time' | 'status';

export type Parsed =
  { readonly ok: true; readonly record: LogRecord } | { readonly ok: false; readonly reason: BadReason };

/**
 * Combined format (`%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`,
 * nginx's default too), optionally preceded by `%v:%p` (Apache's
 * vhost_combined). Linear: quoted fields are runs of non-quotes or escapes.
 */
const LINE =
  /^(?:(\S+) )?(\S+) \S+ \S+ \[([^\]]*)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d{1,15}|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$/;
/** Control characters and U+FFFD (what invalid UTF-8 decodes to): never in a server's escaped log. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const BINARY = /[\x00-\x08\x0e-\x1f\x7f\ufffd]/;
const TIME = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/;
const MONTHS: Record<string, number> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};

const bad = (reason: BadReason): Parsed => ({ ok: false, reason });

/** Parses one line (without its newline); never throws. */
export function parseLine(line: string): Parsed {
  if (line.trim() === '') return bad('empty');
  if (BINARY.test(line)) return bad('binary');
  const m = LINE.exec(line);
  if (!m) return bad(unbalancedQuotes(line) ? 'truncated' : 'fields');
  const [, vhost, ip, time, request, status, bytes, ref, ua] = m as unknown as string[];
  if (isIP(ip!) === 0) return bad('ip');
  const dt = parseTime(time!);
  if (!dt) return bad('time');
  const code = Number(status);
  if (code < 100 || code > 599) return bad('status');
  // A request line that is not "METHOD URL PROTOCOL" (a 400 for garbage) is kept whole as the URL.
  const parts = request!.split(' ');
  const [method, url] = parts.length === 3 ? [parts[0]!, parts[1]!] : ['-', request!];
  return {
    ok: true,
    record: {
      vhost: vhost === undefined ? '-' : vhost.replace(/:\d+$/, ''),
      ip: ip!,
      dt,
      method,
      url,
      status: code,
      bytes: bytes === '-' ? 0 : Number(bytes),
      ref: ref!,
      ua: ua!,
    },
  };
}

/** A line cut short has lost a closing quote: an odd number of unescaped quotes. */
function unbalancedQuotes(line: string): boolean {
  let quotes = 0;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\\') i++;
    else if (line[i] === '"') quotes++;
  }
  return quotes % 2 === 1;
}

let lastTime = '';
let lastDate: Date | null = null;

/** `10/Oct/2000:13:55:36 -0700` as a Date, or null; consecutive lines often share one. */
export function parseTime(text: string): Date | null {
  if (text === lastTime) return lastDate;
  const m = TIME.exec(text);
  let date: Date | null = null;
  if (m) {
    const [, d, mon, y, h, min, s, sign, oh, om] = m as unknown as string[];
    const month = MONTHS[mon!];
    const [day, hour, minute, second] = [Number(d), Number(h), Number(min), Number(s)];
    if (month !== undefined && day >= 1 && day <= 31 && hour < 24 && minute < 60 && second < 61) {
      const offset = (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
      const ms = Date.UTC(Number(y), month, day, hour, minute, second) - offset * 60_000;
      // Date.UTC rolls 31 Feb over into March: refuse dates that do not exist.
      if (new Date(Date.UTC(Number(y), month, day)).getUTCDate() === day) date = new Date(ms);
    }
  }
  lastTime = text;
  lastDate = date;
  return date;
}
