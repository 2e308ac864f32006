import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify } from 'yaml';
import { findSuites, runSuites } from '../suite/runner.js';
import { compilePolicy } from './compile.js';
import { evaluatePolicy } from './evaluate.js';
import { exceptionApplies } from './exception.js';
import { nativeObjects, nativeRefusals, toVapExpression, type NativeOptions, type ResourceOf } from './native.js';
import type { AdmissionRequest, KubeObject, Policy, PolicyException } from './types.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const now = new Date('2026-06-01T00:00:00Z');

const RESOURCES: Record<string, { group: string; resource: string; kind: string }> = {
  ConfigMap: { group: '', resource: 'configmaps', kind: 'ConfigMap' },
  Namespace: { group: '', resource: 'namespaces', kind: 'Namespace' },
  'Deployment.apps': { group: 'apps', resource: 'deployments', kind: 'Deployment' },
  Service: { group: 'platform.kidp.io', resource: 'services', kind: 'Service' },
  Database: { group: 'platform.kidp.io', resource: 'databases', kind: 'Database' },
  Cache: { group: 'platform.kidp.io', resource: 'caches', kind: 'Cache' },
  Topic: { group: 'platform.kidp.io', resource: 'topics', kind: 'Topic' },
  Team: { group: 'platform.kidp.io', resource: 'teams', kind: 'Team' },
};
const resourceOf: ResourceOf = (t) => RESOURCES[t];
const options: NativeOptions = { resourceOf, platformGroup: 'platform.kidp.io', platformNamespace: 'kidp-system', now };

function policy(spec: Partial<Policy['spec']> & Pick<Policy['spec'], 'rules'>, name = 'cm-rules'): Policy {
  return { apiVersion: 'platform.kidp.io/v1alpha1', kind: 'Policy', metadata: { name, generation: 3 }, spec: { mode: 'Enforce', selector: { resourceTypes: ['ConfigMap'] }, ...spec } };
}

describe('toVapExpression', () => {
  test.each([
    ['spec.replicas > 1', 'object.spec.replicas > 1'],
    ['has(spec.x) && metadata.name != ""', 'has(object.spec.x) && object.metadata.name != ""'],
    ["'spec' + status.phase", "'spec' + object.status.phase"],
    // A comprehension variable named like a shorthand is the variable, not the shorthand.
    ['[1, 2].all(spec, spec > 0) && spec.a', '[1, 2].all(spec, spec > 0) && object.spec.a'],
    ['object.spec.x == variables.spec', 'object.spec.x == variables.spec'],
    ['{"spec": spec}.spec', '{"spec": object.spec}.spec'],
  ])('%s', (source, expected) => {
    expect(toVapExpression(source)).toBe(expected);
  });
});

describe('nativeRefusals', () => {
  test('a Policy within the VAP environment (shorthands included) can be native', () => {
    expect(nativeRefusals(policy({ rules: [{ name: 'r', expression: "has(metadata.labels) && 'app' in metadata.labels" }] }), options)).toEqual([]);
  });

  test('a resource type with no known API resource is refused with its name', () => {
    const p = policy({ selector: { resourceTypes: ['Widget.example.com'] }, rules: [{ name: 'r', expression: 'true' }] });
    expect(nativeRefusals(p, options)).toEqual([expect.stringContaining('resource type Widget.example.com has no API resource')]);
  });

  test('a matchCondition reading variables is refused: VAP matchConditions cannot', () => {
    const p = policy({ variables: [{ name: 'n', expression: 'object.metadata.name' }], matchConditions: [{ name: 'named', expression: "variables.n != ''" }], rules: [{ name: 'r', expression: 'true' }] });
    expect(nativeRefusals(p, options)).toEqual([expect.stringContaining('matchCondition "named" reads variables')]);
  });

  test('every built-in policy can be native', () => {
    for (const dir of findSuites(join(root, 'policies'))) {
      const p = parseYaml(readFileSync(join(dir, 'policy.yaml'), 'utf8')) as Policy;
      expect([p.metadata.name, nativeRefusals(p, options)]).toEqual([p.metadata.name, []]);
    }
  });
});

describe('nativeObjects', () => {
  test('modes map to validation actions, rules keep KIDP message lines, reason Forbidden', () => {
    for (const [mode, action] of [['Enforce', 'Deny'], ['Warn', 'Warn'], ['Audit', 'Audit']] as const) {
      const out = nativeObjects(policy({ mode, rules: [{ name: 'has-app', expression: 'has(metadata.labels)', message: 'set labels' }] }), [], options);
      expect(out.binding).toMatchObject({ kind: 'ValidatingAdmissionPolicyBinding', metadata: { name: 'kidp-cm-rules' }, spec: { policyName: 'kidp-cm-rules', validationActions: [action] } });
      expect(out.policy).toMatchObject({
        kind: 'ValidatingAdmissionPolicy',
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: { resourceRules: [{ apiGroups: [''], resources: ['configmaps'], operations: ['CREATE', 'UPDATE'] }] },
          validations: [{ expression: 'has(object.metadata.labels)', message: 'cm-rules/has-app: set labels', reason: 'Forbidden' }],
        },
      });
    }
  });

  test('core kinds carry the webhook exclusions; KIDP kinds do not', () => {
    const core = nativeObjects(policy({ rules: [{ name: 'r', expression: 'true' }] }), [], options);
    expect(JSON.stringify(core.policy)).toContain('kidp-core-kind-scope');
    const own = nativeObjects(policy({ selector: { resourceTypes: ['Service'] }, rules: [{ name: 'r', expression: 'true' }] }), [], options);
    expect(JSON.stringify(own.policy)).not.toContain('kidp-core-kind-scope');
  });

  test('a refused Policy throws with every reason', () => {
    expect(() => nativeObjects(policy({ rules: [{ name: 'r', expression: 'nosuch.x' }] }), [], options)).toThrow(/cannot be enforced natively: .*nosuch/);
  });

  test('expired exceptions are left out; the earliest active expiry is when to regenerate', () => {
    const ex = (name: string, expiresAt: string): PolicyException => ({
      apiVersion: 'platform.kidp.io/v1alpha1',
      kind: 'PolicyException',
      metadata: { name, namespace: 'payments' },
      spec: { policyName: 'cm-rules', expiresAt, reason: 'r', match: { names: ['legacy-*'] } },
    });
    const out = nativeObjects(policy({ rules: [{ name: 'r', expression: 'false' }] }), [ex('old', '2026-05-01T00:00:00Z'), ex('b', '2026-07-01T00:00:00Z'), ex('a', '2026-06-15T00:00:00Z')], options);
    expect(out.exceptions).toEqual(['payments/a', 'payments/b']);
    expect(out.nextChangeAt?.toISOString()).toBe('2026-06-15T00:00:00.000Z');
  });
});

/** The generated VAP read back as a KIDP Policy (VAP variables only), to evaluate with the same engine. */
function roundTrip(original: Policy, vap: Record<string, unknown>): Policy {
  const spec = vap.spec as { matchConditions?: { name: string; expression: string }[]; variables?: { name: string; expression: string }[]; validations: { expression: string }[] };
  return {
    ...original,
    spec: {
      ...original.spec,
      ...(spec.matchConditions ? { matchConditions: spec.matchConditions } : {}),
      ...(spec.variables ? { variables: spec.variables } : {}),
      rules: original.spec.rules.map((r, i) => ({
        ...r,
        expression: spec.validations[i]!.expression,
        ...(r.messageExpression ? { messageExpression: toVapExpression(r.messageExpression) } : {}),
      })),
    },
  };
}

test('the built-in suites give the same results on the generated expressions (same engine, VAP variables only)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kidp-native-'));
  for (const suite of findSuites(join(root, 'policies'))) {
    const name = suite.split('/').pop() as string;
    cpSync(suite, join(dir, name), { recursive: true });
    const p = parseYaml(readFileSync(join(suite, 'policy.yaml'), 'utf8')) as Policy;
    const back = roundTrip(p, nativeObjects(p, [], options).policy);
    // It compiles where only VAP's variables exist, and passes the suite's own expectations.
    compilePolicy(back, { vapVariablesOnly: true });
    writeFileSync(join(dir, name, 'policy.yaml'), stringify(back));
  }
  const run = runSuites(dir, { now: () => now });
  expect(run.results.filter((r) => !r.passed)).toEqual([]);
  expect(run.passed).toBeGreaterThan(20);
});

describe('exceptions in the generated expressions exempt exactly what exceptionApplies exempts', () => {
  const base = policy({ rules: [{ name: 'needs-app', expression: "has(metadata.labels) && 'app' in metadata.labels", message: 'set app' }, { name: 'other', expression: 'true' }] });
  const exceptions: PolicyException[] = [
    { apiVersion: 'platform.kidp.io/v1alpha1', kind: 'PolicyException', metadata: { name: 'legacy', namespace: 'payments' }, spec: { policyName: 'cm-rules', ruleNames: ['needs-app'], expiresAt: '2026-07-01T00:00:00Z', reason: 'r', match: { resourceTypes: ['ConfigMap'], names: ['legacy-*'] } } },
    { apiVersion: 'platform.kidp.io/v1alpha1', kind: 'PolicyException', metadata: { name: 'all', namespace: 'search' }, spec: { policyName: 'cm-rules', expiresAt: '2026-07-01T00:00:00Z', reason: 'r', match: { matchLabels: { tier: 'legacy' } } } },
  ];
  const generated = nativeObjects(base, exceptions, options);
  const back = compilePolicy(roundTrip(base, generated.policy), { vapVariablesOnly: true });
  const original = compilePolicy(base);

  const request = (namespace: string, name: string, labels: Record<string, string>): AdmissionRequest => {
    const object: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels } };
    return {
      uid: 'u',
      kind: { group: '', version: 'v1', kind: 'ConfigMap' },
      resource: { group: '', version: 'v1', resource: 'configmaps' },
      requestKind: { group: '', version: 'v1', kind: 'ConfigMap' },
      requestResource: { group: '', version: 'v1', resource: 'configmaps' },
      name,
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'alice' },
      object,
      oldObject: null,
      dryRun: false,
    } as AdmissionRequest;
  };

  test.each([
    ['payments', 'legacy-orders', {}],
    ['payments', 'orders', {}],
    ['search', 'legacy-orders', {}],
    ['search', 'x', { tier: 'legacy' }],
    ['payments', 'x', { tier: 'legacy' }],
    ['search', 'x', { tier: 'legacy', app: 'a' }],
  ])('%s/%s %j', (namespace, name, labels) => {
    const req = request(namespace, name, labels);
    const kidp = evaluatePolicy(original, { request: req, namespaceObject: null }, { now, exceptions });
    const native = evaluatePolicy(back, { request: req, namespaceObject: null }, { now, exceptions: [] });
    const failed = (ev: typeof kidp) => (ev.applied ? ev.rules : []).filter((r) => r.result === 'fail').map((r) => r.rule);
    // The webhook reports an exempted rule as `exempt`; the apiserver sees it pass or skips the policy.
    expect(failed(native)).toEqual(failed(kidp));
    const exempt = exceptions.some((ex) => exceptionApplies(ex, { policy: 'cm-rules', rule: 'needs-app', resourceType: 'ConfigMap', name, namespace, labels }, { now }));
    expect(failed(native).includes('needs-app')).toBe(!exempt && !('app' in labels));
  });
});
