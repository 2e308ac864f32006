// `npm run bench:cel` (second part): the worst regex cases against 100,000-character
// inputs, through the engine as a policy runs them. Each line is one call, warmed once:
// it must end (with a result or the typed regex work-limit error) in under 50 ms.
import { CelCostLimitError, createEnvironment, types } from '../../policy-engine/cel/index.js';
import { RE2_STEP_LIMIT, compileRe2 } from '../../policy-engine/cel/lib/regex.js';

const N = 100_000;
const cases: [pattern: string, input: string][] = [
  ['^([a-z0-9]+-?)+$', `${'a'.repeat(N - 1)}!`], // exponential on a backtracking engine
  ['^(\\w+\\s?)*$', `${'a'.repeat(N - 1)}!`],
  ['(x+x+)+y', 'x'.repeat(N)],
  ['(a|aa)*b', 'a'.repeat(N)],
  ['(.*)(.*)(.*)(.*)(.*)!', 'a'.repeat(N)],
  ['[0-9]*', 'a1'.repeat(N / 2)], // an (empty) match at every position
  ['', '🙂'.repeat(N / 2)],
  ['(?:a?){1000}a{1000}', 'a'.repeat(N)], // 3,002 instructions
  ['(?i)(?:[\\p{Greek}\\p{L}a-z]{1,100}){1,10}$', `${'a'.repeat(N - 1)}!`],
  ['^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$', `${'a.'.repeat(N / 2 - 1)}a-`],
];

const env = createEnvironment({ variables: { s: types.string, p: types.string } });
const programs = {
  matches: env.compile('s.matches(p)'),
  find: env.compile('s.find(p)'),
  findAll: env.compile('s.findAll(p).size()'),
};

let worst = 0;
console.log(`regex: ms per call (second run), target < 50 ms; each case at ${N} characters, then at the longest input the work limit lets it run`);
const rows: [string, string, number][] = [];
for (const [p, s] of cases) {
  const size = compileRe2(p).programSize;
  rows.push([p, s, N]);
  rows.push([p, s, Math.floor(RE2_STEP_LIMIT / (2 * size + 25)) - 1], [p, s, Math.floor(RE2_STEP_LIMIT / (2 * size)) - 1], [p, s, Math.floor(RE2_STEP_LIMIT / size) - 1]);
}
for (const [p, full, len] of rows) {
  const s = full.slice(0, len);
  const row: string[] = [];
  for (const [op, prog] of Object.entries(programs)) {
    const run = (): string => {
      try {
        return String(prog.evaluate({ s, p }));
      } catch (e) {
        if (e instanceof CelCostLimitError) return 'work-limit';
        throw e;
      }
    };
    run();
    const t = process.hrtime.bigint();
    const out = run();
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    worst = Math.max(worst, ms);
    row.push(`${op} ${ms.toFixed(2).padStart(6)} ms (${out.slice(0, 10)})`);
  }
  console.log(`  ${p.slice(0, 40).padEnd(40)} ${String(s.length).padStart(6)}  ${row.join('  ')}`);
}
console.log(`worst regex call: ${worst.toFixed(2)} ms (target < 50 ms): ${worst < 50 ? 'met' : 'NOT met'}`);
