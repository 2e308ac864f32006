// Shared fixtures for the admission unit tests: a small world of one team namespace.
import { MemoryView } from './memory-view.js';
import type { AdmissionRequest, KubeObject, Operation } from './review.js';

export const V = 'platform.kidp.io/v1alpha1';

export function world(): MemoryView {
  const view = new MemoryView();
  const objects: KubeObject[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'payments', labels: { 'platform.kidp.io/team': 'payments' } } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shared' } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'orphan' } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'search-old', labels: { 'platform.kidp.io/team': 'search' } } },
    { apiVersion: V, kind: 'Team', metadata: { name: 'payments' }, spec: { namespaces: ['payments', 'payments-new'] } },
    { apiVersion: V, kind: 'Team', metadata: { name: 'search' }, spec: { namespaces: ['search'], sharedNamespaces: ['shared'] } },
    { apiVersion: V, kind: 'DeploymentTarget', metadata: { name: 'prod' }, spec: { environment: 'production', default: true, namespace: 'kidp-workloads' } },
    { apiVersion: V, kind: 'DeploymentTarget', metadata: { name: 'prod-eu' }, spec: { environment: 'production', namespace: 'kidp-workloads' } },
    { apiVersion: V, kind: 'DeploymentTarget', metadata: { name: 'dev' }, spec: { environment: 'development', namespace: 'kidp-dev' } },
    { apiVersion: V, kind: 'Application', metadata: { name: 'checkout', namespace: 'payments' }, spec: { owner: { kind: 'Team', name: 'payments' }, environment: 'production' } },
    { apiVersion: V, kind: 'Application', metadata: { name: 'indexer', namespace: 'shared' }, spec: { owner: { kind: 'Team', name: 'search' } } },
    { apiVersion: V, kind: 'Topic', metadata: { name: 'events', namespace: 'payments' }, spec: { owner: { kind: 'Team', name: 'payments' } } },
    { apiVersion: V, kind: 'Database', metadata: { name: 'db', namespace: 'payments' }, spec: { owner: { kind: 'Application', name: 'checkout' } } },
  ];
  for (const o of objects) view.upsert(o);
  return view;
}

export function request(operation: Operation, kind: string, object: KubeObject | undefined, extra: Partial<AdmissionRequest> = {}): AdmissionRequest {
  const plural = `${kind.toLowerCase()}s`;
  return {
    uid: 'uid-1',
    kind: { group: 'platform.kidp.io', version: 'v1alpha1', kind },
    resource: { group: 'platform.kidp.io', version: 'v1alpha1', resource: plural },
    operation,
    userInfo: { username: 'alice', groups: ['payments-developers'] },
    name: object?.metadata?.name,
    namespace: object?.metadata?.namespace,
    object: operation === 'DELETE' ? null : object,
    ...extra,
  };
}

export function resource(kind: string, name: string, namespace: string | undefined, owner?: { kind: string; name: string }, spec: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: V, kind, metadata: { name, ...(namespace ? { namespace } : {}) }, spec: { ...(owner ? { owner } : {}), ...spec } };
}
