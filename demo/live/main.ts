/**
 * statalysis, live: `tsx demo/live/main.ts [FILE] [--port N] [--db TARGET]`;
 * `--help` lists the flags. Serves the live page until SIGINT or SIGTERM.
 */
import fs from 'node:fs';
import { resolveTarget, SasyncError } from '../../lib';
import { UsageError } from '../statalysis/cli';
import { HELP, parseLiveCli, type LiveCli } from './cli';
import { ListenError, startLive } from './live';

/** One line on stderr, and the exit status. */
const fail = (message: string, status: number) => {
  console.error(`demo:live: ${message}`);
  return status;
};

async function serve(cli: LiveCli): Promise<number> {
  let label: string;
  try {
    label = resolveTarget(cli.db).label;
  } catch (err) {
    return fail((err as Error).message, 2);
  }
  if (cli.file) {
    try {
      fs.accessSync(cli.file, fs.constants.R_OK);
    } catch (err) {
      return fail(`cannot read ${cli.file}: ${(err as Error).message}`, 1);
    }
  }
  const live = await startLive({
    target: cli.db,
    port: cli.port,
    file: cli.file,
    sampleLines: cli.lines,
    batchSize: cli.batch,
  });
  const what = cli.file ?? `a new ${cli.lines.toLocaleString('en')}-line sample`;
  console.log(`demo:live: ${live.url} (Start imports ${what} into ${label}; Ctrl-C stops)`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  console.log(`demo:live: ${signal}: stopping`);
  await live.close();
  return 0;
}

async function main(argv: readonly string[]): Promise<number> {
  try {
    const cli = parseLiveCli(argv);
    if (cli.help) {
      console.log(HELP);
      return 0;
    }
    return await serve(cli);
  } catch (err) {
    if (err instanceof UsageError) return fail(`${err.message} (try --help)`, 2);
    if (err instanceof ListenError && err.code === 'EADDRINUSE')
      return fail(`port ${err.port} on 127.0.0.1 is in use: stop what holds it, or pass --port N`, 1);
    if (err instanceof ListenError) return fail(err.message, 1);
    // sasync's errors say what happened and what to do in one line; anything else is a bug: its stack.
    if (err instanceof SasyncError) return fail(`${err.name}: ${err.message}`, 1);
    console.error(err);
    return 1;
  }
}

void main(process.argv.slice(2)).then((status) => (process.exitCode = status));
