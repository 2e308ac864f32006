import type { Team } from '../crds/types.js';
import { reconcileTeam } from './team.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const T = '2026-03-01T12:00:00Z';
const UID = 'team-uid';

function team(over: Partial<Team['spec']> = {}, status?: Team['status']): Team {
  const t: Team = {
    apiVersion: 'platform.kidp.io/v1alpha1',
    kind: 'Team',
    metadata: { name: 'payments', uid: UID, generation: 3, resourceVersion: '7' },
    spec: { displayName: 'Payments', costCenter: 'CC-1042', members: [{ kind: 'Group', name: 'payments-developers' }, { kind: 'User', name: 'alice@example.com', role: 'admin' }], namespaces: ['payments'], quota: { cpu: '20', memory: '64Gi', pods: 200 }, ...over },
  };
  if (status) t.status = status;
  return t;
}
const labels = { 'platform.kidp.io/team': 'payments', 'platform.kidp.io/managed-by': 'kidp' };
const owner = [{ apiVersion: 'platform.kidp.io/v1alpha1', kind: 'Team', name: 'payments', uid: UID, controller: true, blockOwnerDeletion: false }];
const teamRef = { apiVersion: 'platform.kidp.io/v1alpha1', kind: 'Team', plural: 'teams', name: 'payments', uid: UID };
const subjects = [
  { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'payments-developers' },
  { apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice@example.com' },
];
const ns = (name: string) => ({ type: 'apply', object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } } });
const rb = (namespace: string) => ({
  type: 'apply',
  object: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'kidp-team-developers', namespace, labels, ownerReferences: owner }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kidp-team-developer' }, subjects },
});
const quota = (namespace: string) => ({ type: 'apply', object: { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'kidp-team-quota', namespace, labels, ownerReferences: owner }, spec: { hard: { 'requests.cpu': '20', 'requests.memory': '64Gi', pods: '200' } } } });
const readyTrue = (message: string) => ({ type: 'Ready', status: 'True' as const, observedGeneration: 3, lastTransitionTime: T, reason: 'Reconciled', message });

describe('reconcileTeam', () => {
  it.each([
    {
      name: 'new team: namespace, RoleBinding, quota; status Ready with namespaces; Event',
      team: team(),
      namespaces: [],
      expected: [
        ns('payments'),
        rb('payments'),
        quota('payments'),
        { type: 'status', ref: teamRef, resourceVersion: '7', status: { phase: 'Ready', observedGeneration: 3, namespaces: ['payments'], conditions: [readyTrue('1 namespace(s) with RoleBinding kidp-team-developers and ResourceQuota kidp-team-quota')] } },
        { type: 'event', ref: teamRef, eventType: 'Normal', reason: 'Ready', message: 'phase none -> Ready: 1 namespace(s) with RoleBinding kidp-team-developers and ResourceQuota kidp-team-quota' },
      ],
    },
    {
      name: 'already Ready: applies again (idempotent server-side apply) but writes no status and no event',
      team: team({}, { phase: 'Ready', observedGeneration: 3, namespaces: ['payments'], conditions: [readyTrue('1 namespace(s) with RoleBinding kidp-team-developers and ResourceQuota kidp-team-quota')] }),
      namespaces: [{ name: 'payments', labels }],
      expected: [ns('payments'), rb('payments'), quota('payments')],
    },
    {
      name: "another team's namespace is left alone and reported; no quota means the quota is deleted; a dropped namespace loses access and quota",
      team: team({ namespaces: ['shared', 'payments-b'], quota: undefined }),
      namespaces: [
        { name: 'shared', labels: { 'platform.kidp.io/team': 'search' } },
        { name: 'payments', labels },
      ],
      expected: [
        ns('payments-b'),
        rb('payments-b'),
        { type: 'delete', ref: { apiVersion: 'v1', kind: 'ResourceQuota', plural: 'resourcequotas', namespace: 'payments-b', name: 'kidp-team-quota' } },
        { type: 'delete', ref: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', plural: 'rolebindings', namespace: 'payments', name: 'kidp-team-developers' } },
        { type: 'delete', ref: { apiVersion: 'v1', kind: 'ResourceQuota', plural: 'resourcequotas', namespace: 'payments', name: 'kidp-team-quota' } },
        {
          type: 'status',
          ref: teamRef,
          resourceVersion: '7',
          status: {
            phase: 'Failed',
            observedGeneration: 3,
            namespaces: ['payments-b'],
            conditions: [{ type: 'Ready', status: 'False', observedGeneration: 3, lastTransitionTime: T, reason: 'NamespaceOwnedByOtherTeam', message: 'namespaces belong to another team and were left alone: shared (team search); remove them from spec.namespaces' }],
          },
        },
        { type: 'event', ref: teamRef, eventType: 'Warning', reason: 'Failed', message: 'phase none -> Failed: namespaces belong to another team and were left alone: shared (team search); remove them from spec.namespaces' },
      ],
    },
  ])('$name', ({ team: t, namespaces, expected }) => {
    expect(reconcileTeam({ team: t, namespaces, now: NOW })).toEqual(expected);
  });
});
