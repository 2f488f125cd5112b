import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { EventStreams } from './events';
import type { ImportJob } from './import-job';

/** Chart.js's UMD build, from node_modules: the page fetches nothing from elsewhere. */
const CHART_JS = path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.min.js');

/** The files the page is made of, by URL. */
const FILES: Record<string, { readonly file: string; readonly type: string }> = {
  '/': { file: path.join(__dirname, 'page.html'), type: 'text/html; charset=utf-8' },
  '/page.js': { file: path.join(__dirname, 'page.js'), type: 'text/javascript; charset=utf-8' },
  '/chart.js': { file: CHART_JS, type: 'text/javascript; charset=utf-8' },
};

/**
 * The live page's HTTP server (node:http): GET / and its scripts, GET
 * /events (Server-Sent Events, see {@link EventStreams}), POST /import
 * (202 when an import starts, 409 while one runs). Not listening yet.
 */
export function liveServer(events: EventStreams, job: ImportJob): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const reply = (status: number, text: string, headers: http.OutgoingHttpHeaders = {}) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end(`${text}\n`);
    };
    const file = FILES[url.pathname];
    if (file) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'use GET', { allow: 'GET, HEAD' });
      res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-cache' });
      if (req.method === 'HEAD') return res.end();
      fs.createReadStream(file.file)
        .on('error', () => res.destroy())
        .pipe(res);
      return;
    }
    if (url.pathname === '/events') {
      if (req.method !== 'GET') return reply(405, 'use GET', { allow: 'GET' });
      return events.serve(req, res);
    }
    if (url.pathname === '/import') {
      if (req.method !== 'POST') return reply(405, 'use POST', { allow: 'POST' });
      req.resume();
      return job.start() ? reply(202, 'import started') : reply(409, 'an import is running already');
    }
    reply(404, 'not found');
  });
}
