import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { readLines, type Line } from '../../demo/statalysis/lines';
import { parseLine, type Parsed } from '../../demo/statalysis/parse';
import { scratchDir } from '../support/targets';

const VHOST =
  'www.example.com:443 203.0.113.9 - frank [10/Oct/2023:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 "https://ref.example/" "Mozilla/5.0 (X11)"';
const NGINX = '2001:db8::1 - - [01/Jan/2024:00:00:00 +0000] "POST /api HTTP/2.0" 502 - "-" "curl/8.5.0"';

const reason = (p: Parsed) => (p.ok ? 'ok' : p.reason);

async function allLines(file: string, maxBytes?: number): Promise<Line[]> {
  const out: Line[] = [];
  for await (const chunk of readLines(file, maxBytes)) out.push(...chunk);
  return out;
}

describe('statalysis: parsing a line', () => {
  it("reads Apache's vhost_combined: vhost without its port, time in UTC", () => {
    const p = parseLine(VHOST);
    expect(p).toEqual({
      ok: true,
      record: {
        vhost: 'www.example.com',
        ip: '203.0.113.9',
        dt: new Date('2023-10-10T20:55:36Z'),
        method: 'GET',
        url: '/a?b=1',
        status: 200,
        bytes: 2326,
        ref: 'https://ref.example/',
        ua: 'Mozilla/5.0 (X11)',
      },
    });
  });

  it("reads nginx's combined (no vhost: '-'), IPv6, and '-' bytes as 0", () => {
    const p = parseLine(NGINX);
    expect(p.ok && p.record).toMatchObject({ vhost: '-', ip: '2001:db8::1', status: 502, bytes: 0, method: 'POST' });
  });

  it('keeps a request that is not METHOD URL PROTOCOL whole as the URL', () => {
    const p = parseLine(NGINX.replace('POST /api HTTP/2.0', '\\x16\\x03\\x01'));
    expect(p.ok && p.record).toMatchObject({ method: '-', url: '\\x16\\x03\\x01' });
  });

  it.each([
    ['empty', '   '],
    ['binary', '\0\0\x01garbage'],
    ['binary', VHOST.replace('Mozilla', 'Mo\ufffdzilla')],
    ['truncated', VHOST.slice(0, -5)],
    ['fields', '203.0.113.9 - - [10/Oct/2023:13:55:36 -0700] "GET / HTTP/1.1" 200 2326'],
    ['fields', VHOST.replace(' - frank [', ' - frank extra [')],
    ['fields', `${VHOST} "extra"`],
    ['ip', VHOST.replace('203.0.113.9', '999.1.1.1')],
    ['time', VHOST.replace('10/Oct/2023', '31/Feb/2023')],
    ['time', VHOST.replace('Oct', 'Okt')],
    ['status', VHOST.replace(' 200 ', ' 999 ')],
  ])('refuses a line: %s', (expected, line) => {
    expect(reason(parseLine(line))).toBe(expected);
  });
});

describe('statalysis: reading a file', () => {
  const dir = scratchDir();

  it('splits lines, drops CR, keeps a last line without newline, and reports a huge line by its length only', async () => {
    const file = path.join(dir, 'lines.log');
    const huge = 'x'.repeat(1024 * 1024);
    fs.writeFileSync(file, `one\r\n${huge}\ntwo\n\nlast`);
    expect(await allLines(file)).toEqual(['one', { tooLong: huge.length }, 'two', '', 'last']);
  });

  it('reads .gz files', async () => {
    const file = path.join(dir, 'lines.log.gz');
    fs.writeFileSync(file, gzipSync(`${VHOST}\n${NGINX}\n`));
    expect(await allLines(file)).toEqual([VHOST, NGINX]);
  });

  it('throws on a corrupt .gz', async () => {
    const file = path.join(dir, 'broken.log.gz');
    fs.writeFileSync(file, gzipSync(`${VHOST}\n`.repeat(1000)).subarray(0, 100));
    await expect(allLines(file)).rejects.toThrow(/unexpected end of file/);
  });
});
