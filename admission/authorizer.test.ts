import { withAuthorizer, subjectAccessReview, MAX_AUTHZ_ROUNDS, type AskAuthorizer } from './authorizer.js';
import { allowed, denied, type Decision } from './decision.js';
import type { AuthzAttributes, AuthzBackend } from '../policy-engine/policy/index.js';

const alice = { username: 'alice', groups: ['devs'] };
const check = (resource: string): Extract<AuthzAttributes, { kind: 'resource' }> => ({ user: alice, kind: 'resource', verb: 'get', group: '', resource, subresource: '', namespace: 'shop', name: '', fieldSelector: '', labelSelector: '' });

// The apiserver's answers are a table here; test/admission.e2e.test.ts asks the real one.
function asker(allowedResources: string[]): { ask: AskAuthorizer; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    ask: async (a) => {
      asked.push(a.kind === 'resource' ? a.resource : a.path);
      return a.kind === 'resource' && allowedResources.includes(a.resource) ? { decision: 'allow', reason: 'rbac' } : { decision: 'no-opinion', reason: '' };
    },
  };
}

/** A "policy" reading checks in order; each later check depends on the earlier answer. */
function chain(resources: string[]): (b: AuthzBackend) => Decision {
  return (b) => {
    try {
      for (const r of resources) if (b.authorize(check(r)).decision !== 'allow') return denied('PolicyViolation', `no ${r}`);
      return allowed();
    } catch (e) {
      return denied('PolicyViolation', `rule errored: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
}

describe('withAuthorizer', () => {
  it('asks each check once per request and evaluates again with the answers', async () => {
    const { ask, asked } = asker(['secrets', 'pods']);
    let runs = 0;
    const decision = await withAuthorizer(ask, (b) => (runs++, chain(['secrets', 'pods', 'secrets'])(b)));
    expect(decision).toEqual(allowed());
    expect(asked).toEqual(['secrets', 'pods']);
    expect(runs).toBe(3);
  });

  it('a request without authorizer checks runs once and asks nothing', async () => {
    const { ask, asked } = asker([]);
    let runs = 0;
    expect(await withAuthorizer(ask, () => (runs++, allowed()))).toEqual(allowed());
    expect({ runs, asked }).toEqual({ runs: 1, asked: [] });
  });

  it('a denial is the answer, not a retry', async () => {
    const { ask } = asker(['secrets']);
    expect(await withAuthorizer(ask, chain(['secrets', 'pods']))).toEqual(denied('PolicyViolation', 'no pods'));
  });

  it('a chain longer than the rounds fails closed instead of waiting on reviews', async () => {
    const resources = Array.from({ length: MAX_AUTHZ_ROUNDS + 2 }, (_, i) => `r${i}`);
    const { ask, asked } = asker(resources);
    const d = await withAuthorizer(ask, chain(resources));
    expect(d).toEqual(denied('PolicyViolation', 'rule errored: authorization check pending'));
    expect(asked.length).toBe(MAX_AUTHZ_ROUNDS - 1);
  });
});

describe('subjectAccessReview', () => {
  it('carries the user and the attributes as authz.go fills them (version "*")', () => {
    expect(subjectAccessReview({ ...check('secrets'), subresource: 'status', name: 'db', labelSelector: 'app=x' })).toEqual({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { user: 'alice', groups: ['devs'], resourceAttributes: { verb: 'get', group: '', version: '*', resource: 'secrets', subresource: 'status', namespace: 'shop', name: 'db', labelSelector: { rawSelector: 'app=x' } } },
    });
    expect(subjectAccessReview({ user: { username: 'bob' }, kind: 'path', path: '/healthz', verb: 'get' })).toEqual({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { user: 'bob', nonResourceAttributes: { path: '/healthz', verb: 'get' } },
    });
  });
});
