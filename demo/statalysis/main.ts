/**
 * statalysis, after the sAsync example: imports access logs through a sasync
 * broker and reports on them. `tsx demo/statalysis/main.ts [FILE…] [--db TARGET]`;
 * `--help` lists the flags.
 */
import fs from 'node:fs';
import { resolveTarget, SasyncError } from '../../lib';
import { HELP, parseCli, UsageError, type Cli } from './cli';
import { ensureSample } from './generate';
import { importFile, type FileResult } from './import';
import { migratingTarget } from './migrations';
import { barProgress, lineProgress, noProgress, type Progress } from './progress';
import { formatReport, readReport } from './report';
import { StatBroker } from './stat-broker';

const say = (line: string) => console.log(line);
const n = (x: number) => Math.round(x).toLocaleString('en');

/** A failure with a one-line explanation and an exit status. */
class Failure extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

function describe(r: FileResult): string {
  const counts = `${n(r.lines)} lines: ${n(r.records)} entries, ${n(r.bad)} bad`;
  if (r.outcome === 'skipped') return `  ${r.name}: already imported (${counts}), skipped`;
  const how = r.outcome === 'resumed' ? `resumed after line ${n(r.fromLine)}, now` : 'imported';
  const rate = r.linesThisRun / r.seconds;
  return `  ${r.name}: ${how} ${counts}, in ${r.seconds.toFixed(1)} s (${n(rate)} lines/s)`;
}

/** Every FILE readable, or a Failure naming the first that is not. */
function checkFiles(files: readonly string[]): void {
  for (const file of files) {
    try {
      if (!fs.statSync(file).isFile()) throw new Error('not a regular file');
      fs.accessSync(file, fs.constants.R_OK);
    } catch (err) {
      throw new Failure(`cannot read ${file}: ${(err as Error).message}`, 1);
    }
  }
}

async function run(cli: Cli): Promise<void> {
  let label: string;
  try {
    label = resolveTarget(cli.db).label;
  } catch (err) {
    throw new Failure((err as Error).message, 2);
  }
  let files = cli.files;
  if (files.length === 0) {
    const started = performance.now();
    const sample = await ensureSample(cli.sampleLines);
    const took = ((performance.now() - started) / 1000).toFixed(1);
    say(
      sample.written
        ? `wrote the sample log ${sample.file} (${n(cli.sampleLines)} lines) in ${took} s`
        : `using the sample log ${sample.file}`,
    );
    files = [sample.file];
  }
  checkFiles(files);

  // Its migrations run first, bringing a database of an older statalysis up to date. The report's
  // top lists are kept in the database: a run that imports nothing new reads them from there.
  const broker = new StatBroker(migratingTarget(cli.db), { migrate: true, reportCache: 'shared' });
  try {
    await broker.waitUntilRunning().catch((err: Error) => {
      throw new Failure(err.message, 1);
    });
    say(`statalysis: ${files.length} file(s) into ${label} (${broker.dialect}), ${cli.batch} lines per transaction`);
    const progress: Progress = cli.quiet ? noProgress : process.stderr.isTTY ? barProgress() : lineProgress();
    const started = performance.now();
    let lines = 0;
    for (const file of files) {
      const result = await importFile(broker, file, { batchSize: cli.batch, onProgress: (p) => progress.update(p) })
        .catch((err: Error & { code?: string }) => {
          // Database errors explain themselves; anything else here is the file (a corrupt .gz, a read error).
          throw err instanceof SasyncError ? err : new Failure(`cannot read ${file}: ${err.message}`, 1);
        })
        .finally(() => progress.done());
      lines += result.linesThisRun;
      say(describe(result));
    }
    const seconds = (performance.now() - started) / 1000;
    say(
      lines > 0
        ? `import: ${n(lines)} lines in ${seconds.toFixed(1)} s: ${n(lines / seconds)} lines/s`
        : 'import: nothing new',
    );
    if (cli.report) say(`\n${formatReport(await readReport(broker, cli.top))}`);
  } finally {
    await broker.shutdown();
  }
}

async function main(argv: readonly string[]): Promise<number> {
  try {
    const cli = parseCli(argv);
    if (cli.help) {
      say(HELP);
      return 0;
    }
    await run(cli);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`statalysis: ${err.message} (try --help)`);
      return 2;
    }
    if (err instanceof Failure) {
      console.error(`statalysis: ${err.message}`);
      return err.status;
    }
    // sasync's errors say what happened and what to do in one line; anything else is a bug: its stack.
    console.error(err instanceof SasyncError ? `statalysis: ${err.name}: ${err.message}` : err);
    return 1;
  }
}

void main(process.argv.slice(2)).then((status) => (process.exitCode = status));
