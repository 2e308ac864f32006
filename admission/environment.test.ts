import { validateEnvironment } from './environment.js';
import { request, resource, world } from './testdata.js';
import type { Decision } from './decision.js';
import type { KubeObject } from './review.js';

const ok: Decision = { allowed: true, warnings: [], auditAnnotations: {} };
const no = (reason: string, message: string): Decision => ({ allowed: false, code: 403, reason, message, warnings: [], auditAnnotations: {} });
const app = { kind: 'Application', name: 'checkout' };
const svc = (spec: Record<string, unknown>, extra: Partial<KubeObject> = {}): KubeObject => ({ ...resource('Service', 'api', 'payments', app, { image: 'x', ...spec }), ...extra });
const dispatched = (spec: Record<string, unknown>, target: string): KubeObject => ({ ...svc(spec), status: { target, phase: 'Ready' } });

describe('environment binds to target', () => {
  const view = world();
  const cases: [string, Parameters<typeof validateEnvironment>[0], Decision][] = [
    ['the Application environment and a target that serves it', request('CREATE', 'Service', svc({ environment: 'production', target: 'prod' })), ok],
    [
      'a production Service saying development (to dodge production policies)',
      request('CREATE', 'Service', svc({ environment: 'development', target: 'prod' })),
      no(
        'EnvironmentMismatch',
        "Service api: spec.environment development differs from the environment of its Application checkout (production); a resource's environment is its Application's: remove spec.environment or set it to production",
      ),
    ],
    [
      'both bypasses at once: development environment and label, development target',
      request('CREATE', 'Service', { ...svc({ environment: 'development', target: 'dev' }), metadata: { name: 'api', namespace: 'payments', labels: { environment: 'development' } } }),
      no(
        'EnvironmentMismatch',
        "Service api: spec.environment development differs from the environment of its Application checkout (production); a resource's environment is its Application's: remove spec.environment or set it to production; label environment=development differs from its environment production; remove the label or set it to production; spec.target dev serves environment development, not production; name a DeploymentTarget of production, or leave spec.target empty for its default",
      ),
    ],
    [
      'a production Service aimed at a development target',
      request('CREATE', 'Service', svc({ environment: 'production', target: 'dev' })),
      no('EnvironmentMismatch', 'Service api: spec.target dev serves environment development, not production; name a DeploymentTarget of production, or leave spec.target empty for its default'),
    ],
    [
      'a target that does not exist',
      request('CREATE', 'Service', svc({ environment: 'production', target: 'nowhere' })),
      no('EnvironmentMismatch', 'Service api: spec.target nowhere: no such DeploymentTarget (or KIDP has not seen it yet); create it first or name an existing one'),
    ],
    ['a Team-owned Topic keeps its own environment', request('CREATE', 'Topic', resource('Topic', 't', 'payments', { kind: 'Team', name: 'payments' }, { environment: 'development', target: 'dev' })), ok],
    [
      'a Team-owned Topic on a target of another environment',
      request('CREATE', 'Topic', resource('Topic', 't', 'payments', { kind: 'Team', name: 'payments' }, { environment: 'development', target: 'prod' })),
      no('EnvironmentMismatch', 'Topic t: spec.target prod serves environment production, not development; name a DeploymentTarget of development, or leave spec.target empty for its default'),
    ],
    ['changing the target before anything was dispatched', request('UPDATE', 'Service', svc({ environment: 'production', target: 'prod-eu' }), { oldObject: svc({ environment: 'production', target: 'prod' }) }), ok],
    [
      'changing the target once dispatched (cleanup would miss the old one)',
      request('UPDATE', 'Service', svc({ environment: 'production', target: 'prod-eu' }), { oldObject: dispatched({ environment: 'production', target: 'prod' }, 'prod') }),
      no('TargetImmutable', 'Service api: spec.target is immutable once dispatched (deployed to prod, now prod-eu); to move it, delete it and create it again'),
    ],
    [
      'removing the target once dispatched',
      request('UPDATE', 'Service', svc({ environment: 'production' }), { oldObject: dispatched({ environment: 'production', target: 'prod' }, 'prod') }),
      no('TargetImmutable', 'Service api: spec.target is immutable once dispatched (deployed to prod, now (none)); to move it, delete it and create it again'),
    ],
    ['other changes once dispatched', request('UPDATE', 'Service', svc({ environment: 'production', target: 'prod', replicas: 3 }), { oldObject: dispatched({ environment: 'production', target: 'prod' }, 'prod') }), ok],
    [
      'an object being deleted is left alone',
      request('UPDATE', 'Service', { ...svc({ environment: 'development', target: 'dev' }), metadata: { name: 'api', namespace: 'payments', deletionTimestamp: '2026-11-01T00:00:00Z' } }, { oldObject: dispatched({ environment: 'production', target: 'prod' }, 'prod') }),
      ok,
    ],
    [
      "an Application's environment while it owns resources",
      request('UPDATE', 'Application', resource('Application', 'checkout', 'payments', { kind: 'Team', name: 'payments' }, { environment: 'development' }), {
        oldObject: resource('Application', 'checkout', 'payments', { kind: 'Team', name: 'payments' }, { environment: 'production' }),
      }),
      no('EnvironmentImmutable', 'Application checkout: spec.environment cannot change (was production, now development) while it owns 1 resource: they were admitted for production; create a new Application for development'),
    ],
  ];
  it.each(cases)('%s', (_name, req, expected) => {
    expect(validateEnvironment(req, view)).toEqual(expected);
  });
});
