// The built-in library's suites, run by the same runner as `kidp test policies/`.
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findSuites, runSuites } from '../policy-engine/suite/runner.js';

const here = dirname(fileURLToPath(import.meta.url));
const run = runSuites(here, { now: () => new Date('2026-06-01T00:00:00Z') });

test('the library has at least 8 policies, each with cases', () => {
  const suites = findSuites(here);
  expect(suites.length).toBeGreaterThanOrEqual(8);
  const withCases = new Set(run.results.filter((r) => r.name !== '(load)').map((r) => r.suite));
  expect(withCases.size).toBe(suites.length);
});

test.each(run.results.map((r) => [`${r.suite}: ${r.name}`, r] as const))('%s', (_name, result) => {
  expect(result.problems).toEqual([]);
});
