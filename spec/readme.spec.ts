import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { inspect } from 'node:util';
import ts from 'typescript';
import * as sasync from '../lib';
import { createReplicaPair } from './replicas/replica-set';
import { scratchDir } from './support/targets';

const ROOT = path.resolve(__dirname, '..');
const requireHere = createRequire(__filename);
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const blocks = [...README.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

/** A README block as a module: its imports on top, the rest in `main()` (top-level await is not CommonJS). */
function asModule(block: string): string {
  const lines = block.split('\n');
  let end = 0;
  for (let i = 0; i < lines.length; i++) if (/^import /.test(lines[i]!)) end = i + 1;
  return [...lines.slice(0, end), 'export async function main(): Promise<void> {', ...lines.slice(end), '}'].join('\n');
}

const OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.CommonJS,
  strict: true,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  esModuleInterop: true,
  skipLibCheck: true,
  types: ['node'],
  paths: { sasync: [path.join(ROOT, 'lib/index.ts')] },
};

/** What each example must print (a fragment of the joined console.log output), by a line it contains. */
const EXPECTED: [string, RegExp][] = [
  ["notes.add('write the README')", /^\[ Note \{ id: 1, body: 'write the README', done: false \} \]$/],
  ["new LogBroker('sqlite:stats.db')", /id 1\nentries 1\nix_entries_dt/],
  ["label.with({ doNext: true })('next')", /\[ 'next', 'urgent', 'bulk 1', 'bulk 2' \]/],
  [
    '{ timeout: 100 }',
    /true transaction was cancelled and rolled back: timed out after 100 ms[^\n]*\n\[ \{ rows: 2 \} \]/,
  ],
  ["notes.add('first'), await notes.add('second')", /^1 2\n\[ 'first', 'second' \]\n2 2\n\[ 2 \]\nTransactionError$/],
  ['counter.three()', /^3\n\[ \{ n: 1 \} \]/],
  ["'commit with the last statement'", /^\{ id: 1, body: 'commit with the last statement' \}$/],
  [
    "broker.prepare<{ name: string }>('person_by_id'",
    /\[ 1, 2, 3, 4, 5 \]\n3\n\[ \{ name: 'person 1' \}, \{ name: 'person 2' \} \]\nperson 4/,
  ],
  ["'postgres://app@pgbouncer:6432/app?prepare=off'", /^true true$/],
  [
    "broker.stream(authors.orderBy('a.id')",
    /^true Ada \[ 'Notes', 'Sketch' \]\ntrue Grace \[ 'Manual' \]\n\[ 'a_id', 'a_name', 'b_authorId', 'b_id', 'b_title' \]$/,
  ],
  [
    "toReadable({ format: 'ndjson' })",
    /^\{"id":1,"name":"ada"\}\n\{"id":2,"name":"grace"\}\n\{"id":3,"name":"edsger"\}\n\n\[ \{ name: 'ada' \}, \{ name: 'grace' \}, \{ name: 'edsger' \} \]$/,
  ],
  ["broker.query('SELEC 1')", /true invalid table[^\n]*\ntrue SQLITE_ERROR SELEC 1\n\[ \{ ok: 1 \} \]\ntrue/],
  [
    'broker.events$.subscribe((e: TransactionEvent)',
    /^Shop #\d+ query queued\nShop #\d+ query started\nquery committed: waited true, ran true\nShop #\d+ restock queued\nShop #\d+ restock started\nrestock committed: waited true, ran true\nShop #\d+ sell queued\nShop #\d+ sell started\nsell rolledBack: TransactionError$/,
  ],
  ['traceTransactions(broker, printing)', /^Shop\.ping ok attempts 1\nShop\.query error attempts 1$/],
  ['a.dataSource === b.dataSource', /true\nran in the queue\n\[ 1, 2, 3 \]/],
  ['new AccessBroker(dataSource)', /^true\n1\ntrue\n\[ \{ name: 'theme' \} \]$/],
  [
    "new PersistentDict<string, unknown>('prefs'",
    /^3 a default\n\{ dark: true, since: 1970-01-01T00:00:00.000Z, tags: Set\(1\) \{ 'a' \} \} 2\n11 true\nqueen undefined$/,
  ],
  [
    "ui.watch('score').subscribe(render)",
    /^<p>score: -<\/p>\n<p>score: 10<\/p>\n<p>score: 25<\/p>\n<p>score: 40<\/p>\n\{\n {2}type: 'set',\n {2}key: 'score',\n {2}value: 40,\n {2}previous: 25,\n {2}origin: 'remote'\n\}$/,
  ],
  ['pollInterval: 25,', /^\[ 'remote set theme' \] dark\ntrue$/],
  ['{ since: saved }', /^\[ 'remote set theme dark' \]$/],
  ['broker\n  .live<Task>(', /^\[\] \+0 -0 ~0\n\[ 'write', 'test' \] \+2 -0 ~0\n\[ 'test' \] \+0 -1 ~0\nnot-a-query$/],
  [
    "region.getOrCreate('top:2'",
    /^1 \[ 'SELECT …', 'UPDATE …' \]\n2\nmaking \[ 'top:1' \]\n\[ \[ 'top:1' \], \[ 'SELECT …', 'UPDATE …' \] \]\n3$/,
  ],
  [
    'class AddEmail1700000000000 implements MigrationInterface',
    /^\[\n {2}\{\n {4}kind: 'missingColumn',\n {4}name: 'email',\n {4}expected: 'varchar\(255\)',\n {4}actual: 'missing'\n {2}\}\n\]\n\[\]$/,
  ],
  ['process.env.PRIMARY_URL', /^visits 1\non the replica\? false\npages \[\{"page":"\/home"\}\]\nwith the token 1$/],
];

/**
 * What an example needs around it: the replicas example a private primary
 * and streaming replica (never the shared server), through PRIMARY_URL and
 * REPLICA_URL; the others nothing.
 */
async function around(block: string, run: () => Promise<void>): Promise<void> {
  if (!block.includes('process.env.PRIMARY_URL')) return run();
  const pair = await createReplicaPair();
  process.env.PRIMARY_URL = pair.primary.url;
  process.env.REPLICA_URL = pair.replica.url;
  try {
    await run();
  } finally {
    delete process.env.PRIMARY_URL;
    delete process.env.REPLICA_URL;
    await pair.remove();
  }
}

describe('README examples', () => {
  it('has the examples this spec expects', () => {
    expect(blocks.length).toBe(EXPECTED.length);
    EXPECTED.forEach(([marker], i) => expect(blocks[i]).toContain(marker));
  });

  it('compiles every example against the library', () => {
    const files = new Map(blocks.map((b, i) => [path.join(ROOT, `readme-example-${i}.ts`), asModule(b)]));
    const host = ts.createCompilerHost(OPTIONS);
    const { getSourceFile, fileExists, readFile } = host;
    host.getSourceFile = (name, lang, ...rest) =>
      files.has(name) ? ts.createSourceFile(name, files.get(name)!, lang) : getSourceFile(name, lang, ...rest);
    host.fileExists = (name) => files.has(name) || fileExists(name);
    host.readFile = (name) => files.get(name) ?? readFile(name);
    const program = ts.createProgram([...files.keys()], OPTIONS, host);
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file && files.has(d.file.fileName))
      .map((d) => `${path.basename(d.file!.fileName)}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    expect(diagnostics).toEqual([]);
  });

  it.each(EXPECTED.map(([marker, output], i) => [i, marker, output] as const))(
    'runs example %i (%s) and prints what the README says',
    async (i, _marker, output) => {
      const js = ts.transpileModule(asModule(blocks[i]!), { compilerOptions: OPTIONS }).outputText;
      const module = { exports: {} as { main: () => Promise<void> } };
      // The examples' own imports: 'sasync' is this library, the rest come from node_modules.
      const load = (id: string) => (id === 'sasync' ? sasync : requireHere(id));
      new Function('require', 'module', 'exports', js)(load, module, module.exports);
      const logged: string[] = [];
      const log = jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
        logged.push(args.map((a) => (typeof a === 'string' ? a : inspect(a))).join(' '));
      });
      const cwd = process.cwd();
      process.chdir(scratchDir());
      try {
        await around(blocks[i]!, () => module.exports.main());
      } finally {
        process.chdir(cwd);
        log.mockRestore();
      }
      expect(logged.join('\n')).toMatch(output);
    },
  );
});
