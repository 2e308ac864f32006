import { compilePolicy } from './compile.js';
import { evaluatePolicy, NO_AUTHORIZER_REASON } from './evaluate.js';
import { tableBackend, type AuthzAttributes } from './cel.js';
import { syntheticRequest } from './request.js';
import type { Policy } from './types.js';

const now = new Date('2026-06-01T00:00:00Z');
const policy = (rules: Policy['spec']['rules'], variables?: Policy['spec']['variables']) =>
  compilePolicy({ apiVersion: 'platform.kidp.io/v1alpha1', kind: 'Policy', metadata: { name: 'authz' }, spec: { mode: 'Enforce', selector: { resourceTypes: ['ConfigMap'] }, rules, ...(variables ? { variables } : {}) } });
const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'shop' } };
const request = (username: string) => syntheticRequest(configMap, { userInfo: { username, groups: ['devs'] } });

describe('authorizer (VAP authz library)', () => {
  const asked: AuthzAttributes[] = [];
  const backend = tableBackend(
    [
      { match: { username: 'alice', verb: 'get', apiGroup: '', resource: 'secrets', namespace: 'shop' }, decision: 'allow', reason: 'alice reads secrets' },
      { match: { group: 'devs', path: '/healthz', verb: 'get' }, decision: 'allow' },
      { match: { resource: 'pods' }, decision: 'no-opinion', reason: '', error: 'webhook authorizer down' },
      { match: { username: 'system:serviceaccount:shop:builder', verb: 'create', resource: 'configmaps' }, decision: 'allow', reason: 'builder' },
    ],
    { decision: 'deny', reason: 'no rule' },
  );
  const recording = { authorize: (a: AuthzAttributes) => (asked.push(a), backend.authorize(a)) };

  it('checks resources, paths, the request resource and service accounts for the requesting user', () => {
    const p = policy([
      { name: 'secrets', expression: "authorizer.group('').resource('secrets').namespace(object.metadata.namespace).check('get').allowed()", messageExpression: "'no: ' + request.userInfo.username" },
      { name: 'health', expression: "authorizer.path('/healthz').check('get').allowed()" },
      { name: 'errored', expression: "authorizer.group('').resource('pods').check('list').errored() && authorizer.group('').resource('pods').check('list').error() == 'webhook authorizer down'" },
      { name: 'reason', expression: "authorizer.group('apps').resource('deployments').check('delete').reason() == 'no rule'" },
      { name: 'request-resource', expression: "!authorizer.requestResource.check('create').allowed()" },
      { name: 'sa', expression: "authorizer.serviceAccount('shop', 'builder').group('').resource('configmaps').check('create').allowed()" },
    ]);
    asked.length = 0;
    expect(evaluatePolicy(p, { request: request('alice'), authorizer: recording }, { now })).toEqual({
      policy: 'authz',
      mode: 'Enforce',
      applied: true,
      rules: ['secrets', 'health', 'errored', 'reason', 'request-resource', 'sa'].map((rule) => ({ rule, result: 'pass', severity: 'medium' })),
    });
    expect(asked[0]).toEqual({ user: { username: 'alice', groups: ['devs'] }, kind: 'resource', verb: 'get', group: '', resource: 'secrets', subresource: '', namespace: 'shop', name: '', fieldSelector: '', labelSelector: '' });
    expect(asked.at(-1)?.user).toEqual({ username: 'system:serviceaccount:shop:builder', groups: ['system:serviceaccounts', 'system:serviceaccounts:shop'] });
    expect(evaluatePolicy(p, { request: request('mallory'), authorizer: recording }, { now })).toMatchObject({ rules: [{ rule: 'secrets', result: 'fail', message: 'no: mallory' }, { rule: 'health' }, {}, {}, {}, {}] });
  });

  it('authorizer.requestResource is the request itself', () => {
    const p = policy([{ name: 'rr', expression: "authorizer.requestResource.check('create').allowed()" }]);
    asked.length = 0;
    evaluatePolicy(p, { request: request('alice'), authorizer: recording }, { now });
    expect(asked).toEqual([{ user: { username: 'alice', groups: ['devs'] }, kind: 'resource', verb: 'create', group: '', resource: 'configmaps', subresource: '', namespace: 'shop', name: 'settings', fieldSelector: '', labelSelector: '' }]);
  });

  it('hostile arguments are errors, not checks: empty path or resource, invalid service account names', () => {
    const p = policy([
      { name: 'path', expression: "authorizer.path(' ').check('get').allowed()" },
      { name: 'resource', expression: "authorizer.group('').resource('').check('get').allowed()" },
      { name: 'sa-name', expression: "authorizer.serviceAccount('shop', 'Bad/Name').path('/x').check('get').allowed()" },
      { name: 'sa-ns', expression: "authorizer.serviceAccount('Shop!', 'ok').path('/x').check('get').allowed()" },
    ]);
    asked.length = 0;
    expect(evaluatePolicy(p, { request: request('alice'), authorizer: recording }, { now })).toMatchObject({
      rules: [
        { rule: 'path', result: 'error', message: 'rule path errored: path must not be empty' },
        { rule: 'resource', result: 'error', message: 'rule resource errored: resource must not be empty' },
        { rule: 'sa-name', result: 'error', message: 'rule sa-name errored: Invalid service account name' },
        { rule: 'sa-ns', result: 'error', message: 'rule sa-ns errored: Invalid service account namespace' },
      ],
    });
    expect(asked).toEqual([]);
  });

  it('offline (no authorizer given) every check is not allowed and says why', () => {
    const p = policy([{ name: 'r', expression: "authorizer.path('/healthz').check('get').allowed()", messageExpression: "'denied'" }, { name: 'why', expression: `authorizer.path('/healthz').check('get').reason() == '${NO_AUTHORIZER_REASON}'` }]);
    expect(evaluatePolicy(p, { request: request('alice') }, { now })).toMatchObject({ rules: [{ rule: 'r', result: 'fail' }, { rule: 'why', result: 'pass' }] });
  });

  it('is typed: checks cost 350,000 as Kubernetes estimates them; messageExpressions have no authorizer, as in VAP', () => {
    expect(policy([{ name: 'two', expression: "authorizer.path('/a').check('get').allowed() && authorizer.path('/b').check('get').allowed()" }]).warnings).toEqual([]);
    expect(policy([{ name: 'three', expression: "[1, 2, 3].all(i, authorizer.path('/a').check('get').allowed())" }]).rules[0]!.program.estimatedCost.max).toBeGreaterThan(1_000_000);
    expect(() => policy([{ name: 'm', expression: 'true', messageExpression: "authorizer.path('/a').check('get').reason()" }])).toThrow(/messageExpression \(line 1, column 1\): undeclared reference to 'authorizer'/);
    expect(() => policy([{ name: 't', expression: "authorizer.group('').check('get').allowed()" }])).toThrow(/found no matching overload for 'check'/);
  });
});
