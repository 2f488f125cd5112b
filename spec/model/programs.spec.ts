import { BOUNDED_TEST_MS, checkPrograms, programSettings } from '../support/model-run';
import { allTargets } from '../support/targets';

/**
 * Random programs (fast-check model-based testing) mixing transactions that
 * commit, throw, time out or are cancelled, nested joins and savepoints,
 * streams stopped in every way, store writes, misuses that must be refused,
 * and a shutdown at a random point; after each, the table must hold exactly
 * the acknowledged writes, the pool must be whole, shutdown() must resolve,
 * and nothing may be left running. A failure prints its seed, path and
 * shrunk program (see spec/support/model-run.ts to replay it). `npm test`
 * runs a bounded few; `npm run soak` runs them for long.
 */
describe.each(allTargets)('random programs keep every promise [$name]', (t) => {
  const settings = programSettings();
  const how = settings.soak ? `for ${settings.timeLimitMs / 60_000} min` : `${settings.numRuns} programs`;
  it(
    `acknowledged writes are there, refused ones are not, nothing leaks (${how}) [${t.name}]`,
    () => checkPrograms(t, settings),
    settings.soak ? undefined : BOUNDED_TEST_MS,
  );
});
