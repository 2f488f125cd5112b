import { Client } from 'pg';
import { withItems } from '../support/brokers';
import { expectNoBusySessions, namedTarget } from '../support/streams';
import { PG_URL, pgAvailable, postgres } from '../support/targets';

// The release check of the stream specs (expectStreamsReleased) on postgres:
// a failure must say which session was left busy, so that a flake in CI
// diagnoses itself.
(pgAvailable ? describe : describe.skip)('the busy-session check names what it found [postgres]', () => {
  const appName = `sasync-release-check-${process.pid}`;

  it('fails naming a session left in a transaction (state, query, transaction start), and passes once it ends', () =>
    withItems(
      postgres,
      async (b) => {
        const left = new Client({ connectionString: PG_URL, application_name: appName });
        await left.connect();
        try {
          const { rows } = await left.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
          await left.query('BEGIN');
          await left.query('SELECT 42 AS left_open');
          const error = (await expectNoBusySessions(b, appName, 300).catch((e: unknown) => e)) as Error;
          expect(error).toBeInstanceOf(Error);
          expect(error.message).toMatch(/^1 session\(s\) of sasync-release-check-\d+ still busy/);
          expect(error.message).toContain('"state":"idle in transaction"');
          expect(error.message).toContain('"query":"SELECT 42 AS left_open"');
          expect(error.message).toMatch(/"xactStart":"\d{4}-/);
          expect(error.message).toContain(`"pid":${rows[0]!.pid}`);
          // Not one of the broker's own connections.
          expect(error.message).toContain('"inPool":false');
        } finally {
          await left.end();
        }
        await expectNoBusySessions(b, appName);
      },
      // The broker's own sessions carry another name: only `left` is looked at.
      namedTarget(postgres, `${appName}-broker`),
    ));
});
