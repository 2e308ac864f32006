import type { DeploymentRequest } from '../contract.js';
import { PlanRefusal, connectionUri, identifierProblem, planInstance, planQueue, planReplicationGroup } from './plan.js';

function request(spec: Record<string, unknown>, name = 'orders', namespace = 'team-a'): DeploymentRequest {
  return {
    apiVersion: 'broker.kidp.io/v1',
    kind: 'DeploymentRequest',
    requestId: 'u1-3',
    action: 'deploy',
    target: { name: 'aws', identity: 'aws-broker', provider: 'aws', environment: 'staging' },
    resource: { kind: 'Database', namespace, name, uid: 'u1', generation: 3, labels: {}, spec: { owner: { kind: 'Team', name: 'a' }, engine: 'postgresql', version: '15', ...spec } },
    issuedAt: '2026-01-01T00:00:00Z',
  };
}

describe('planInstance', () => {
  it('an identifier per namespace-name, the RDS engine, storage at least RDS minimum, the ownership tags', () => {
    expect(planInstance(request({ storageGB: 5, highAvailability: true }, 'orders-db'))).toEqual({
      identifier: 'team-a-orders-db',
      engine: 'postgres',
      engineVersion: '15',
      scheme: 'postgresql',
      database: 'orders_db',
      allocatedStorage: 20,
      multiAZ: true,
      tags: [
        { Key: 'platform.kidp.io/managed-by', Value: 'kidp' },
        { Key: 'platform.kidp.io/uid', Value: 'u1' },
        { Key: 'platform.kidp.io/resource', Value: 'Database/team-a/orders-db' },
        { Key: 'platform.kidp.io/request-id', Value: 'u1-3' },
      ],
    });
    expect(planInstance(request({ engine: 'mysql', version: '8.0.35', storageGB: 100 }))).toMatchObject({ engine: 'mysql', scheme: 'mysql', engineVersion: '8.0.35', allocatedStorage: 100, multiAZ: false });
  });

  it.each([
    ['mongodb (not an RDS engine)', request({ engine: 'mongodb', version: '7' }), 'the aws provider runs Databases of engine postgresql or mysql on RDS, not "mongodb"'],
    ['an identifier over 63 characters', request({}, 'o'.repeat(60)), `DB instance identifier "team-a-${'o'.repeat(60)}" (<namespace>-<name>) is 67 characters; RDS allows 1 to 63`],
    ['two hyphens in a row (a namespace ending in -)', request({}, 'orders', 'team-'), 'DB instance identifier "team--orders" (<namespace>-<name>) must not hold two hyphens in a row'],
    ['a namespace starting with a digit', request({}, 'orders', '1team'), 'DB instance identifier "1team-orders" (<namespace>-<name>) must start with a letter'],
    ['upper case (RDS would fold it)', request({}, 'Orders'), 'DB instance identifier "team-a-Orders" (<namespace>-<name>) may hold only lower-case letters, digits and hyphens'],
    ['an injected parameter in the name', request({}, 'x&MasterUsername=root'), 'DB instance identifier "team-a-x&MasterUsername=root" (<namespace>-<name>) may hold only lower-case letters, digits and hyphens'],
    ['a name that is no database name', request({}, '9lives'), 'resource name "9lives" cannot be an RDS database name (a letter, then letters, digits, _; at most 63)'],
    ['a version that is no version', request({ version: '15; drop' }), 'spec.version "15; drop" is not an engine version (15, 15.4, 8.0.35)'],
  ])('refuses %s', (_what, r, message) => {
    expect(() => planInstance(r)).toThrow(new PlanRefusal(message));
  });
});

describe('identifierProblem (RDS DBInstanceIdentifier rules)', () => {
  it.each([
    ['a', undefined],
    ['a'.repeat(63), undefined],
    ['team-a-orders', undefined],
    ['', 'is 0 characters; RDS allows 1 to 63'],
    ['a'.repeat(64), 'is 64 characters; RDS allows 1 to 63'],
    ['-a', 'must start with a letter'],
    ['a-', 'must not end with a hyphen'],
    ['a--b', 'must not hold two hyphens in a row'],
    ['a_b', 'may hold only lower-case letters, digits and hyphens'],
    ['a.b', 'may hold only lower-case letters, digits and hyphens'],
  ])('%s', (id, problem) => {
    expect(identifierProblem(id)).toBe(problem);
  });
});

describe('connectionUri', () => {
  it('escapes the user, password and database, brackets an IPv6 host', () => {
    expect(connectionUri('postgresql', 'kidp_owner', 'p@ss/w:rd', '::1', 5432, 'orders')).toBe('postgresql://kidp_owner:p%40ss%2Fw%3Ard@[::1]:5432/orders');
    expect(connectionUri('mysql', 'u', 'p', 'db.example', 3306, 'd')).toBe('mysql://u:p@db.example:3306/d');
  });
});

describe('planReplicationGroup and planQueue', () => {
  const as = (kind: 'Cache' | 'Topic', spec: Record<string, unknown>, name = 'orders'): DeploymentRequest => {
    const r = request({}, name);
    return { ...r, resource: { ...r.resource, kind, spec: { owner: { kind: 'Team', name: 'a' }, ...spec } } };
  };
  const tags = (kind: string) => [
    { Key: 'platform.kidp.io/managed-by', Value: 'kidp' },
    { Key: 'platform.kidp.io/uid', Value: 'u1' },
    { Key: 'platform.kidp.io/resource', Value: `${kind}/team-a/orders` },
    { Key: 'platform.kidp.io/request-id', Value: 'u1-3' },
  ];
  it('a Cache: the group id, the version and eviction policy as asked, the ownership tags', () => {
    expect(planReplicationGroup(as('Cache', { engine: 'redis', version: '7.1', evictionPolicy: 'allkeys-lru' }))).toEqual({ id: 'team-a-orders', engineVersion: '7.1', evictionPolicy: 'allkeys-lru', tags: tags('Cache') });
  });
  it('a Topic: the queue name (dots as _), retention in seconds as SQS wants it (default 168 h), the ownership tags as a map', () => {
    expect([planQueue(as('Topic', { retentionHours: 48 })), planQueue(as('Topic', {}, 'orders.v2'))]).toEqual([
      { name: 'team-a-orders', retentionSeconds: '172800', tags: Object.fromEntries(tags('Topic').map((t) => [t.Key, t.Value])) },
      { name: 'team-a-orders_v2', retentionSeconds: '604800', tags: Object.fromEntries(tags('Topic').map((t) => [t.Key, t.Key === 'platform.kidp.io/resource' ? 'Topic/team-a/orders.v2' : t.Value])) },
    ]);
  });
  it.each([
    ['a Redis version that is not one', () => planReplicationGroup(as('Cache', { engine: 'redis', version: '7; FLUSHALL' })), 'spec.version "7; FLUSHALL" is not a Redis engine version (7.1, 6.2)'],
    ['a retention that is not a whole number of hours', () => planQueue(as('Topic', { retentionHours: 1.5 })), 'spec.retentionHours 1.5: SQS keeps messages 1 to 336 hours (14 days)'],
  ])('refuses %s', (_what, run, message) => {
    expect(run).toThrow(new PlanRefusal(message));
  });
});
