import type { DeploymentRequest } from '../contract.js';
import { PlanRefusal, connectionUri, databaseName, planDatabase, versionRefusal } from './plan.js';

const server = { host: '127.0.0.1', port: 5432, credentialsSecretRef: { name: 'pg-admin', namespace: 'kidp-system' }, extensions: ['pg_trgm', 'uuid-ossp'] };

function request(spec: Record<string, unknown>, name = 'orders', namespace = 'team-a'): DeploymentRequest {
  return {
    apiVersion: 'broker.kidp.io/v1',
    kind: 'DeploymentRequest',
    requestId: 'u1-1',
    action: 'deploy',
    target: { name: 'pg', identity: 'pg-broker', provider: 'postgresql', environment: 'development' },
    resource: { kind: 'Database', namespace, name, uid: 'u1', generation: 1, labels: {}, spec: { owner: { kind: 'Team', name: 'a' }, engine: 'postgresql', version: '15', ...spec } },
    issuedAt: '2026-01-01T00:00:00Z',
  };
}

describe('databaseName', () => {
  it.each([
    ['team-a', 'orders', 'kidp_team_a_orders'],
    ['team-a', 'orders.v2', 'kidp_team_a_orders_v2'],
    ['9lives', 'x', 'kidp_9lives_x'],
  ])('%s/%s → %s', (ns, name, expected) => {
    expect(databaseName(ns, name)).toBe(expected);
  });

  it('keeps long names under 63 bytes and apart', () => {
    const a = databaseName('team-a', 'a'.repeat(100));
    const b = databaseName('team-a', `${'a'.repeat(99)}b`);
    expect({ a: a.length, b: b.length, differ: a !== b, safe: /^[a-z0-9_]+$/.test(a) && /^[a-z0-9_]+$/.test(b) }).toEqual({ a: 63, b: 63, differ: true, safe: true });
  });
});

describe('versionRefusal (server 15.18 = 150018)', () => {
  it.each<[{ major: number; minor?: number }, string | undefined]>([
    [{ major: 15 }, undefined],
    [{ major: 15, minor: 4 }, undefined],
    [{ major: 15, minor: 18 }, undefined],
    [{ major: 15, minor: 19 }, "spec.version 15.19 is newer than the server's PostgreSQL 15.18"],
    [{ major: 16 }, "spec.version 16 does not match the server's PostgreSQL 15.18: this target serves major version 15 only"],
    [{ major: 14, minor: 2 }, "spec.version 14.2 does not match the server's PostgreSQL 15.18: this target serves major version 15 only"],
  ])('%j → %s', (wanted, expected) => {
    expect(versionRefusal(wanted, 150018)).toBe(expected);
  });
});

describe('planDatabase', () => {
  it('a whole plan', () => {
    expect(planDatabase(request({ version: '15.2', connectionLimit: 5, extensions: ['pg_trgm', 'pg_trgm', 'uuid-ossp'], backup: { enabled: true, schedule: '0 3 * * *' } }), server)).toEqual({
      database: 'kidp_team_a_orders',
      role: 'kidp_team_a_orders',
      version: { major: 15, minor: 2 },
      connectionLimit: 5,
      extensions: ['pg_trgm', 'uuid-ossp'],
      backup: { schedule: '0 3 * * *', retentionDays: 7 },
    });
  });

  // What a forged request (a leaked dispatch key; the CRD schema stops these at the apiserver) could carry.
  it.each([
    ['another engine', { engine: 'mysql' }, 'the postgresql provider provisions engine postgresql, not "mysql"'],
    ['an extension off the allow-list', { extensions: ['plpython3u'] }, "spec.extensions: plpython3u is not on this DeploymentTarget's allow-list (pg_trgm, uuid-ossp); ask the platform team to allow it"],
    ['SQL in an extension name', { extensions: ['pg_trgm"; DROP ROLE kidp_admin; --'] }, 'spec.extensions: "pg_trgm\\"; DROP ROLE kidp_admin; --" is not an extension name'],
    ['a quote in an extension name', { extensions: ["pg_trgm' OR '1'='1"] }, 'spec.extensions: "pg_trgm\' OR \'1\'=\'1" is not an extension name'],
    ['a non-string extension', { extensions: [{ name: 'x' }] }, 'spec.extensions: {"name":"x"} is not an extension name'],
    ['SQL in the version', { version: "15'; DROP DATABASE postgres; --" }, 'spec.version "15\'; DROP DATABASE postgres; --" is not a PostgreSQL version (15, 15.4)'],
    ['a connection limit of 0', { connectionLimit: 0 }, 'spec.connectionLimit 0 must be an integer from 1 to 10000'],
    ['a connection limit that is SQL', { connectionLimit: '5; DROP ROLE x' }, 'spec.connectionLimit "5; DROP ROLE x" must be an integer from 1 to 10000'],
  ])('refuses %s', (_what, spec, message) => {
    expect(() => planDatabase(request(spec), server)).toThrow(new PlanRefusal(message));
  });

  it.each([
    ['x"; DROP ROLE kidp_admin; --', 'team-a', 'resource name "x\\"; DROP ROLE kidp_admin; --" is not a Kubernetes object name'],
    ['orders', "team-a'; --", 'resource namespace "team-a\'; --" is not a Kubernetes namespace name'],
    ['Orders', 'team-a', 'resource name "Orders" is not a Kubernetes object name'],
  ])('refuses the hostile resource name %j in %j', (name, namespace, message) => {
    expect(() => planDatabase(request({}, name, namespace), server)).toThrow(new PlanRefusal(message));
  });
});

it('connectionUri percent-encodes every part', () => {
  expect(connectionUri({ host: '127.0.0.1', port: 5432, user: 'u@x', password: 'p/ss:w@rd', database: 'd b' })).toBe('postgresql://u%40x:p%2Fss%3Aw%40rd@127.0.0.1:5432/d%20b');
});
