import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { devalueSerializer } from '../../lib';
import { ARRAY_TABLE } from '../../lib/stores/tables';
import { RawSql } from '../support/stores';
import { within } from '../support/streams';
import { fileAndPg, uniqueName } from '../support/targets';

const PEER = path.join(__dirname, 'fixtures', 'log-peer.ts');
const N = 40;

interface Report {
  dictSeen: [string, string, string][];
  gridSeen: [string, [string, number, null], string, string?, string?][];
  view: [string, string][];
  cells: (string | undefined)[];
}

/** A peer process (fixtures/log-peer.ts) and the lines it prints, one awaited at a time. */
function peer(target: string, group: string, who: string) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [
    '--import',
    'tsx',
    PEER,
    target,
    group,
    who,
    String(N),
  ]);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const next = waiting.shift();
    if (next) next(line);
    else lines.push(line);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return {
    child,
    line: (what: string) =>
      within(
        new Promise<string>((resolve, reject) => {
          const queued = lines.shift();
          if (queued !== undefined) return resolve(queued);
          waiting.push(resolve);
          void exited.then((code) => reject(new Error(`${who} exited (${code}) before ${what}: ${stderr}`)));
        }),
        `${who}: ${what}`,
        30_000,
      ),
    exited,
  };
}

/**
 * Two processes write the same dict and array at once, through the change
 * log: after quiescence each one's memory equals the table, and every key
 * one of them wrote reached the other's changes$ as a remote set, once.
 * On a sqlite file the other process's commits are noticed by data_version.
 */
describe.each(fileAndPg)('the change log between two processes [$name]', (t) => {
  it(`two processes writing one dict and one array see each other's changes, and agree with the table [${t.name}]`, async () => {
    const target = t.target();
    const group = uniqueName('g');
    const raw = new RawSql(target);
    await raw.broker.waitUntilRunning();
    const peers = { a: peer(target, group, 'a'), b: peer(target, group, 'b') };
    try {
      for (const p of Object.values(peers)) expect(await p.line('ready')).toBe('ready');
      for (const p of Object.values(peers)) p.child.stdin.write('go\n');
      for (const p of Object.values(peers)) expect(await p.line('written')).toBe('written');
      for (const p of Object.values(peers)) p.child.stdin.write('settle\n');
      const reports = {
        a: JSON.parse(await peers.a.line('its report')) as Report,
        b: JSON.parse(await peers.b.line('its report')) as Report,
      };
      const table = new Map(
        [...(await raw.items(group))].map(([k, v]) => [k, devalueSerializer.decode(v) as string] as const),
      );
      expect(table.size).toBe(2 * N + 5);
      const cells = await raw.query<{ x: string; y: string; value: string }>(
        `SELECT x, y, value FROM ${ARRAY_TABLE.name} WHERE group_id = ?`,
        [group],
      );
      expect(cells.length).toBe(2 * N);
      for (const [who, other] of [
        ['a', 'b'],
        ['b', 'a'],
      ] as const) {
        const report = reports[who];
        expect(new Map(report.view)).toEqual(table);
        expect(report.cells).toEqual([
          ...Array.from({ length: N }, (_, i) => `a ${i}`),
          ...Array.from({ length: N }, (_, i) => `b ${i}`),
        ]);
        for (let i = 0; i < N; i++) {
          const sets = report.dictSeen.filter(([, key]) => key === `${other}-${i}`);
          expect(sets).toEqual([['set', `${other}-${i}`, `${other} ${i}`]]);
          expect(report.gridSeen.filter(([type]) => type !== 'set')).toEqual([]);
          const cellSets = report.gridSeen.filter(([, [x, y]]) => x === other && y === i).map((c) => c.slice(0, 3));
          expect(cellSets).toEqual([['set', [other, i, null], `${other} ${i}`]]);
        }
      }
      expect(await peers.a.exited).toBe(0);
      expect(await peers.b.exited).toBe(0);
    } finally {
      for (const p of Object.values(peers)) if (p.child.exitCode === null) p.child.kill();
      await raw.shutdown();
    }
  }, 90_000);
});
