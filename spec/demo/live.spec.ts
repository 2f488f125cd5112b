import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { filter, firstValueFrom, lastValueFrom, throwError, timeout } from 'rxjs';
import { LIVE_SAMPLE } from '../../demo/live/import-job';
import { TOP_URLS, TOP_URLS_SQL, type TopUrl } from '../../demo/live/top-urls';
import { AccessBroker } from '../../lib';
import { startLive, type Live } from '../../demo/live/live';
import type { LiveEvent } from '../../demo/live/stats-dict';
import { scratchDir } from '../support/targets';
import { independentCount, places, sqlitePlace, type Place, type PlaceKind } from './statalysis-helpers';

const ROOT = path.resolve(__dirname, '../..');
const MAIN = path.join(ROOT, 'demo/live/main.ts');
const SCREENSHOT = path.join(ROOT, 'demo/live/screenshot.png');
const CHROMIUM = '/usr/bin/chromium';
const LINES = 20_000;
const dir = scratchDir();

// The page's globals, as far as the functions run in it by page.evaluate use them (specs compile without the DOM library).
interface PageElement {
  readonly dataset: Record<string, string | undefined>;
  readonly width: number;
  readonly height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
}
declare const document: {
  getElementById(id: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
};
declare const window: { seen: number[]; topSeen: number[] };
declare const Chart: { getChart(canvas: PageElement): { data: { datasets: { data: unknown[] }[] } } | undefined };
declare class MutationObserver {
  constructor(callback: () => void);
  observe(target: PageElement, options: { attributes: boolean; attributeFilter: string[] }): void;
}

/** Debian's chromium, driven by playwright-core: nothing is downloaded. */
const haveBrowser = (() => {
  try {
    fs.accessSync(CHROMIUM, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
})();
const browserRequired = Boolean(process.env.CI || process.env.SASYNC_REQUIRE_BROWSER);
if (!haveBrowser && !browserRequired)
  console.warn(`\n!!! BROWSER TEST SKIPPED: ${CHROMIUM} is missing (apt-get install -y chromium).\n`);
const browserIt = haveBrowser || browserRequired ? it : it.skip;

function launch(): Promise<Browser> {
  if (!haveBrowser)
    throw new Error(`a browser is required (CI or SASYNC_REQUIRE_BROWSER is set) but ${CHROMIUM} is missing`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** A live server on a free port over a fresh place; `fn` gets it, and everything is released after. */
async function withLive<T>(
  kind: PlaceKind,
  fn: (live: Live, sampleDir: string, place: Place) => Promise<T>,
): Promise<T> {
  const place: Place = await kind.make();
  const sampleDir = fs.mkdtempSync(path.join(dir, `${kind.name}-`));
  let live: Live | undefined;
  try {
    live = await startLive({ target: place.target, port: 0, sampleLines: LINES, sampleDir, batchSize: 500 });
    return await fn(live, sampleDir, place);
  } finally {
    await live?.close();
    await place.drop();
  }
}

/** Resolves once the live server has `n` event streams open (told by clients$, not polled); fails after `ms`. */
function clientsReach(live: Live, n: number, ms = 10_000): Promise<number> {
  return firstValueFrom(
    live.clients$.pipe(
      filter((open) => open === n),
      timeout({ first: ms, with: () => throwError(() => new Error(`timed out waiting for ${n} open event streams`)) }),
    ),
  );
}

/** The sample's own counts by status class, from its bytes (not through the demo's parser). */
function expectedCounts(file: string) {
  const count = independentCount(file);
  const status: Record<string, number> = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
  for (const [code, n] of Object.entries(count.statuses)) status[`${code[0]}xx`]! += n;
  return { lines: count.lines, bad: count.lines - count.valid, valid: count.valid, status };
}

describe.each(places)('live page [$name]', (kind) => {
  browserIt(
    `shows the counters rising and draws hits per minute while an import runs, in headless Chromium [${kind.name}]`,
    async () => {
      let browser: Browser | undefined;
      await withLive(kind, async (live, sampleDir, place) => {
        try {
          browser = await launch();
          const page = await browser.newPage({ viewport: { width: 1100, height: 640 } });
          const failures: string[] = [];
          page.on('pageerror', (err) => failures.push(err.message));
          page.on('requestfailed', (req) => failures.push(`${req.url()}: ${req.failure()?.errorText}`));
          await page.goto(live.url);
          await page.waitForFunction(() => document.getElementById('state')?.dataset.value === 'idle');
          expect(live.clients()).toBe(1);
          // Every value the lines counter shows, as it shows it.
          await page.evaluate(() => {
            const el = document.getElementById('lines')!;
            const seen: number[] = (window.seen = []);
            new MutationObserver(() => seen.push(Number(el.dataset.value))).observe(el, {
              attributes: true,
              attributeFilter: ['data-value'],
            });
            const top = document.getElementById('top-urls')!;
            const topSeen: number[] = (window.topSeen = []);
            new MutationObserver(() => topSeen.push(Number(top.dataset.total))).observe(top, {
              attributes: true,
              attributeFilter: ['data-total'],
            });
          });

          await page.getByTestId('start').click();
          await page.waitForFunction(() => Number(document.getElementById('lines')?.dataset.value) > 0);
          await page.waitForFunction(() => document.getElementById('state')?.dataset.value === 'done', null, {
            timeout: 60_000,
          });

          const shown = await page.evaluate(() => {
            const value = (id: string) => Number(document.getElementById(id)!.dataset.value);
            const classes = ['1xx', '2xx', '3xx', '4xx', '5xx'];
            return {
              lines: value('lines'),
              bad: value('bad'),
              status: Object.fromEntries(classes.map((c) => [c, value(`status-${c}`)])),
              seen: window.seen,
            };
          });
          const expected = expectedCounts(path.join(sampleDir, LIVE_SAMPLE));
          expect(expected.lines).toBe(LINES);
          expect({ lines: shown.lines, bad: shown.bad, status: shown.status }).toEqual({
            lines: LINES,
            bad: expected.bad,
            status: expected.status,
          });
          // It rose while the import ran: never down, at least once between nothing and everything.
          expect(shown.seen.at(-1)).toBe(LINES);
          expect(shown.seen).toEqual([...shown.seen].sort((a, b) => a - b));
          expect(shown.seen.some((n) => n > 0 && n < LINES)).toBe(true);

          const chart = await page.evaluate(() => {
            const canvas = document.getElementById('hits')!;
            const data = Chart.getChart(canvas)!.data.datasets[0]!.data as number[];
            // Pixels of the line's blue (#2563eb), anti-aliased ones included.
            const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let blue = 0;
            for (let i = 0; i < pixels.length; i += 4)
              if (pixels[i + 3]! > 0 && pixels[i + 2]! > pixels[i]! + 100) blue++;
            return { points: data.length, hits: data.reduce((a, b) => a + b, 0), blue };
          });
          expect(chart.hits).toBe(expected.valid);

          // The top URLs panel (a live query) reaches what the database holds once the import is done,
          // having changed while it ran.
          const checker = new AccessBroker(place.target);
          let top: TopUrl[];
          try {
            top = (await lastValueFrom(checker.query<TopUrl>(TOP_URLS_SQL))).map((r) => ({
              url: r.url,
              hits: Number(r.hits),
            }));
          } finally {
            await checker.shutdown();
          }
          expect(top).toHaveLength(TOP_URLS);
          const total = top.reduce((sum, r) => sum + r.hits, 0);
          await page.waitForFunction((n) => document.getElementById('top-urls')?.dataset.total === String(n), total);
          const panel = await page.evaluate(() =>
            [...document.querySelectorAll('#top-urls li')].map((li) => ({
              url: li.dataset.url!,
              hits: Number(li.dataset.hits),
            })),
          );
          expect(panel).toEqual(top);
          const topSeen = await page.evaluate(() => window.topSeen);
          expect(topSeen.some((n) => n > 0 && n < total)).toBe(true);
          expect(chart.points).toBeGreaterThan(100);
          expect(chart.blue).toBeGreaterThan(500);
          expect(failures).toEqual([]);

          if (process.env.SASYNC_SCREENSHOT === '1' && kind === sqlitePlace)
            await page.screenshot({ path: SCREENSHOT, fullPage: true });
          await browser.close();
          browser = undefined;
          await clientsReach(live, 0);
        } finally {
          await browser?.close();
        }
      });
    },
    120_000,
  );
});

/** The body of one HTTP request. */
function request(url: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject).end();
  });
}

/** The first `data:` event of /events, and the request, still open. */
function firstEvent(url: string): Promise<{ event: LiveEvent; req: http.ClientRequest }> {
  return new Promise((resolve, reject) => {
    const req = http.get(new URL('events', url), (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => {
        text += d;
        const m = /^data: (.*)\n\n/m.exec(text);
        if (m) resolve({ event: JSON.parse(m[1]!) as LiveEvent, req });
      });
    });
    req.on('error', reject);
  });
}

describe('live server [sqlite-file]', () => {
  it('serves the page and Chart.js from node_modules, and 404 for anything else', async () => {
    await withLive(sqlitePlace, async (live) => {
      const page = await request(live.url);
      expect(page).toMatchObject({ status: 200, type: 'text/html; charset=utf-8' });
      expect(page.body).toContain('<script src="/chart.js"></script>');
      expect((await request(new URL('chart.js', live.url).href)).body).toMatch(/^\/\*![^]*Chart\.js v4/);
      expect((await request(new URL('page.js', live.url).href)).body).toContain("new EventSource('/events')");
      expect((await request(new URL('nope', live.url).href)).status).toBe(404);
      expect((await request(live.url, 'POST')).status).toBe(405);
    });
  });

  it('POST /import starts one import (202) and refuses another while it runs (409)', async () => {
    await withLive(sqlitePlace, async (live) => {
      const importUrl = new URL('import', live.url).href;
      expect((await request(importUrl, 'POST')).status).toBe(202);
      expect((await request(importUrl, 'POST')).status).toBe(409);
      expect((await request(importUrl)).status).toBe(405);
      await live.job.stop();
      expect(live.job.running).toBe(false);
    });
  });

  it('sends a snapshot as soon as a client connects, and unsubscribes when it goes', async () => {
    await withLive(sqlitePlace, async (live) => {
      const [a, b] = await Promise.all([firstEvent(live.url), firstEvent(live.url)]);
      expect(a.event).toMatchObject({ state: 'idle', lines: 0, minutes: [] });
      expect(live.clients()).toBe(2);
      a.req.destroy();
      await clientsReach(live, 1);
      b.req.destroy();
      await clientsReach(live, 0);
    });
  });
});

/** Runs main.ts (through tsx's loader) to its end. */
function runMain(args: readonly string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    process.execPath,
    ['--import', `file://${ROOT}/node_modules/tsx/dist/loader.mjs`, MAIN, ...args],
    {
      cwd: dir,
      env: { ...process.env, TSX_TSCONFIG_PATH: path.join(ROOT, 'tsconfig.json') },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let [stdout, stderr] = ['', ''];
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('demo:live command line', () => {
  it('--help explains every flag and exits 0', async () => {
    const { status, stdout } = await runMain(['--help']);
    expect(status).toBe(0);
    for (const flag of ['FILE', '--port', '--db', '--lines', '--batch', '--help']) expect(stdout).toContain(flag);
  });

  it('a port in use: one clear line on stderr and exit 1', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as net.AddressInfo;
    try {
      const { status, stderr } = await runMain(['--port', String(port), '--db', `sqlite:${dir}/port.db`]);
      expect(status).toBe(1);
      expect(stderr.trim().split('\n')).toEqual([
        `demo:live: port ${port} on 127.0.0.1 is in use: stop what holds it, or pass --port N`,
      ]);
    } finally {
      taken.close();
    }
  });

  it.each([
    ['a bad port', ['--port', '99999'], /--port needs a whole number from 0 to 65535/],
    ['an unknown flag', ['--bogus'], /Unknown option '--bogus'/],
  ])('%s: one clear line on stderr and exit 2', async (_what, args, message) => {
    const { status, stderr } = await runMain(args);
    expect(status).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(message);
  });
});
