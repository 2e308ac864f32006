import { resolveFrom, selectedKindOf, selectedKinds } from './api-resources.js';

describe('kinds Policies select outside platform.kidp.io', () => {
  it.each([
    ['Pod', { resourceType: 'Pod', group: '', kind: 'Pod' }],
    ['ConfigMap', { resourceType: 'ConfigMap', group: '', kind: 'ConfigMap' }],
    // `Service` is KIDP's; the core Service is `Service.core` (policy-engine resourceTypeOf).
    ['Service.core', { resourceType: 'Service.core', group: '', kind: 'Service' }],
    ['Deployment.apps', { resourceType: 'Deployment.apps', group: 'apps', kind: 'Deployment' }],
    ['Ingress.networking.k8s.io', { resourceType: 'Ingress.networking.k8s.io', group: 'networking.k8s.io', kind: 'Ingress' }],
    ['Widget.example.com', { resourceType: 'Widget.example.com', group: 'example.com', kind: 'Widget' }],
    // Watched by the controller already, or its own output.
    ['Service', undefined],
    ['Database', undefined],
    ['Team.platform.kidp.io', undefined],
    ['Namespace', undefined],
    ['PolicyReport.wgpolicyk8s.io', undefined],
  ])('%s', (type, expected) => {
    expect(selectedKindOf(type)).toEqual(expected);
  });

  it('maps each selected kind to the Policies selecting it', () => {
    const p = (name: string, ...types: string[]) => ({ name, resourceTypes: new Set(types) });
    expect(selectedKinds([p('a', 'Database', 'Deployment.apps'), p('b', 'Deployment.apps', 'Pod', 'Namespace'), p('c', 'Topic')])).toEqual(
      new Map([
        ['Deployment.apps', ['a', 'b']],
        ['Pod', ['b']],
      ]),
    );
  });
});

describe('resolveFrom (discovery documents → API resource)', () => {
  const apps = {
    resources: [
      { name: 'deployments', kind: 'Deployment', namespaced: true, verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] },
      { name: 'deployments/status', kind: 'Deployment', namespaced: true, verbs: ['get', 'patch', 'update'] },
      { name: 'controllerrevisions', kind: 'ControllerRevision', namespaced: true, verbs: ['get'] },
    ],
  };

  it('picks the top-level resource of the kind, with its collection path', () => {
    expect(resolveFrom({ resourceType: 'Deployment.apps', group: 'apps', kind: 'Deployment' }, 'apps/v1', apps)).toEqual({
      served: true,
      resource: { resourceType: 'Deployment.apps', apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', namespaced: true, path: '/apis/apps/v1/deployments' },
    });
    expect(resolveFrom({ resourceType: 'Node', group: '', kind: 'Node' }, 'v1', { resources: [{ name: 'nodes', kind: 'Node', namespaced: false, verbs: ['get', 'list', 'watch'] }] })).toEqual({
      served: true,
      resource: { resourceType: 'Node', apiVersion: 'v1', kind: 'Node', plural: 'nodes', namespaced: false, path: '/api/v1/nodes' },
    });
  });

  it('says why a kind cannot be audited', () => {
    expect(resolveFrom({ resourceType: 'Rollout.apps', group: 'apps', kind: 'Rollout' }, 'apps/v1', apps)).toEqual({ served: false, reason: 'the apiserver serves no kind Rollout in apps/v1' });
    expect(resolveFrom({ resourceType: 'ControllerRevision.apps', group: 'apps', kind: 'ControllerRevision' }, 'apps/v1', apps)).toEqual({
      served: false,
      reason: 'controllerrevisions in apps/v1 cannot be listed and watched (verbs: get)',
    });
  });
});
