import { decide, type PolicyEvaluation } from './decision.js';
import { auditAnnotationKey } from './decision.js';

const enforceFailing: PolicyEvaluation = {
  policy: 'db-backup',
  mode: 'Enforce',
  applied: true,
  rules: [
    { rule: 'require-backup', result: 'fail', severity: 'high', message: 'enable backups' },
    { rule: 'retention', result: 'error', severity: 'medium', message: 'rule retention errored: no such key: backup' },
    { rule: 'engine', result: 'pass', severity: 'low' },
  ],
};
const warnFailing: PolicyEvaluation = {
  policy: 'replicas',
  mode: 'Warn',
  applied: true,
  rules: [{ rule: 'min-2', result: 'fail', severity: 'medium', message: 'run at least 2 replicas' }],
};
const auditFailing: PolicyEvaluation = {
  policy: 'cost-center',
  mode: 'Audit',
  applied: true,
  rules: [{ rule: 'label', result: 'fail', severity: 'low', message: 'set cost-center' }],
};
const exempted: PolicyEvaluation = {
  policy: 'db-backup',
  mode: 'Enforce',
  applied: true,
  rules: [{ rule: 'require-backup', result: 'exempt', severity: 'high', exception: 'payments/legacy', message: 'exempted' }],
};
const notApplied: PolicyEvaluation = { policy: 'x', mode: 'Enforce', applied: false, reason: 'resource type Pod not selected' };
const conditionError: PolicyEvaluation = {
  policy: 'guarded',
  mode: 'Enforce',
  applied: true,
  rules: [],
  matchConditionError: 'matchCondition "not-system" errored: no such key: userInfo',
};

describe('decide', () => {
  test.each([
    ['nothing applies', [notApplied], { allowed: true, warnings: [], auditAnnotations: {} }],
    [
      'Enforce lists every failing and erroring rule',
      [enforceFailing],
      {
        allowed: false,
        message: 'db-backup/require-backup: enable backups; db-backup/retention: rule retention errored: no such key: backup',
        warnings: [],
        auditAnnotations: {},
      },
    ],
    ['Warn admits with warnings', [warnFailing], { allowed: true, warnings: ['replicas/min-2: run at least 2 replicas'], auditAnnotations: {} }],
    [
      'Audit admits with annotations',
      [auditFailing],
      { allowed: true, warnings: [], auditAnnotations: { 'cost-center.label': '{"policy":"cost-center","rule":"label","severity":"low","message":"set cost-center"}' } },
    ],
    ['an exempted rule says nothing', [exempted], { allowed: true, warnings: [], auditAnnotations: {} }],
    [
      'a matchCondition error fails closed',
      [conditionError],
      { allowed: false, message: 'guarded/(matchConditions): matchCondition "not-system" errored: no such key: userInfo', warnings: [], auditAnnotations: {} },
    ],
    [
      'modes combine',
      [warnFailing, auditFailing, enforceFailing],
      {
        allowed: false,
        message: 'db-backup/require-backup: enable backups; db-backup/retention: rule retention errored: no such key: backup',
        warnings: ['replicas/min-2: run at least 2 replicas'],
        auditAnnotations: { 'cost-center.label': '{"policy":"cost-center","rule":"label","severity":"low","message":"set cost-center"}' },
      },
    ],
  ])('%s', (_name, evaluations, want) => {
    expect(decide(evaluations)).toEqual({ ...want, evaluations });
  });
});

describe('auditAnnotationKey', () => {
  it.each([
    ['cost-center', 'label', 'cost-center.label'],
    ['p', 'rule with spaces', 'p.rule-with-spaces'],
    ['a-very-long-policy-name-that-goes-on-and-on-and-on', 'and-a-long-rule-name-too', 'a-very-long-policy-name-that-goes-on-and-on-and-on.and-13f9n1h'],
  ])('%s / %s -> %s (a valid qualified-name part)', (policy, rule, key) => {
    expect(auditAnnotationKey(policy, rule)).toBe(key);
    expect(key).toMatch(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/);
  });
});
