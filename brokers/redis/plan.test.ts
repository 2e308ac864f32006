import { createHash } from 'node:crypto';
import type { DeploymentRequest } from '../contract.js';
import { PlanRefusal, aclRules, planCache, versionRefusal } from './plan.js';

function request(spec: Record<string, unknown>, name = 'sessions', namespace = 'team-a'): DeploymentRequest {
  return {
    apiVersion: 'broker.kidp.io/v1',
    kind: 'DeploymentRequest',
    requestId: 'u1-1',
    action: 'deploy',
    target: { name: 'r', identity: 'redis-broker', provider: 'redis', environment: 'development' },
    resource: { kind: 'Cache', namespace, name, uid: 'u1', generation: 1, labels: {}, spec: { owner: { kind: 'Team', name: 'a' }, engine: 'redis', ...spec } },
    issuedAt: '2026-01-01T00:00:00Z',
  };
}

describe('planCache', () => {
  it('a user and a key prefix per namespace/name', () => {
    expect(planCache(request({ version: '7.0' }))).toEqual({ user: 'team-a/sessions', keyPrefix: 'team-a/sessions:', version: { major: 7, minor: 0 } });
  });

  it.each([
    ['memcached', request({ engine: 'memcached' }), 'the redis provider provisions engine redis, not "memcached"'],
    ['a glob in the name', request({}, 'x*'), 'resource "team-a/x*" cannot name a key prefix'],
    ['a space in the name (a second ACL rule)', request({}, 'x ~*'), 'resource "team-a/x ~*" cannot name a key prefix'],
    ['a slash in the namespace', request({}, 'x', 'a/b'), 'resource "a/b/x" cannot name a key prefix'],
    ['a bad version', request({ version: '7 +@all' }), 'spec.version "7 +@all" is not a Redis version (7, 7.0)'],
  ])('refuses %s', (_what, r, message) => {
    expect(() => planCache(r)).toThrow(new PlanRefusal(message));
  });
});

it('aclRules: reset, the password only as its hash, the prefix, the safe command set', () => {
  expect(aclRules({ user: 'team-a/sessions', keyPrefix: 'team-a/sessions:' }, 'secret')).toEqual([
    'reset',
    'on',
    `#${createHash('sha256').update('secret').digest('hex')}`,
    'resetkeys',
    '~team-a/sessions:*',
    'resetchannels',
    '-@all',
    '+@read',
    '+@write',
    '+@transaction',
    '+@connection',
    '-@dangerous',
    '-@admin',
    '-scan',
    '-randomkey',
    '-dbsize',
    '-keys',
  ]);
});

it.each<[{ major: number; minor?: number } | undefined, string | undefined]>([
  [undefined, undefined],
  [{ major: 7 }, undefined],
  [{ major: 7, minor: 0 }, undefined],
  [{ major: 7, minor: 2 }, "spec.version 7.2 is newer than the server's Redis 7.0.15"],
  [{ major: 6 }, "spec.version 6 does not match the server's Redis 7.0.15: this target serves major version 7 only"],
])('versionRefusal(%j, 7.0.15) → %s', (wanted, expected) => {
  expect(versionRefusal(wanted, '7.0.15')).toBe(expected);
});
