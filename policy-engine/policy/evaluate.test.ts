import { compilePolicy, type CompiledPolicy } from './compile.js';
import { evaluate, evaluatePolicy, type EvaluationInput } from './evaluate.js';
import { syntheticRequest } from './request.js';
import type { KubeObject, Policy, PolicyException } from './types.js';
import type { SchemaResolver } from '../schemas/index.js';
import { coreSchemas, objectMetaSchema } from '../schemas/core.js';

const databaseSchema = {
  type: 'object',
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: objectMetaSchema,
    spec: {
      type: 'object',
      properties: {
        environment: { type: 'string' },
        storageGB: { type: 'integer' },
        tags: { type: 'array', items: { type: 'string' } },
        backup: { type: 'object', properties: { enabled: { type: 'boolean' }, retentionDays: { type: 'integer' } } },
      },
    },
  },
};
const schemas: SchemaResolver = (t) => (t === 'Database' ? databaseSchema : coreSchemas[t]);
const now = new Date('2026-06-01T00:00:00Z');

function compile(spec: Partial<Policy['spec']>, name = 'db'): CompiledPolicy {
  return compilePolicy(
    {
      apiVersion: 'platform.kidp.io/v1alpha1',
      kind: 'Policy',
      metadata: { name },
      spec: { selector: { resourceTypes: ['Database'] }, rules: [{ name: 'r', expression: 'true' }], ...spec },
    },
    { schemas },
  );
}

function database(spec: Record<string, unknown>, labels: Record<string, string> = {}, namespace = 'payments'): KubeObject {
  return { apiVersion: 'platform.kidp.io/v1alpha1', kind: 'Database', metadata: { name: 'orders', namespace, labels }, spec };
}

function input(object: KubeObject, extra: Partial<EvaluationInput> & { operation?: 'CREATE' | 'UPDATE' | 'DELETE' } = {}): EvaluationInput {
  const { operation, ...rest } = extra;
  return { request: syntheticRequest(object, { operation: operation ?? 'CREATE' }), ...rest };
}

const backupRules: Policy['spec']['rules'] = [
  {
    name: 'require-backup',
    expression: 'spec.?backup.?enabled.orValue(false)',
    messageExpression: "'database ' + metadata.name + ' must enable backups'",
    severity: 'high',
  },
  { name: 'retention', expression: 'spec.?backup.?retentionDays.orValue(0) >= 7', message: 'keep backups 7 days' },
  { name: 'no-message', expression: 'spec.storageGB < 1000' },
];

describe('evaluatePolicy', () => {
  const cases: [string, Partial<Policy['spec']>, EvaluationInput, unknown][] = [
    [
      'all rules pass',
      { rules: backupRules },
      input(database({ storageGB: 10, backup: { enabled: true, retentionDays: 30 } })),
      {
        policy: 'db',
        mode: 'Audit',
        applied: true,
        rules: [
          { rule: 'require-backup', result: 'pass', severity: 'high' },
          { rule: 'retention', result: 'pass', severity: 'medium' },
          { rule: 'no-message', result: 'pass', severity: 'medium' },
        ],
      },
    ],
    [
      'messageExpression, message and the default message',
      { rules: backupRules, mode: 'Enforce' },
      input(database({ storageGB: 5000 })),
      {
        policy: 'db',
        mode: 'Enforce',
        applied: true,
        rules: [
          { rule: 'require-backup', result: 'fail', severity: 'high', message: 'database orders must enable backups' },
          { rule: 'retention', result: 'fail', severity: 'medium', message: 'keep backups 7 days' },
          { rule: 'no-message', result: 'fail', severity: 'medium', message: 'failed rule no-message' },
        ],
      },
    ],
    [
      'a messageExpression that errors falls back to message',
      { rules: [{ name: 'r', expression: 'false', message: 'fallback', messageExpression: "'tag ' + spec.tags[5]" }] },
      input(database({ tags: [] })),
      { policy: 'db', mode: 'Audit', applied: true, rules: [{ rule: 'r', result: 'fail', severity: 'medium', message: 'fallback' }] },
    ],
    [
      'a runtime error is a failure that says so',
      { rules: [{ name: 'first-tag', expression: "spec.tags[0] == 'x'" }] },
      input(database({ tags: [] })),
      {
        policy: 'db',
        mode: 'Audit',
        applied: true,
        rules: [{ rule: 'first-tag', result: 'error', severity: 'medium', message: 'rule first-tag errored: index out of bounds: 0' }],
      },
    ],
    [
      'a missing field is an error, not a pass',
      { rules: [{ name: 'enabled', expression: 'spec.backup.enabled' }] },
      input(database({})),
      {
        policy: 'db',
        mode: 'Audit',
        applied: true,
        rules: [{ rule: 'enabled', result: 'error', severity: 'medium', message: "rule enabled errored: no such key: backup" }],
      },
    ],
    [
      'another resource type does not match',
      {},
      { request: syntheticRequest({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'payments' } }) },
      { policy: 'db', mode: 'Audit', applied: false, reason: 'resource type Pod not selected' },
    ],
    [
      'DELETE is not among the default operations',
      {},
      input(database({}), { operation: 'DELETE' }),
      { policy: 'db', mode: 'Audit', applied: false, reason: 'operation DELETE not selected' },
    ],
    [
      'object labels must match',
      { selector: { resourceTypes: ['Database'], matchLabels: { environment: 'production' } } },
      input(database({}, { environment: 'staging' })),
      { policy: 'db', mode: 'Audit', applied: false, reason: 'object labels do not match the selector' },
    ],
    [
      'namespaceSelector against the namespace labels',
      { selector: { resourceTypes: ['Database'], namespaceSelector: { matchLabels: { tier: 'prod' } } } },
      input(database({}), { namespaceObject: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'payments', labels: { tier: 'dev' } } } }),
      { policy: 'db', mode: 'Audit', applied: false, reason: 'namespace labels do not match the namespaceSelector' },
    ],
    [
      'namespaceSelector that matches',
      { selector: { resourceTypes: ['Database'], namespaceSelector: { matchLabels: { tier: 'prod' } } } },
      input(database({}), { namespaceObject: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'payments', labels: { tier: 'prod' } } } }),
      { policy: 'db', mode: 'Audit', applied: true, rules: [{ rule: 'r', result: 'pass', severity: 'medium' }] },
    ],
    [
      'a false matchCondition skips the policy',
      { matchConditions: [{ name: 'prod', expression: "spec.?environment.orValue('') == 'production'" }] },
      input(database({ environment: 'staging' })),
      { policy: 'db', mode: 'Audit', applied: false, reason: 'matchCondition "prod" is false' },
    ],
    [
      'an erroring matchCondition fails closed',
      { matchConditions: [{ name: 'env', expression: "spec.environment == 'production'" }] },
      input(database({})),
      {
        policy: 'db',
        mode: 'Audit',
        applied: true,
        rules: [],
        matchConditionError: 'matchCondition "env" errored: no such key: environment',
      },
    ],
    [
      'false wins over an error among matchConditions (as in Kubernetes)',
      {
        matchConditions: [
          { name: 'env', expression: "spec.environment == 'production'" },
          { name: 'never', expression: 'false' },
        ],
      },
      input(database({})),
      { policy: 'db', mode: 'Audit', applied: false, reason: 'matchCondition "never" is false' },
    ],
    [
      'request and namespaceObject are visible to rules',
      {
        rules: [
          { name: 'user', expression: "request.userInfo.username == 'alice' && request.operation == 'CREATE'" },
          { name: 'ns', expression: "namespaceObject.metadata.labels['tier'] == 'prod'" },
        ],
      },
      {
        request: { ...syntheticRequest(database({})), userInfo: { username: 'alice' } },
        namespaceObject: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'payments', labels: { tier: 'prod' } } },
      },
      {
        policy: 'db',
        mode: 'Audit',
        applied: true,
        rules: [
          { rule: 'user', result: 'pass', severity: 'medium' },
          { rule: 'ns', result: 'pass', severity: 'medium' },
        ],
      },
    ],
    [
      'UPDATE sees oldObject',
      { rules: [{ name: 'no-shrink', expression: 'spec.storageGB >= oldObject.spec.storageGB', message: 'storage cannot shrink' }] },
      { request: syntheticRequest(database({ storageGB: 10 }), { operation: 'UPDATE', oldObject: database({ storageGB: 20 }) }) },
      { policy: 'db', mode: 'Audit', applied: true, rules: [{ rule: 'no-shrink', result: 'fail', severity: 'medium', message: 'storage cannot shrink' }] },
    ],
    [
      'an unused erroring variable does not touch other rules; its users error naming it',
      {
        variables: [{ name: 'first', expression: 'spec.tags[0]' }],
        rules: [
          { name: 'independent', expression: 'spec.storageGB > 0' },
          { name: 'uses-first', expression: "variables.first == 'x'" },
        ],
      },
      input(database({ storageGB: 1, tags: [] })),
      {
        policy: 'db',
        mode: 'Audit',
        applied: true,
        rules: [
          { rule: 'independent', result: 'pass', severity: 'medium' },
          { rule: 'uses-first', result: 'error', severity: 'medium', message: 'rule uses-first errored: variable first: index out of bounds: 0' },
        ],
      },
    ],
    [
      'a runaway rule stops at the cost limit and the next rule still runs',
      {
        rules: [
          {
            name: 'runaway',
            expression: 'spec.tags.all(a, spec.tags.all(b, spec.tags.all(c, a + b + c != "")))',
          },
          { name: 'after', expression: 'true' },
        ],
      },
      input(database({ tags: Array.from({ length: 1000 }, (_, i) => `t${i}`) })),
      'runaway',
    ],
  ];

  test.each(cases)('%s', (_name, spec, inp, want) => {
    const policy: CompiledPolicy = compile(spec);
    const started = Date.now();
    const got = evaluatePolicy(policy, inp, { now });
    if (want === 'runaway') {
      expect(Date.now() - started).toBeLessThan(1000);
      expect(got).toEqual({
        policy: 'db',
        mode: 'Audit',
        applied: true,
        rules: [
          { rule: 'runaway', result: 'error', severity: 'medium', message: expect.stringMatching(/^rule runaway errored: operation cancelled: actual cost limit exceeded/) },
          { rule: 'after', result: 'pass', severity: 'medium' },
        ],
      });
    } else {
      expect(got).toEqual(want);
    }
  });

  test('each variable is evaluated at most once per request, and only when used', () => {
    const policy = compile({
      variables: [
        { name: 'size', expression: 'spec.storageGB' },
        { name: 'unused', expression: 'spec.storageGB * 2' },
      ],
      rules: [
        { name: 'a', expression: 'variables.size > 1' },
        { name: 'b', expression: 'variables.size < 100' },
        { name: 'c', expression: 'variables.size != 50' },
      ],
    });
    const counts: Record<string, number> = {};
    const counted: CompiledPolicy = {
      ...policy,
      variables: policy.variables.map((v) => ({
        name: v.name,
        program: {
          ...v.program,
          outputType: v.program.outputType,
          estimatedCost: v.program.estimatedCost,
          source: v.program.source,
          evaluate: (activation, options) => {
            counts[v.name] = (counts[v.name] ?? 0) + 1;
            return v.program.evaluate(activation, options);
          },
        },
      })),
    };
    const req = input(database({ storageGB: 10 }));
    const first = evaluatePolicy(counted, req, { now });
    const second = evaluatePolicy(counted, req, { now });
    expect({ first, second, counts }).toEqual({
      first: { policy: 'db', mode: 'Audit', applied: true, rules: ['a', 'b', 'c'].map((rule) => ({ rule, result: 'pass', severity: 'medium' })) },
      second: first,
      // once per policy evaluation (two here), never per rule; `unused` never.
      counts: { size: 2 },
    });
  });
});

describe('evaluate (aggregate) with exceptions', () => {
  const exception = (expiresAt: string): PolicyException => ({
    apiVersion: 'platform.kidp.io/v1alpha1',
    kind: 'PolicyException',
    metadata: { name: 'legacy', namespace: 'payments' },
    spec: { policyName: 'enforced', ruleNames: ['require-backup'], match: { names: ['orders'] }, expiresAt, reason: 'migration' },
  });
  const policies = [
    compile({ mode: 'Enforce', rules: backupRules.slice(0, 2) }, 'enforced'),
    compile({ mode: 'Warn', rules: [{ name: 'size', expression: 'spec.storageGB >= 10', message: 'at least 10 GB' }] }, 'warned'),
    compile({ mode: 'Audit', rules: [{ name: 'tags', expression: 'has(spec.tags)', message: 'tag it' }] }, 'audited'),
  ];
  const req = input(database({ storageGB: 5, backup: { enabled: false, retentionDays: 7 } }));

  test.each([
    [
      'no exception: denied, warned and audited',
      [],
      {
        allowed: false,
        message: 'enforced/require-backup: database orders must enable backups',
        warnings: ['warned/size: at least 10 GB'],
        auditAnnotations: { 'audited.tags': '{"policy":"audited","rule":"tags","severity":"medium","message":"tag it"}' },
      },
      'fail',
    ],
    [
      'an exception in force exempts the rule',
      [exception('2026-06-02T00:00:00Z')],
      {
        allowed: true,
        warnings: ['warned/size: at least 10 GB'],
        auditAnnotations: { 'audited.tags': '{"policy":"audited","rule":"tags","severity":"medium","message":"tag it"}' },
      },
      'exempt',
    ],
    [
      'an expired exception exempts nothing',
      [exception('2026-05-31T00:00:00Z')],
      {
        allowed: false,
        message: 'enforced/require-backup: database orders must enable backups',
        warnings: ['warned/size: at least 10 GB'],
        auditAnnotations: { 'audited.tags': '{"policy":"audited","rule":"tags","severity":"medium","message":"tag it"}' },
      },
      'fail',
    ],
  ])('%s', (_name, exceptions, want, requireBackup) => {
    const decision = evaluate(policies, req, { now, exceptions });
    const { evaluations, ...rest } = decision;
    expect(rest).toEqual(want);
    const enforced = evaluations[0]!;
    expect(enforced.applied && enforced.rules[0]).toEqual(
      requireBackup === 'exempt'
        ? {
            rule: 'require-backup',
            result: 'exempt',
            severity: 'high',
            exception: 'payments/legacy',
            message: 'exempted by PolicyException payments/legacy until 2026-06-02T00:00:00Z',
          }
        : { rule: 'require-backup', result: 'fail', severity: 'high', message: 'database orders must enable backups' },
    );
  });
});

describe('runtime cost budgets as the apiserver gives them', () => {
  // ~900,000 units each: under the per-call limit, three of them over 2.5M, four under 10M.
  const heavy = 'lists.range(300).all(x, lists.range(1000).all(y, true))';
  const four = [1, 2, 3, 4].map((i) => ({ name: `c${i}`, expression: heavy }));

  test('matchConditions share their own 2,500,000 budget and fail closed past it', () => {
    const got = evaluatePolicy(compile({ matchConditions: four }), input(database({})), { now });
    expect(got).toEqual({
      policy: 'db',
      mode: 'Audit',
      applied: true,
      rules: [],
      matchConditionError:
        'matchCondition "c3" errored: operation cancelled: policy cost budget exceeded (limit 2500000); ' +
        'matchCondition "c4" errored: operation cancelled: policy cost budget exceeded (limit 2500000)',
    });
  });

  test('the same four as rules fit in the 10,000,000 per-evaluation budget', () => {
    const got = evaluatePolicy(compile({ rules: four }), input(database({})), { now });
    expect(got).toMatchObject({ applied: true, rules: four.map((r) => ({ rule: r.name, result: 'pass' })) });
  });
});
