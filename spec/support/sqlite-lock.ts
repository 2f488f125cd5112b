import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const HOLDER = path.join(__dirname, 'sqlite-lock-holder.ts');

/** Another process holding a sqlite write lock, until released. */
export interface SqliteLock {
  readonly child: ChildProcess;
  /** Commits, and waits for the process to exit. */
  release(): Promise<void>;
}

/**
 * Starts another process that holds BEGIN EXCLUSIVE on `file` (switching it to
 * `journal` mode first when given), and resolves once it holds the lock.
 */
export async function holdSqliteLock(file: string, journal?: 'DELETE' | 'WAL'): Promise<SqliteLock> {
  const args = ['--import', 'tsx', HOLDER, file, ...(journal ? [journal] : [])];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const saw = (word: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => output.includes(word) && resolve();
      child.stdout!.on('data', check);
      void exited.then(() => (output.includes(word) ? resolve() : reject(new Error(`lock holder: ${output}`))));
      check();
    });
  await saw('locked');
  return {
    child,
    release: async () => {
      child.stdin!.write('release\n');
      await saw('released');
      await exited;
    },
  };
}
