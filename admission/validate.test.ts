import { validate } from './validate.js';
import { PolicyStore } from './policy-store.js';
import { request, resource, world } from './testdata.js';
import type { Policy } from '../crds/types.js';

function store(): PolicyStore {
  const s = new PolicyStore();
  s.upsertPolicy({
    apiVersion: 'platform.kidp.io/v1alpha1',
    kind: 'Policy',
    metadata: { name: 'topics' },
    spec: { mode: 'Enforce', selector: { resourceTypes: ['Topic'] }, rules: [{ name: 'partitions', expression: 'object.spec.?partitions.orValue(1) >= 3', message: 'set spec.partitions to 3 or more' }] },
  } as Policy);
  return s;
}

describe('validating handler', () => {
  const view = world();
  const ctx = { view, store: store(), now: () => new Date('2026-11-01T00:00:00Z'), namespaceObject: () => undefined };

  it('reports ownership and policy problems together, ownership first', () => {
    const d = validate(request('CREATE', 'Topic', resource('Topic', 't', 'payments', { kind: 'Team', name: 'ghost' }, { partitions: 1 })), ctx);
    expect({ allowed: d.allowed, code: d.code, reason: d.reason, message: d.message }).toEqual({
      allowed: false,
      code: 403,
      reason: 'OwnerNotFound',
      message: 'Topic t: spec.owner refers to Team ghost, which does not exist; create the Team first or fix spec.owner.name; topics/partitions: set spec.partitions to 3 or more',
    });
  });

  it('rejects a PolicyException for a missing policy that expires in the past, naming both fields', () => {
    const ex = { apiVersion: 'platform.kidp.io/v1alpha1', kind: 'PolicyException', metadata: { name: 'x', namespace: 'payments' }, spec: { policyName: 'nope', expiresAt: '2026-10-01T00:00:00Z', reason: 'r', match: {} } };
    const d = validate(request('CREATE', 'PolicyException', ex), { ...ctx, store: new PolicyStore() });
    expect({ allowed: d.allowed, reason: d.reason, message: d.message }).toEqual({
      allowed: false,
      reason: 'PolicyExceptionInvalid',
      message:
        'PolicyException x: spec.policyName: Policy nope does not exist; spec.expiresAt: 2026-10-01T00:00:00Z is not in the future; an exception must expire later than now; spec.match is empty and would exempt every resource of the namespace; name the resourceTypes, names or matchLabels it covers',
    });
  });

  const exception = (expiresAt: string, match: Record<string, unknown>) => ({
    apiVersion: 'platform.kidp.io/v1alpha1',
    kind: 'PolicyException',
    metadata: { name: 'x', namespace: 'payments' },
    spec: { policyName: 'topics', expiresAt, reason: 'r', match },
  });

  it.each([
    ['89 days ahead, one name', '2027-01-29T00:00:00Z', { names: ['legacy'] }, undefined],
    ['exactly 90 days ahead', '2027-01-30T00:00:00Z', { resourceTypes: ['Topic'] }, undefined],
    ['a year ahead', '2027-11-01T00:00:00Z', { names: ['legacy'] }, 'spec.expiresAt: 2027-11-01T00:00:00Z is more than 90 days away; an exception expires by 2027-01-30T00:00:00.000Z at the latest (renew it then if it is still needed)'],
    ['year 9999', '9999-12-31T00:00:00Z', { names: ['legacy'] }, 'spec.expiresAt: 9999-12-31T00:00:00Z is more than 90 days away; an exception expires by 2027-01-30T00:00:00.000Z at the latest (renew it then if it is still needed)'],
    ['empty lists and a bare wildcard are still an empty match', '2026-12-01T00:00:00Z', { resourceTypes: [], names: ['*'], matchLabels: {} }, 'spec.match is empty and would exempt every resource of the namespace; name the resourceTypes, names or matchLabels it covers'],
  ])('PolicyException %s', (_name, expiresAt, match, problem) => {
    const d = validate(request('CREATE', 'PolicyException', exception(expiresAt, match)), ctx);
    expect({ allowed: d.allowed, reason: d.reason, message: d.message }).toEqual(
      problem === undefined ? { allowed: true, reason: undefined, message: undefined } : { allowed: false, reason: 'PolicyExceptionInvalid', message: `PolicyException x: ${problem}` },
    );
  });

  it('takes the lifetime cap from its options', () => {
    const d = validate(request('CREATE', 'PolicyException', exception('2026-11-20T00:00:00Z', { names: ['legacy'] })), { ...ctx, maxExceptionLifetimeMs: 7 * 24 * 3600 * 1000 });
    expect(d.message).toBe('PolicyException x: spec.expiresAt: 2026-11-20T00:00:00Z is more than 7 days away; an exception expires by 2026-11-08T00:00:00.000Z at the latest (renew it then if it is still needed)');
  });

  it('admits a compliant object with no warnings', () => {
    const d = validate(request('CREATE', 'Topic', resource('Topic', 't', 'payments', { kind: 'Team', name: 'payments' }, { partitions: 6 })), ctx);
    expect({ allowed: d.allowed, warnings: d.warnings, auditAnnotations: d.auditAnnotations }).toEqual({ allowed: true, warnings: [], auditAnnotations: {} });
  });

  it('refuses a Topic that would map onto a protocol topic, with what to do (issue 10 item 5)', () => {
    const d = validate(request('CREATE', 'Topic', resource('Topic', 'deployment-requests', 'kidp', { kind: 'Team', name: 'payments' }, { partitions: 6 })), ctx);
    expect({ allowed: d.allowed, code: d.code }).toEqual({ allowed: false, code: 403 });
    expect(d.message).toContain(
      "Topic kidp/deployment-requests would be the Kafka topic kidp.deployment-requests, and the prefix kidp. is reserved for KIDP's protocol and Kafka's own topics; use another namespace or name",
    );
    const ordinary = validate(request('CREATE', 'Topic', resource('Topic', 'requests', 'payments', { kind: 'Team', name: 'payments' }, { partitions: 6 })), ctx);
    expect(ordinary.allowed).toBe(true);
  });
});
