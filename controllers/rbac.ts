// The two ClusterRoles KIDP grants through (issue 5 item 2). Team RoleBindings point at
// kidp-team-developer inside the team's namespaces; kidp-platform-admin is bound by the
// platform team at cluster scope (not by KIDP: who administers the platform is their call).
import { DEPLOYABLE_KINDS, kindInfo, MANAGED_BY, PLATFORM_GROUP, REPORTS_GROUP, type KindName } from '../crds/registry.js';

const GROUP = PLATFORM_GROUP;
const LABELS = MANAGED_BY;
/** What developers write themselves; the other deployables (data services) they only read. */
const DEVELOPER_WRITES: readonly KindName[] = ['Application', 'Service'];

export const TEAM_DEVELOPER_ROLE = 'kidp-team-developer';
export const PLATFORM_ADMIN_ROLE = 'kidp-platform-admin';

type ClusterRole = {
  apiVersion: 'rbac.authorization.k8s.io/v1';
  kind: 'ClusterRole';
  metadata: { name: string; labels: Record<string, string> };
  rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>;
};

export function clusterRoles(): ClusterRole[] {
  const read = ['get', 'list', 'watch'];
  const write = [...read, 'create', 'update', 'patch', 'delete'];
  const plural = (k: KindName) => kindInfo(k).plural;
  const readOnly = DEPLOYABLE_KINDS.filter((k) => !DEVELOPER_WRITES.includes(k));
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: TEAM_DEVELOPER_ROLE, labels: LABELS },
      rules: [
        { apiGroups: [GROUP], resources: DEVELOPER_WRITES.map(plural), verbs: write },
        { apiGroups: [GROUP], resources: [...DEVELOPER_WRITES.map((k) => `${plural(k)}/status`), ...readOnly.flatMap((k) => [plural(k), `${plural(k)}/status`])], verbs: read },
        { apiGroups: [REPORTS_GROUP], resources: [plural('PolicyReport')], verbs: read },
        { apiGroups: [''], resources: ['events'], verbs: read },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: PLATFORM_ADMIN_ROLE, labels: LABELS },
      rules: [
        { apiGroups: [GROUP], resources: ['*'], verbs: ['*'] },
        { apiGroups: [REPORTS_GROUP], resources: [plural('PolicyReport'), plural('ClusterPolicyReport')], verbs: ['*'] },
        { apiGroups: [''], resources: ['namespaces', 'resourcequotas', 'events'], verbs: read },
        { apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'], verbs: read },
      ],
    },
  ];
}
