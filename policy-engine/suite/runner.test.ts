import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatSuiteRun, runSuites } from './runner.js';

const policy = `apiVersion: platform.kidp.io/v1alpha1
kind: Policy
metadata: {name: topic-rf}
spec:
  mode: Enforce
  selector: {resourceTypes: [Topic]}
  rules:
    - name: rf
      expression: "spec.?replicationFactor.orValue(1) >= 3"
      message: replicate at least 3 times
`;
const topic = (rf: number) =>
  `{apiVersion: platform.kidp.io/v1alpha1, kind: Topic, metadata: {name: t, namespace: n}, spec: {owner: {kind: Team, name: x}, replicationFactor: ${rf}}}`;

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'kidp-suite-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function suite(name: string, files: Record<string, string>): void {
  mkdirSync(join(root, name));
  for (const [f, text] of Object.entries(files)) writeFileSync(join(root, name, f), text);
}

test('passing and failing cases, each named, with what differed', () => {
  suite('topic-rf', {
    'policy.yaml': policy,
    'tests.yaml': `cases:
  - {name: rf 3 passes, object: ${topic(3)}, expect: {verdict: ADMITTED}}
  - {name: rf 1 fails, object: ${topic(1)}, expect: {verdict: DENIED, rules: {rf: {result: fail, message: replicate at least 3 times}}}}
  - {name: wrong expectation, object: ${topic(1)}, expect: {verdict: ADMITTED}}
  - {name: wrong message, object: ${topic(1)}, expect: {rules: {rf: {result: fail, message: other}}}}
`,
  });
  const run = runSuites(root);
  expect(formatSuiteRun(run)).toEqual([
    'topic-rf',
    '  PASS  rf 3 passes',
    '  PASS  rf 1 fails',
    '  FAIL  wrong expectation',
    '        rule rf: expected pass, got fail (replicate at least 3 times)',
    '        expected verdict ADMITTED, got DENIED',
    '  FAIL  wrong message',
    '        rule rf: expected message "other", got "replicate at least 3 times"',
    '2 passed, 2 failed',
  ]);
});

test.each([
  [
    'a policy that does not compile',
    { 'policy.yaml': policy.replace('orValue(1) >= 3', "orValue(1) >= '3'"), 'tests.yaml': 'cases: [{name: x, object: {}, expect: {}}]' },
    /^policy "topic-rf" does not compile:\n {2}rule "rf" \(line 1, column 36\): found no matching overload for '_>=_' applied to '\(int, string\)'$/,
  ],
  ['invalid YAML in tests.yaml', { 'policy.yaml': policy, 'tests.yaml': 'cases: [\n  - a' }, /tests\.yaml:\d+:\d+: invalid YAML: /],
  ['no tests.yaml', { 'policy.yaml': policy }, /no tests\.yaml beside policy\.yaml$/],
  [
    'a policy with no rules',
    { 'policy.yaml': policy.replace(/ {2}rules:[\s\S]*/, '  rules: []\n'), 'tests.yaml': 'cases: [{name: x, object: {}, expect: {}}]' },
    /the Policy does not match its schema: spec.rules: /,
  ],
])('a suite that cannot load is a failed case saying why: %s', (_name, files, message) => {
  suite('broken', files);
  const run = runSuites(root);
  expect(run).toMatchObject({ passed: 0, failed: 1, results: [{ suite: 'broken', name: '(load)', passed: false }] });
  expect(run.results[0]!.problems).toHaveLength(1);
  expect(run.results[0]!.problems[0]).toMatch(message);
});

test('a case naming a rule the policy lacks fails, it does not pass silently', () => {
  suite('topic-rf', {
    'policy.yaml': policy,
    'tests.yaml': `cases:\n  - {name: typo, object: ${topic(1)}, expect: {rules: {rff: fail}}}\n`,
  });
  expect(runSuites(root).results).toEqual([
    {
      suite: 'topic-rf',
      name: 'typo',
      passed: false,
      problems: [expect.stringMatching(/expect\.rules names "rff", which policy topic-rf does not have$/)],
    },
  ]);
});

test('params: objects beside the Policy, in tests.yaml, or per case', () => {
  suite('limits', {
    'policy.yaml': `apiVersion: platform.kidp.io/v1alpha1
kind: Policy
metadata: {name: topic-limits}
spec:
  mode: Enforce
  selector: {resourceTypes: [Topic]}
  paramKind: {apiVersion: v1, kind: ConfigMap}
  paramRef: {name: limits}
  rules:
    - {name: rf, expression: "spec.replicationFactor >= int(params.data.minRF)", messageExpression: "'at least ' + params.data.minRF"}
---
{apiVersion: v1, kind: ConfigMap, metadata: {name: limits, namespace: n}, data: {minRF: "3"}}
`,
    'tests.yaml': `cases:
  - {name: the object beside the policy, object: ${topic(3)}, expect: {verdict: ADMITTED}}
  - {name: it decides, object: ${topic(2)}, expect: {rules: {rf: {result: fail, message: at least 3}}}}
  - name: a case's own params
    object: ${topic(2)}
    params: [{apiVersion: v1, kind: ConfigMap, metadata: {name: limits, namespace: n}, data: {minRF: "2"}}]
    expect: {verdict: ADMITTED}
  - name: none given
    object: ${topic(2)}
    params: []
    expect: {verdict: DENIED, rules: {(params): {result: error, message: "params: no ConfigMap (v1) object was given (--params)"}}}
`,
  });
  const run = runSuites(root);
  expect(run.results.map((r) => [r.name, r.passed, r.problems])).toEqual([
    ['the object beside the policy', true, []],
    ['it decides', true, []],
    ["a case's own params", true, []],
    ['none given', true, []],
  ]);
});

test('authorizer answers per suite or case; none given: no authorizer offline', () => {
  suite('authz', {
    'policy.yaml': `apiVersion: platform.kidp.io/v1alpha1
kind: Policy
metadata: {name: topic-writers}
spec:
  mode: Enforce
  selector: {resourceTypes: [Topic]}
  rules:
    - {name: may-read, expression: "authorizer.group('').resource('secrets').namespace(object.metadata.namespace).check('get').allowed()"}
`,
    'tests.yaml': `authorizer: [{match: {username: alice, resource: secrets}, decision: allow}]
cases:
  - {name: alice may, object: ${topic(3)}, userInfo: {username: alice}, expect: {verdict: ADMITTED}}
  - {name: bob may not, object: ${topic(3)}, userInfo: {username: bob}, expect: {verdict: DENIED, rules: {may-read: fail}}}
  - {name: a case's own answers, object: ${topic(3)}, userInfo: {username: bob}, authorizer: [{match: {username: bob}, decision: allow}], expect: {verdict: ADMITTED}}
`,
  });
  expect(runSuites(root).results.map((r) => [r.name, r.passed, r.problems])).toEqual([
    ['alice may', true, []],
    ['bob may not', true, []],
    ["a case's own answers", true, []],
  ]);
});
