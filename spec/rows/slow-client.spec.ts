import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { clock } from '../../lib/clock';
import { withItems, type ItemsBroker } from '../support/brokers';
import { allItemsSql, fillItems, readCounter, settle, type ReadCounter } from '../support/streams';
import { allTargets } from '../support/targets';
import { useVirtualClock } from '../support/virtual-clock';

const ROWS = 100_000;
const BATCH = 500;
/** Each row leaves as a line of about 100 bytes: 10 MB in all, more than loopback's socket buffers hold. */
const PADDING = 'x'.repeat(70);
/** The client's pace: 1 MB a second of virtual time, moved on 128 ms (128 KB) at a time. */
const BYTES_PER_SECOND = 1_000_000;
const TICK_MS = 16;
const STEP_MS = 128;

interface Row {
  id: number;
  name: string;
}

/** What the server sent and the client received, counted in rows. */
interface Export {
  sent: number;
  received: number;
  outOfOrder: number;
  ended: boolean;
}

/** An HTTP server exporting the items as lines: pipeline(rows.toReadable(), serialize, response). */
async function exportServer(b: ItemsBroker, read: ReadCounter, counts: Export): Promise<http.Server> {
  const server = http.createServer((_req, res) => {
    const rows = b.stream<Row>(allItemsSql(b), [], { batchSize: BATCH, onBatch: read.onBatch });
    const serialize = new Transform({
      writableObjectMode: true,
      transform(row: Row, _encoding, done) {
        counts.sent++;
        done(null, `${JSON.stringify({ id: Number(row.id), name: row.name, padding: PADDING })}\n`);
      },
    });
    void pipeline(rows.toReadable(), serialize, res).catch(() => undefined);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return server;
}

/**
 * A client reading the response at BYTES_PER_SECOND on sasync's clock: the
 * response stays paused, and each tick reads what its byte budget allows
 * (the socket, then the kernel's buffers, then the server's fill meanwhile).
 */
function slowClient(port: number, counts: Export): void {
  http.get({ host: '127.0.0.1', port, path: '/export' }, (response) => {
    response.pause();
    let budget = 0;
    let partial = '';
    const take = (chunk: Buffer) => {
      budget -= chunk.length;
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const { id } = JSON.parse(line) as Row;
        if (id !== ++counts.received) counts.outOfOrder++;
      }
    };
    const tick = () => {
      budget = Math.min(budget, 0) + (BYTES_PER_SECOND * TICK_MS) / 1000;
      for (let chunk: Buffer | null; budget > 0 && (chunk = response.read() as Buffer | null) !== null;) take(chunk);
      if (!counts.ended) clock.setTimeout(tick, TICK_MS);
    };
    response.on('end', () => (counts.ended = true));
    clock.setTimeout(tick, TICK_MS);
  });
}

// The slow client: rows mapped to lines and piped to an HTTP
// response were read far ahead of a client on a slow line. Counted, not
// timed: after each step of the client's (virtual) time, the server has had
// every chance to read ahead (settle), and the rows read from the database
// are compared with the rows handed to the socket.
describe.each(allTargets)('an export to a slow HTTP client reads only as the client drains [$name]', (t) => {
  const time = useVirtualClock();

  // 120 s: ~80 steps, each waiting for database round trips (in memory, 30 ms of real time), on a loaded machine.
  it(
    `pipeline(rows.toReadable(), transform, response) at 1 MB/s: rows read stay within 2 batches of rows sent`,
    () =>
      withItems(t, async (b) => {
        await fillItems(b, ROWS);
        const read = readCounter();
        const counts: Export = { sent: 0, received: 0, outOfOrder: 0, ended: false };
        const server = await exportServer(b, read, counts);
        try {
          slowClient((server.address() as AddressInfo).port, counts);
          let worstLead = 0;
          let worstInFlight = 0;
          let readAtHalf: number | undefined;
          while (!counts.ended) {
            await time.current.advance(STEP_MS);
            await settle(b);
            worstLead = Math.max(worstLead, read.rows - counts.sent);
            worstInFlight = Math.max(worstInFlight, read.rows - counts.received);
            if (readAtHalf === undefined && counts.received >= ROWS / 2) readAtHalf = read.rows;
            if (time.current.now > 60_000) throw new Error(`the export did not end: ${JSON.stringify(counts)}`);
          }
          expect(counts.received).toBe(ROWS);
          expect(counts.outOfOrder).toBe(0);
          expect(read.rows).toBe(ROWS);
          expect(worstLead).toBeLessThanOrEqual(2 * BATCH);
          // The client was slow: the socket's buffers were full, and the export had not read everything ahead.
          expect(worstInFlight).toBeGreaterThan(10 * BATCH);
          expect(readAtHalf).toBeLessThan(ROWS);
        } finally {
          server.closeAllConnections();
          server.close();
        }
      }),
    120_000,
  );
});
