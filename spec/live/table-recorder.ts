import type { TableRef } from '../../lib/dialect/dialect-live';
import type { TableListener } from '../../lib/live/table-changes';
import { within } from '../support/streams';

/** One report a listener heard: the tables changed, or a resync. */
export type Report = { readonly changed: readonly string[] } | { readonly resync: true };

/**
 * A TableListener that records what it hears and lets a spec wait for a
 * report (with a bounded timeout) instead of sleeping. `onChanged` runs
 * inside the report (to read the table at report time).
 */
export class Recorder {
  readonly reports: Report[] = [];
  #waiters: { readonly test: (r: Report) => boolean; readonly resolve: (r: Report) => void }[] = [];
  readonly listener: TableListener;

  constructor(onChanged?: (tables: readonly TableRef[]) => void) {
    this.listener = {
      changed: (tables) => {
        onChanged?.(tables);
        this.#record({ changed: tables.map((t) => t.name) });
      },
      resync: () => this.#record({ resync: true }),
    };
  }

  /** Names reported as changed so far, in order, one entry per report and table. */
  get changedNames(): string[] {
    return this.reports.flatMap((r) => ('changed' in r ? [...r.changed] : []));
  }

  get resyncs(): number {
    return this.reports.filter((r) => 'resync' in r).length;
  }

  /** The first report from now on that names `table` (or resyncs), within `ms`. */
  next(table: string, what = `a report of ${table}`, ms = 15_000): Promise<Report> {
    return within(
      new Promise<Report>((resolve) =>
        this.#waiters.push({ test: (r) => 'resync' in r || r.changed.includes(table), resolve }),
      ),
      what,
      ms,
    );
  }

  #record(report: Report): void {
    this.reports.push(report);
    for (const w of [...this.#waiters]) {
      if (!w.test(report)) continue;
      this.#waiters.splice(this.#waiters.indexOf(w), 1);
      w.resolve(report);
    }
  }
}
