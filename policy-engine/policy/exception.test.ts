import { exceptionApplies, isActive, type ExemptionTarget } from './exception.js';
import type { PolicyException } from './types.js';

const now = new Date('2026-06-01T00:00:00Z');

function exception(overrides: Partial<PolicyException['spec']> = {}, namespace = 'payments'): PolicyException {
  return {
    apiVersion: 'platform.kidp.io/v1alpha1',
    kind: 'PolicyException',
    metadata: { name: 'legacy-db', namespace },
    spec: {
      policyName: 'production-databases-require-backup',
      ruleNames: ['require-backup'],
      match: { resourceTypes: ['Database'], names: ['legacy-*'] },
      expiresAt: '2026-07-01T00:00:00Z',
      reason: 'migration in progress',
      approvedBy: 'platform-team',
      ...overrides,
    },
  };
}

const target: ExemptionTarget = {
  policy: 'production-databases-require-backup',
  rule: 'require-backup',
  resourceType: 'Database',
  name: 'legacy-orders',
  namespace: 'payments',
  labels: { environment: 'production' },
};

describe('exceptionApplies', () => {
  const cases: [string, PolicyException, Partial<ExemptionTarget>, boolean][] = [
    ['matching, in force', exception(), {}, true],
    ['expired exempts nothing', exception({ expiresAt: '2026-05-31T23:59:59Z' }), {}, false],
    ['expiring exactly now exempts nothing', exception({ expiresAt: '2026-06-01T00:00:00Z' }), {}, false],
    ['unparseable expiresAt exempts nothing', exception({ expiresAt: 'next tuesday' }), {}, false],
    ['other policy', exception({ policyName: 'other' }), {}, false],
    ['rule not listed', exception(), { rule: 'retention-at-least-7-days' }, false],
    ['empty ruleNames = every rule', exception({ ruleNames: [] }), { rule: 'retention-at-least-7-days' }, true],
    ['name outside the prefix', exception(), { name: 'orders' }, false],
    ['other resource type', exception(), { resourceType: 'Cache' }, false],
    ['other namespace', exception(), { namespace: 'shipping' }, false],
    ['labels must match', exception({ match: { matchLabels: { environment: 'staging' } } }), {}, false],
    ['labels match', exception({ match: { matchLabels: { environment: 'production' } } }), {}, true],
    ['cluster-scoped resource, exception in a team namespace', exception({ match: {} }), { namespace: '' }, false],
    ['cluster-scoped resource, exception in kidp-system', exception({ match: {} }, 'kidp-system'), { namespace: '' }, true],
  ];
  test.each(cases)('%s', (_name, ex, override, want) => {
    expect(exceptionApplies(ex, { ...target, ...override }, { now })).toBe(want);
  });

  test('the clock is injected, not read', () => {
    const ex = exception();
    expect([isActive(ex, new Date('2026-06-30T23:59:59Z')), isActive(ex, new Date('2026-07-01T00:00:01Z'))]).toEqual([true, false]);
  });
});
