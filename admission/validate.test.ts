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
      message: 'PolicyException x: spec.policyName: Policy nope does not exist; spec.expiresAt: 2026-10-01T00:00:00Z is not in the future; an exception must expire later than now',
    });
  });

  it('admits a compliant object with no warnings', () => {
    const d = validate(request('CREATE', 'Topic', resource('Topic', 't', 'payments', { kind: 'Team', name: 'payments' }, { partitions: 6 })), ctx);
    expect({ allowed: d.allowed, warnings: d.warnings, auditAnnotations: d.auditAnnotations }).toEqual({ allowed: true, warnings: [], auditAnnotations: {} });
  });
});
