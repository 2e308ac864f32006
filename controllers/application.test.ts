import type { Application, Service, Topic } from '../crds/types.js';
import { reconcileApplication } from './application.js';
import type { Deployable } from './deployable.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const T = '2026-03-01T12:00:00Z';
const app = (status?: Application['status']): Application => ({
  apiVersion: 'platform.kidp.io/v1alpha1',
  kind: 'Application',
  metadata: { name: 'checkout', namespace: 'payments', uid: 'app-uid', generation: 1, resourceVersion: '9' },
  spec: { owner: { kind: 'Team', name: 'payments' } },
  ...(status ? { status } : {}),
});
const svc = (name: string, phase?: 'Ready' | 'Failed' | 'Deploying', owner = 'checkout', namespace = 'payments'): Service => ({
  apiVersion: 'platform.kidp.io/v1alpha1',
  kind: 'Service',
  metadata: { name, namespace },
  spec: { owner: { kind: 'Application', name: owner }, image: 'x:1' },
  ...(phase ? { status: { phase } } : {}),
});
const teamTopic: Topic = { apiVersion: 'platform.kidp.io/v1alpha1', kind: 'Topic', metadata: { name: 't', namespace: 'payments' }, spec: { owner: { kind: 'Team', name: 'checkout' } }, status: { phase: 'Failed' } };
const ref = { apiVersion: 'platform.kidp.io/v1alpha1', kind: 'Application', plural: 'applications', namespace: 'payments', name: 'checkout', uid: 'app-uid' };
const cond = (status: string, reason: string, message: string) => [{ type: 'Ready', status, observedGeneration: 1, lastTransitionTime: T, reason, message }];

describe('reconcileApplication', () => {
  it.each<{ name: string; app: Application; resources: Deployable[]; expected: unknown[] }>([
    {
      name: 'owns nothing: Ready with zero counts',
      app: app(),
      resources: [teamTopic, svc('other', 'Failed', 'billing'), svc('elsewhere', 'Failed', 'checkout', 'search')],
      expected: [
        { type: 'status', ref, resourceVersion: '9', status: { phase: 'Ready', observedGeneration: 1, resources: { total: 0, ready: 0, failed: 0 }, conditions: cond('True', 'AllResourcesReady', 'owns no resources yet') } },
        { type: 'event', ref, eventType: 'Normal', reason: 'Ready', message: 'phase none -> Ready: owns no resources yet' },
      ],
    },
    {
      name: 'some not ready: Pending, naming what it waits for',
      app: app(),
      resources: [svc('b', 'Deploying'), svc('a', 'Ready'), svc('c')],
      expected: [
        { type: 'status', ref, resourceVersion: '9', status: { phase: 'Pending', observedGeneration: 1, resources: { total: 3, ready: 1, failed: 0 }, conditions: cond('False', 'ResourcesNotReady', '1 of 3 ready; waiting for Service b, Service c') } },
        { type: 'event', ref, eventType: 'Normal', reason: 'Pending', message: 'phase none -> Pending: 1 of 3 ready; waiting for Service b, Service c' },
      ],
    },
    {
      name: 'one failed: Failed with a Warning',
      app: app({ phase: 'Pending' }),
      resources: [svc('a', 'Ready'), svc('b', 'Failed')],
      expected: [
        { type: 'status', ref, resourceVersion: '9', status: { phase: 'Failed', observedGeneration: 1, resources: { total: 2, ready: 1, failed: 1 }, conditions: cond('False', 'ResourcesFailed', '1 of 2 failed: Service b') } },
        { type: 'event', ref, eventType: 'Warning', reason: 'Failed', message: 'phase Pending -> Failed: 1 of 2 failed: Service b' },
      ],
    },
    {
      name: 'all ready and already recorded: nothing',
      app: app({ phase: 'Ready', observedGeneration: 1, resources: { total: 2, ready: 2, failed: 0 }, conditions: cond('True', 'AllResourcesReady', 'all 2 resources ready') as never }),
      resources: [svc('a', 'Ready'), svc('b', 'Ready')],
      expected: [],
    },
  ])('$name', ({ app: a, resources, expected }) => {
    expect(reconcileApplication({ application: a, resources, now: NOW })).toEqual(expected);
  });
});
