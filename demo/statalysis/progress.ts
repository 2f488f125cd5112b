import { SingleBar } from 'cli-progress';
import type { ImportProgress } from './import';

/** Shows an import's progress: a bar on a terminal, a line every few seconds elsewhere. */
export interface Progress {
  update(progress: ImportProgress): void;
  /** Ends the current file's display. */
  done(): void;
}

const rate = (p: ImportProgress) => Math.round(p.linesThisRun / Math.max(p.seconds, 0.001));

/** A cli-progress bar over the file's bytes (on stderr, as cli-progress draws). */
export function barProgress(): Progress {
  let bar: SingleBar | undefined;
  return {
    update(p) {
      if (!bar) {
        bar = new SingleBar({
          format: '  {file} |{bar}| {percentage}% | {lines} lines | {rate} lines/s | ETA {eta_formatted}',
          hideCursor: true,
        });
        bar.start(p.size, 0, { file: p.name, lines: 0, rate: 0 });
      }
      bar.update(p.bytesRead, { lines: p.lines.toLocaleString('en'), rate: rate(p).toLocaleString('en') });
    },
    done() {
      bar?.stop();
      bar = undefined;
    },
  };
}

/**
 * One plain line (on `write`, stdout by default) after the first committed
 * batch of a file, then at most one per `everyMs`: fit for logs and pipes.
 */
export function lineProgress(everyMs = 2000, write = (line: string) => console.log(line)): Progress {
  let last = 0;
  return {
    update(p) {
      const now = performance.now();
      if (last !== 0 && now - last < everyMs) return;
      last = now;
      const percent = p.size > 0 ? Math.floor((100 * p.bytesRead) / p.size) : 100;
      write(`  ${p.name}: ${percent}%, ${p.lines} lines committed (${rate(p)} lines/s)`);
    },
    done() {
      last = 0;
    },
  };
}

/** Nothing at all (--quiet). */
export const noProgress: Progress = { update: () => undefined, done: () => undefined };
