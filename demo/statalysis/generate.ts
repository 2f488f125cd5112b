import fs from 'node:fs';
import { once } from 'node:events';

/** Where the demo keeps its sample log (in the working directory), and its size. */
export const SAMPLE_FILE = 'statalysis-sample.log';
export const SAMPLE_LINES = 200_000;

export interface SampleOptions {
  readonly lines: number;
  /** The PRNG seed: the same seed and line count always give the same bytes. */
  readonly seed?: number;
  /** Include the one line of over 1 MB (default true). */
  readonly hugeLine?: boolean;
}

/** mulberry32: a small, fast, seeded PRNG in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS =
  'alpha bravo cobalt delta ember fjord garnet harbor indigo juniper kelp lumen maple nectar onyx prism quartz raven sable tundra umber violet willow xenon yarrow zephyr'.split(
    ' ',
  );
const SITES: readonly (readonly [string, number, readonly string[]])[] = [
  [
    'www.example.com',
    45,
    [
      '/',
      '/about',
      '/products',
      '/products/{n}',
      '/news/{n}',
      '/search?q={w}',
      '/favicon.ico',
      '/robots.txt',
      '/css/site.css',
      '/js/app.js',
      '/contact',
    ],
  ],
  ['shop.example.com', 20, ['/', '/item/{n}', '/category/{w}', '/cart', '/checkout', '/search?q={w}&page={n}']],
  ['blog.example.com', 15, ['/', '/2024/{n}/{w}-{w}', '/tag/{w}', '/feed.xml', '/author/{w}']],
  ['api.example.com', 12, ['/v1/status', '/v1/items/{n}', '/v1/users/{n}/orders', '/v1/search?q={w}']],
  ['static.example.com', 8, ['/img/{n}.jpg', '/img/{w}.png', '/css/{w}.css', '/js/{w}.js']],
];
const BROWSERS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0',
  'curl/8.5.0',
];
const BOTS: readonly (readonly [string, string])[] = [
  ['66.249.66.', 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'],
  ['157.55.39.', 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)'],
  ['5.255.231.', 'Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)'],
];
const PROBES = ['/wp-login.php', '/.env', '/.git/config', '/phpmyadmin/', '/admin.php', '/xmlrpc.php', '/cgi-bin/luci'];
const MONTHS = 'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split(' ');
/** 2024-03-04 00:00 at +0100, the zone the sample's server is in. */
const START = Date.UTC(2024, 2, 3, 23);
const pad = (n: number) => String(n).padStart(2, '0');

/** A log time: `04/Mar/2024:00:00:00 +0100`. */
function logTime(ms: number): string {
  const d = new Date(ms + 3_600_000);
  const date = `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}`;
  return `${date}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0100`;
}

/**
 * Writes a deterministic access log in Apache's vhost_combined format:
 * several vhosts, browsers with their own addresses, crawlers, scanners
 * probing in 4xx bursts, two outages of 5xx, a day-shaped rate, and about
 * one malformed line in 700 (truncated, binary, wrong field count, one of
 * over 1 MB). Written to `file + '.tmp'` first, then renamed: a run killed
 * midway never leaves half a sample behind.
 */
export async function writeSampleLog(file: string, options: SampleOptions): Promise<void> {
  const random = prng(options.seed ?? 20240304);
  const pick = <T>(list: readonly T[], skew = 1): T => list[Math.floor(list.length * random() ** skew)]!;
  const word = () => pick(WORDS, 1.5);
  const number = () => 1 + Math.floor(2000 * random() ** 3);
  const fill = (page: string) => page.replace(/\{n\}/g, () => String(number())).replace(/\{w\}/g, word);
  const clients = Array.from({ length: 2500 }, (_, i) =>
    i % 9 === 4
      ? `2001:db8:${((i * 7919) & 0xffff).toString(16)}::${(i % 251).toString(16)}`
      : `${11 + Math.floor(random() * 200)}.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}.${1 + Math.floor(random() * 254)}`,
  );
  const weights = SITES.reduce((sum, s) => sum + s[1], 0);
  const site = () => {
    let r = random() * weights;
    for (const s of SITES) if ((r -= s[1]) < 0) return s;
    return SITES[0]!;
  };
  const outage = (i: number) =>
    (i > options.lines * 0.31 && i < options.lines * 0.315) || (i > options.lines * 0.72 && i < options.lines * 0.73);
  const out = fs.createWriteStream(`${file}.tmp`);
  let t = START;
  let scanner: { ip: string; left: number } | undefined;
  let buffer: (string | Buffer)[] = [];
  for (let i = 0; i < options.lines; i++) {
    // About 1.3 s between requests on average, three times as many by day as by night.
    const hour = new Date(t + 3_600_000).getUTCHours();
    const busy = 0.35 + Math.sin((Math.PI * Math.max(0, hour - 5)) / 19) ** 2;
    t += -Math.log(1 - random()) * 1000 * (1.15 / busy);
    if (!scanner && random() < 1 / 4000)
      scanner = {
        ip: `185.220.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}`,
        left: 40 + Math.floor(random() * 160),
      };
    const [vhost, , pages] = site();
    let ip: string,
      ua: string,
      url: string,
      status: number,
      method = 'GET',
      ref = '-';
    if (scanner) {
      [ip, ua, url] = [scanner.ip, 'Mozilla/5.0 zgrab/0.x', pick(PROBES)];
      status = random() < 0.85 ? 404 : 403;
      if (--scanner.left === 0) scanner = undefined;
    } else if (random() < 0.12) {
      const [net, botUa] = pick(BOTS);
      [ip, ua, url] = [`${net}${1 + Math.floor(random() * 40)}`, botUa, fill(pick(pages))];
      status = random() < 0.08 ? 404 : random() < 0.05 ? 301 : 200;
    } else {
      const client = Math.floor(clients.length * random() ** 2.2);
      [ip, ua, url] = [clients[client]!, BROWSERS[client % BROWSERS.length]!, fill(pick(pages, 2))];
      ref =
        random() < 0.45 ? '-' : random() < 0.3 ? 'https://www.google.com/' : `https://${vhost}${fill(pick(pages, 2))}`;
      if (url === '/checkout' || url.includes('/orders')) method = 'POST';
      const r = random();
      status = r < 0.04 ? 404 : r < 0.1 ? 304 : r < 0.13 ? 302 : r < 0.132 ? 500 : 200;
    }
    if (outage(i) && (vhost === 'api.example.com' || vhost === 'shop.example.com') && random() < 0.7)
      status = pick([502, 503, 504]);
    const bytes = status === 304 ? '-' : String(Math.floor(200 + 40000 * random() ** 3));
    let line = `${vhost}:443 ${ip} - - [${logTime(t)}] "${method} ${url} HTTP/1.1" ${status} ${bytes} "${ref}" "${ua}"`;
    if (options.hugeLine !== false && i === Math.floor(options.lines / 2)) {
      line = line.replace(`${url} HTTP`, `${url}?q=${'A'.repeat(1_100_000)} HTTP`);
    } else if (random() < 1 / 700) {
      const kind = random();
      // Binary garbage: NULs from a crashed disk write, then random bytes (no newline among them).
      if (kind < 0.3)
        line = `\0\0\0${Array.from({ length: 40 }, () => String.fromCharCode(Math.floor(random() * 9))).join('')}`;
      else if (kind < 0.6) line = line.slice(0, 10 + Math.floor(random() * (line.length - 12)));
      else if (kind < 0.8) line = `${ip} - - [${logTime(t)}] "GET ${url} HTTP/1.1" ${status} ${bytes}`;
      else line = line.replace(' - - [', ' - - extra [');
    }
    buffer.push(line, '\n');
    if (buffer.length >= 2000) {
      if (!out.write(buffer.join(''))) await once(out, 'drain');
      buffer = [];
    }
  }
  out.end(buffer.join(''));
  await once(out, 'finish');
  fs.renameSync(`${file}.tmp`, file);
}

/** The sample log in the working directory, written first if it is not there yet. */
export async function ensureSample(
  lines = SAMPLE_LINES,
  file = SAMPLE_FILE,
): Promise<{ file: string; written: boolean }> {
  if (fs.existsSync(file)) return { file, written: false };
  await writeSampleLog(file, { lines });
  return { file, written: true };
}
