// `npm run conformance`: per-section pass/fail/skip counts and the total.
import { countBySection, runAll } from './suite.js';

const verbose = process.argv.includes('--verbose');
const outcomes = runAll();
let pass = 0;
let fail = 0;
let skip = 0;
console.log('section'.padEnd(18) + 'pass'.padStart(6) + 'fail'.padStart(6) + 'skip'.padStart(6));
for (const [s, c] of countBySection(outcomes)) {
  console.log(s.padEnd(18) + String(c.pass).padStart(6) + String(c.fail).padStart(6) + String(c.skip).padStart(6));
  pass += c.pass;
  fail += c.fail;
  skip += c.skip;
}
const pct = ((100 * pass) / (pass + fail)).toFixed(2);
console.log(`total: ${pass}/${pass + fail} applicable tests pass (${pct}%), ${skip} skipped (protobuf messages/enums)`);
if (verbose) for (const o of outcomes) if (o.status === 'fail') console.log(`FAIL ${o.id}: ${o.reason ?? ''}`);
console.log(`conformance: ${pass} passed, ${fail} failed, ${skip} skipped`);
