// `kidp validate --output ...` over a repository-like directory: whole outputs compared, for
// the same verdicts as the text output (the cluster's, validate-webhook.test.ts).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './run.js';
import { formatVerdicts } from './validate-output.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let repo: string;
let cwd: string;

const DENIAL = 'production-databases-require-backup/require-backup: database legacy-db is production: set spec.backup.enabled to true';
const WARNING = 'cache-eviction-policy/eviction-policy-set: cache sessions must set spec.evictionPolicy (e.g. allkeys-lru)';

beforeAll(() => {
  repo = mkdtempSync(join(tmpdir(), 'kidp-validate-output-'));
  mkdirSync(join(repo, 'apps', 'payments', 'data'), { recursive: true });
  writeFileSync(
    join(repo, 'apps', 'payments', 'namespace.yaml'),
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: payments, labels: {cost-center: cc-1, platform.kidp.io/team: payments}}\n',
  );
  // Nested one level down: directories are read recursively.
  writeFileSync(
    join(repo, 'apps', 'payments', 'data', 'stores.yaml'),
    `apiVersion: platform.kidp.io/v1alpha1
kind: Database
metadata: {name: legacy-db, namespace: payments}
spec: {owner: {kind: Team, name: payments}, environment: production, engine: postgresql, version: "16"}
---
apiVersion: platform.kidp.io/v1alpha1
kind: Cache
metadata: {name: sessions, namespace: payments}
spec: {owner: {kind: Team, name: payments}, engine: redis, memoryMB: 64}
`,
  );
  // kustomize's build file is not a cluster object: skipped, not denied.
  writeFileSync(join(repo, 'apps', 'kustomization.yaml'), 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [payments]\n');
  cwd = process.cwd();
  process.chdir(repo);
});
afterAll(() => {
  process.chdir(cwd);
  rmSync(repo, { recursive: true, force: true });
});

async function kidp(...argv: string[]): Promise<{ exit: number; stdout: string; stderr: string[] }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exit = await run(argv, { stdout: (l) => stdout.push(l), stderr: (l) => stderr.push(l), now: () => new Date('2026-06-01T00:00:00Z') });
  return { exit, stdout: stdout.join('\n'), stderr };
}

const validate = (output: string) => kidp('validate', '-f', join(repo, 'apps'), '--policies', join(root, 'policies'), '--output', output);

describe('kidp validate --output', () => {
  test('text: the lines kidp validate always printed', async () => {
    expect(await validate('text')).toEqual({
      exit: 1,
      stdout: ['Database payments/legacy-db: DENIED: ' + DENIAL, 'Cache payments/sessions: WARN: ' + WARNING, 'Namespace payments: ADMITTED'].join('\n'),
      stderr: [],
    });
  });

  test('json: summary and one result per resource, with repository-relative file and line', async () => {
    const got = await validate('json');
    expect({ ...got, stdout: JSON.parse(got.stdout) as unknown }).toEqual({
      exit: 1,
      stdout: {
        summary: { resources: 3, admitted: 1, warned: 1, denied: 1 },
        results: [
          { file: 'apps/payments/data/stores.yaml', line: 1, resource: 'Database payments/legacy-db', verdict: 'DENIED', messages: [DENIAL] },
          { file: 'apps/payments/data/stores.yaml', line: 6, resource: 'Cache payments/sessions', verdict: 'WARN', messages: [WARNING] },
          { file: 'apps/payments/namespace.yaml', line: 1, resource: 'Namespace payments', verdict: 'ADMITTED', messages: [] },
        ],
      },
      stderr: [],
    });
  });

  test('junit: a testsuite per file, a failure per denial, warnings in system-out', async () => {
    expect(await validate('junit')).toEqual({
      exit: 1,
      stdout: [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<testsuites name="kidp validate" tests="3" failures="1" errors="0">',
        '  <testsuite name="apps/payments/data/stores.yaml" tests="2" failures="1" errors="0" skipped="0">',
        '    <testcase classname="apps/payments/data/stores.yaml" name="Database payments/legacy-db" file="apps/payments/data/stores.yaml" line="1">',
        `      <failure type="DENIED" message="${DENIAL}">${DENIAL}</failure>`,
        '    </testcase>',
        '    <testcase classname="apps/payments/data/stores.yaml" name="Cache payments/sessions" file="apps/payments/data/stores.yaml" line="6">',
        `      <system-out>warning: ${WARNING}</system-out>`,
        '    </testcase>',
        '  </testsuite>',
        '  <testsuite name="apps/payments/namespace.yaml" tests="1" failures="0" errors="0" skipped="0">',
        '    <testcase classname="apps/payments/namespace.yaml" name="Namespace payments" file="apps/payments/namespace.yaml" line="1"/>',
        '  </testsuite>',
        '</testsuites>',
      ].join('\n'),
      stderr: [],
    });
  });

  test('github: ::error and ::warning annotations on the file and line, then a summary', async () => {
    expect(await validate('github')).toEqual({
      exit: 1,
      stdout: [
        `::error file=apps/payments/data/stores.yaml,line=1,title=kidp validate%3A Database payments/legacy-db DENIED::${DENIAL}`,
        `::warning file=apps/payments/data/stores.yaml,line=6,title=kidp validate%3A Cache payments/sessions WARN::${WARNING}`,
        'Namespace payments: ADMITTED',
        '3 resources: 1 admitted, 1 with warnings, 1 denied',
      ].join('\n'),
      stderr: [],
    });
  });

  test('an unknown format is a usage error (exit 2), before any file is read', async () => {
    const got = await validate('sarif');
    expect({ exit: got.exit, first: got.stderr[0] }).toEqual({ exit: 2, first: 'kidp: --output: "sarif" is not one of text, json, junit, github, yaml, table' });
  });
});

describe('hostile text in messages and paths', () => {
  // A manifest's name and a policy's messageExpression are the author's text: they must not
  // forge a second annotation, break out of an XML attribute, or inject markup.
  const verdict = {
    resource: 'Service a/x</testcase><testcase name="forged"',
    verdict: 'DENIED' as const,
    messages: ['line one\n::error file=forged.yaml::injected, 100% & <b>"quoted"</b>'],
    file: '/elsewhere/we:ird,name.yaml',
    line: 3,
  };

  test('github: %, CR and LF escaped in the message, also : and , in properties', async () => {
    expect(formatVerdicts('github', [verdict], { cwd: '/repo' })).toEqual([
      '::error file=/elsewhere/we%3Aird%2Cname.yaml,line=3,title=kidp validate%3A Service a/x</testcase><testcase name="forged" DENIED::line one%0A::error file=forged.yaml::injected, 100%25 & <b>"quoted"</b>',
      '1 resources: 0 admitted, 0 with warnings, 1 denied',
    ]);
  });

  test('junit: entities in attributes and text; control characters replaced', async () => {
    const lines = formatVerdicts('junit', [{ ...verdict, messages: ['a\u0001b & <c>'] }], { cwd: '/repo' });
    expect(lines.slice(2, 5)).toEqual([
      '  <testsuite name="/elsewhere/we:ird,name.yaml" tests="1" failures="1" errors="0" skipped="0">',
      '    <testcase classname="/elsewhere/we:ird,name.yaml" name="Service a/x&lt;/testcase&gt;&lt;testcase name=&quot;forged&quot;" file="/elsewhere/we:ird,name.yaml" line="3">',
      '      <failure type="DENIED" message="a\uFFFDb &amp; &lt;c&gt;">a\uFFFDb &amp; &lt;c&gt;</failure>',
    ]);
  });
});

describe('the same verdicts as the cluster', () => {
  // The apiserver labels every Namespace kubernetes.io/metadata.name=<name>; a Policy scoped
  // with that label (the usual way to aim at one namespace) must match offline as it does online.
  test('a namespaceSelector on kubernetes.io/metadata.name matches the input Namespace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kidp-validate-nslabel-'));
    try {
      writeFileSync(
        join(dir, 'policy.yaml'),
        `apiVersion: platform.kidp.io/v1alpha1
kind: Policy
metadata: {name: scoped}
spec:
  mode: Enforce
  selector: {resourceTypes: [Cache], namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: payments}}}
  rules: [{name: eviction, expression: "has(spec.evictionPolicy)", message: set spec.evictionPolicy}]
`,
      );
      const cacheIn = (ns: string) =>
        `---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}, labels: {platform.kidp.io/team: payments}}\n---\napiVersion: platform.kidp.io/v1alpha1\nkind: Cache\nmetadata: {name: c, namespace: ${ns}}\nspec: {owner: {kind: Team, name: payments}, engine: redis, memoryMB: 64}\n`;
      writeFileSync(join(dir, 'in.yaml'), cacheIn('payments') + cacheIn('elsewhere'));
      const got = await kidp('validate', '-f', join(dir, 'in.yaml'), '--policies', join(dir, 'policy.yaml'));
      expect(got.stdout.split('\n')).toEqual(['Namespace payments: ADMITTED', 'Cache payments/c: DENIED: scoped/eviction: set spec.evictionPolicy', 'Namespace elsewhere: ADMITTED', 'Cache elsewhere/c: ADMITTED']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
