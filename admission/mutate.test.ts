import { mutate } from './mutate.js';
import { request, resource, world } from './testdata.js';
import type { Decision } from './decision.js';
import type { KubeObject } from './review.js';

function applyPatch(obj: KubeObject, d: Decision): KubeObject {
  const out = structuredClone(obj) as Record<string, unknown>;
  for (const op of d.patch ?? []) {
    const parts = op.path.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop() as string;
    let node = out as Record<string, unknown>;
    for (const p of parts) node = node[p] as Record<string, unknown>;
    if (last === '-') (node as unknown as unknown[]).push(op.value);
    else node[last] = op.value;
  }
  return out as KubeObject;
}

describe('mutating webhook', () => {
  const view = world();

  it('labels a service from its owner chain, inherits the environment and target, and adds the finalizer', () => {
    const svc = resource('Service', 'api', 'payments', { kind: 'Application', name: 'checkout' }, { image: 'x' });
    const d = mutate(request('CREATE', 'Service', svc), view);
    expect(d).toEqual({
      allowed: true,
      warnings: [],
      auditAnnotations: {},
      patch: [
        { op: 'add', path: '/spec/environment', value: 'production' },
        { op: 'add', path: '/spec/target', value: 'prod' },
        {
          op: 'add',
          path: '/metadata/labels',
          value: {
            'platform.kidp.io/managed-by': 'kidp',
            'platform.kidp.io/team': 'payments',
            'platform.kidp.io/application': 'checkout',
            environment: 'production',
          },
        },
        { op: 'add', path: '/metadata/finalizers', value: ['platform.kidp.io/cleanup'] },
      ],
    });
    // Reinvocation on the mutated object converges: no further patch.
    expect(mutate(request('CREATE', 'Service', applyPatch(svc, d)), view)).toEqual({ allowed: true, warnings: [], auditAnnotations: {} });
  });

  it('adds only the missing labels and finalizer to an object that has others', () => {
    const topic: KubeObject = {
      ...resource('Topic', 't', 'payments', { kind: 'Team', name: 'payments' }, { environment: 'staging' }),
      metadata: { name: 't', namespace: 'payments', labels: { keep: 'me', environment: 'staging' }, finalizers: ['other/finalizer'] },
    };
    expect(mutate(request('UPDATE', 'Topic', topic, { oldObject: topic }), view).patch).toEqual([
      { op: 'add', path: '/metadata/labels/platform.kidp.io~1managed-by', value: 'kidp' },
      { op: 'add', path: '/metadata/labels/platform.kidp.io~1team', value: 'payments' },
      { op: 'add', path: '/metadata/finalizers/-', value: 'platform.kidp.io/cleanup' },
    ]);
  });

  it('labels a team with its own name and adds no finalizer or environment', () => {
    expect(mutate(request('CREATE', 'Team', resource('Team', 'search', undefined)), view).patch).toEqual([
      { op: 'add', path: '/metadata/labels', value: { 'platform.kidp.io/managed-by': 'kidp', 'platform.kidp.io/team': 'search' } },
    ]);
  });

  it('defaults the environment to development and adds no target when none is default for it', () => {
    const db = resource('Database', 'd', 'shared', { kind: 'Team', name: 'search' });
    expect(mutate(request('CREATE', 'Database', db), view).patch?.slice(0, 2)).toEqual([
      { op: 'add', path: '/spec/environment', value: 'development' },
      { op: 'add', path: '/metadata/labels', value: { 'platform.kidp.io/managed-by': 'kidp', 'platform.kidp.io/team': 'search', environment: 'development' } },
    ]);
  });

  it('does not add the finalizer to an object being deleted, and ignores DELETE and other groups', () => {
    const dying: KubeObject = { ...resource('Cache', 'c', 'payments', { kind: 'Team', name: 'payments' }, { environment: 'development' }), metadata: { name: 'c', namespace: 'payments', deletionTimestamp: '2026-01-01T00:00:00Z', labels: { 'platform.kidp.io/managed-by': 'kidp', 'platform.kidp.io/team': 'payments', environment: 'development' } } };
    expect(mutate(request('UPDATE', 'Cache', dying, { oldObject: dying }), view)).toEqual({ allowed: true, warnings: [], auditAnnotations: {} });
    expect(mutate(request('DELETE', 'Cache', undefined, { name: 'c', namespace: 'payments' }), view)).toEqual({ allowed: true, warnings: [], auditAnnotations: {} });
  });
});
