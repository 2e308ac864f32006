import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './run.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kidp-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** Runs the CLI in-process and returns everything it did. */
async function kidp(...argv: string[]): Promise<{ exit: number; stdout: string[]; stderr: string[] }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exit = await run(argv, { stdout: (l) => stdout.push(l), stderr: (l) => stderr.push(l), now: () => new Date('2026-06-01T00:00:00Z') });
  return { exit, stdout, stderr };
}

describe('kidp cel eval', () => {
  const vars = () => file('vars.yaml', 'replicas: 3\nratio: 0.5\nname: checkout\ntags: [a, b]\nbig: 9007199254740993\n');
  test.each([
    ['1 + 2', [], { exit: 0, stdout: ['{"type": "int", "value": 3}'], stderr: [] }],
    ['replicas * 2', ['--vars'], { exit: 0, stdout: ['{"type": "int", "value": 6}'], stderr: [] }],
    ['ratio * 2.0', ['--vars'], { exit: 0, stdout: ['{"type": "double", "value": 1}'], stderr: [] }],
    ['big', ['--vars'], { exit: 0, stdout: ['{"type": "int", "value": "9007199254740993"}'], stderr: [] }],
    ["tags.map(t, t + '!')", ['--vars'], { exit: 0, stdout: ['{"type": "list", "value": ["a!","b!"]}'], stderr: [] }],
    ["{'a': 1}.?b", [], { exit: 0, stdout: ['{"type": "optional_type", "value": null}'], stderr: [] }],
    ["duration('90s')", [], { exit: 0, stdout: ['{"type": "google.protobuf.Duration", "value": "90s"}'], stderr: [] }],
    ['1 / 0', [], { exit: 1, stdout: [], stderr: ['division by zero'] }],
    ['name + 1', ['--vars'], { exit: 1, stdout: [], stderr: ['no such overload: _+_(string, int)'] }],
    [
      'nope + 1',
      [],
      { exit: 2, stdout: [], stderr: ["ERROR: <input>:1:1: undeclared reference to 'nope' (in container '')\n | nope + 1\n | ^"] },
    ],
    ['1 +', [], { exit: 2, stdout: [], stderr: ["ERROR: <input>:1:4: mismatched input '<EOF>'\n | 1 +\n |    ^"] }],
  ])('%s %j', async (expr, flags, want) => {
    const argv = ['cel', 'eval', expr, ...(flags.length > 0 ? ['--vars', vars()] : [])];
    expect(await kidp(...argv)).toEqual(want);
  });

  test('a runaway expression stops at the cost limit with exit 1', async () => {
    const list = `[${Array.from({ length: 100 }, (_, i) => i).join(',')}]`;
    const got = await kidp('cel', 'eval', `${list}.all(a, ${list}.all(b, ${list}.all(c, a + b + c >= 0)))`);
    expect(got).toEqual({ exit: 1, stdout: [], stderr: ['operation cancelled: actual cost limit exceeded (per-call limit 1000000)'] });
  });

  test.each([
    ['invalid YAML', 'a: [1\nb: 2\n', /^kidp: .*vars-bad\.yaml:2:1: invalid YAML: .* \[KIDP_INPUT_YAML\]$/],
    ['a list, not a mapping', '- 1\n', /vars-bad\.yaml:1: --vars must be a mapping of variable names to values, not a list \[KIDP_INPUT_INVALID\]$/],
    ['an integer outside int64', '{"n": 99999999999999999999}', /n: integer 99999999999999999999 is outside CEL's int range/],
    ['a reserved word as a name', '{"in": 1}', /"in" is not a valid CEL variable name/],
    ['deep nesting', `{"x": ${'['.repeat(80)}${']'.repeat(80)}}`, /nesting deeper than 64 levels at x\[0\]/],
  ])('--vars with %s: exit 2 and where', async (_name, text, message) => {
    const got = await kidp('cel', 'eval', '1', '--vars', file('vars-bad.yaml', text));
    expect(got.exit).toBe(2);
    expect(got.stdout).toEqual([]);
    expect(got.stderr).toHaveLength(1);
    expect(got.stderr[0]).toMatch(message);
  });

  test('a 10 KB expression is refused with its size', async () => {
    expect(await kidp('cel', 'eval', `${'1 + '.repeat(2560)}1`)).toEqual({
      exit: 2,
      stdout: [],
      stderr: ["expression is 10241 bytes, over the limit of 5120 (the apiserver's)"],
    });
  });
});

describe('kidp validate', () => {
  const manifests = () =>
    file(
      'resources.yaml',
      `apiVersion: v1
kind: Namespace
metadata: {name: payments, labels: {cost-center: cc-1, platform.kidp.io/team: payments}}
---
apiVersion: platform.kidp.io/v1alpha1
kind: Database
metadata: {name: orders-db, namespace: payments}
spec: {owner: {kind: Team, name: payments}, environment: production, engine: postgresql, version: "16", backup: {enabled: true, schedule: "0 3 * * *", retentionDays: 14}}
---
apiVersion: platform.kidp.io/v1alpha1
kind: Database
metadata: {name: legacy-db, namespace: payments}
spec: {owner: {kind: Team, name: payments}, environment: production, engine: postgresql, version: "16"}
---
apiVersion: platform.kidp.io/v1alpha1
kind: Cache
metadata: {name: sessions, namespace: payments}
spec: {owner: {kind: Team, name: payments}, engine: redis, memoryMB: 64}
---
apiVersion: platform.kidp.io/v1alpha1
kind: Topic
metadata: {name: events, namespace: payments}
spec: {owner: {kind: Team, name: other-team}, partitions: "many"}
---
apiVersion: platform.kidp.io/v1alpha1
kind: Cache
metadata: {name: stray, namespace: payments}
spec: {owner: {kind: Team, name: marketing}, engine: redis, memoryMB: 64, evictionPolicy: allkeys-lru}
`,
    );

  test('one line per resource; exit 1 when any is denied', async () => {
    expect(await kidp('validate', '-f', manifests(), '--policies', join(root, 'policies'))).toEqual({
      exit: 1,
      stdout: [
        'Namespace payments: ADMITTED',
        'Database payments/orders-db: ADMITTED',
        'Database payments/legacy-db: DENIED: production-databases-require-backup/require-backup: database legacy-db is production: set spec.backup.enabled to true',
        'Cache payments/sessions: WARN: cache-eviction-policy/eviction-policy-set: cache sessions must set spec.evictionPolicy (e.g. allkeys-lru)',
        'Topic payments/events: DENIED: schema: spec.partitions: Invalid value: must be integer',
        'Cache payments/stray: DENIED: Cache stray: namespace payments belongs to team payments, but this Cache belongs to team marketing through spec.owner Team/marketing; create it in a namespace of team marketing or change spec.owner',
      ],
      stderr: [],
    });
  });

  test('a policy directory with a broken policy is an input error naming the file', async () => {
    const bad = mkdtempSync(join(dir, 'policies-'));
    writeFileSync(
      join(bad, 'p.yaml'),
      'apiVersion: platform.kidp.io/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n  selector: {resourceTypes: [Topic]}\n  rules:\n    - {name: r, expression: "spec.partitions == \'x\'"}\n',
    );
    const got = await kidp('validate', '-f', manifests(), '--policies', bad);
    expect(got.exit).toBe(2);
    expect(got.stderr).toEqual([
      `kidp: ${join(bad, 'p.yaml')}:1: policy "p" does not compile:\n  rule "r" (line 1, column 17): found no matching overload for '_==_' applied to '(int, string)' [KIDP_POLICY_COMPILE]`,
    ]);
  });
});

describe('kidp validate --params', () => {
  const policyDir = () => {
    const d = mkdtempSync(join(dir, 'param-policies-'));
    writeFileSync(
      join(d, 'p.yaml'),
      `apiVersion: platform.kidp.io/v1alpha1
kind: Policy
metadata: {name: topic-limits}
spec:
  mode: Enforce
  selector: {resourceTypes: [Topic]}
  paramKind: {apiVersion: v1, kind: ConfigMap}
  paramRef: {name: limits, parameterNotFoundAction: Deny}
  rules:
    - {name: max, expression: "object.spec.partitions <= int(params.data.max)", messageExpression: "'at most ' + params.data.max"}
`,
    );
    return d;
  };
  const topics = () =>
    file(
      'topics.yaml',
      `apiVersion: platform.kidp.io/v1alpha1
kind: Topic
metadata: {name: events, namespace: payments}
spec: {owner: {kind: Team, name: payments}, partitions: 12}
`,
    );
  const limits = (max: number) => file(`limits-${max}.yaml`, `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: limits, namespace: payments}\ndata: {max: "${max}"}\n`);

  test('binds the param object from the files, and its values decide', async () => {
    expect(await kidp('validate', '-f', topics(), '--policies', policyDir(), '--params', limits(24))).toEqual({ exit: 0, stdout: ['Topic payments/events: ADMITTED'], stderr: [] });
    expect(await kidp('validate', '-f', topics(), '--policies', policyDir(), '--params', limits(6))).toEqual({
      exit: 1,
      stdout: ['Topic payments/events: DENIED: topic-limits/max: at most 6'],
      stderr: [],
    });
  });

  test('without the param object, parameterNotFoundAction Deny denies and says what is missing', async () => {
    expect(await kidp('validate', '-f', topics(), '--policies', policyDir())).toEqual({
      exit: 1,
      stdout: ['Topic payments/events: DENIED: topic-limits/(params): params: no ConfigMap (v1) object was given (--params)'],
      stderr: [],
    });
    // An object of the kind in another namespace is not this request's parameter.
    const elsewhere = file('elsewhere.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: limits, namespace: other}\ndata: {max: "99"}\n');
    expect((await kidp('validate', '-f', topics(), '--policies', policyDir(), '--params', elsewhere)).stdout).toEqual([
      'Topic payments/events: DENIED: topic-limits/(params): params: no ConfigMap (v1) named limits in namespace payments (parameterNotFoundAction: Deny): create it or fix spec.paramRef',
    ]);
  });
});

describe('kidp validate --authz', () => {
  test('answers authorizer checks from the file; without it, no authorizer offline', async () => {
    const d = mkdtempSync(join(dir, 'authz-policies-'));
    writeFileSync(
      join(d, 'p.yaml'),
      `apiVersion: platform.kidp.io/v1alpha1
kind: Policy
metadata: {name: readers}
spec:
  mode: Enforce
  selector: {resourceTypes: [Topic]}
  rules:
    - {name: may-read, expression: "authorizer.group('').resource('secrets').namespace(object.metadata.namespace).check('get').allowed()"}
`,
    );
    const topicFile = file('authz-topic.yaml', 'apiVersion: platform.kidp.io/v1alpha1\nkind: Topic\nmetadata: {name: events, namespace: payments}\nspec: {owner: {kind: Team, name: payments}, partitions: 3}\n');
    const allow = file('authz-allow.yaml', '- {match: {username: kidp:offline, resource: secrets, namespace: payments}, decision: allow, reason: granted}\n');
    expect(await kidp('validate', '-f', topicFile, '--policies', d, '--authz', allow)).toEqual({ exit: 0, stdout: ['Topic payments/events: ADMITTED'], stderr: [] });
    expect(await kidp('validate', '-f', topicFile, '--policies', d)).toEqual({ exit: 1, stdout: ['Topic payments/events: DENIED: readers/may-read: failed rule may-read'], stderr: [] });
    const bad = file('authz-bad.yaml', 'allow: everything\n');
    expect((await kidp('validate', '-f', topicFile, '--policies', d, '--authz', bad)).exit).toBe(2);
  });
});

describe('kidp test', () => {
  test('runs the built-in library and closes with the counts', async () => {
    const got = await kidp('test', join(root, 'policies'));
    expect({ exit: got.exit, last: got.stdout.at(-1), failed: got.stdout.filter((l) => l.includes('FAIL')) }).toEqual({
      exit: 0,
      last: expect.stringMatching(/^\d+ passed, 0 failed$/),
      failed: [],
    });
  });

  test('usage errors exit 2', async () => {
    expect((await kidp('test')).exit).toBe(2);
    expect((await kidp('bogus')).stderr[0]).toBe('kidp: unknown command "bogus"');
  });
});

// One smoke test of the built bin, when `npm run build` has produced it.
const bin = join(root, 'dist', 'cli', 'main.js');
(existsSync(bin) ? test : test.skip)('the built bin evaluates an expression', async () => {
  const r = spawnSync(process.execPath, [bin, 'cel', 'eval', "'a' + 'b'"], { encoding: 'utf8' });
  expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 0, stdout: '{"type": "string", "value": "ab"}\n', stderr: '' });
});
