// The two ClusterRoles KIDP grants through (issue 5 item 2). Team RoleBindings point at
// kidp-team-developer inside the team's namespaces; kidp-platform-admin is bound by the
// platform team at cluster scope (not by KIDP: who administers the platform is their call).
const GROUP = 'platform.kidp.io';
const LABELS = { 'platform.kidp.io/managed-by': 'kidp' };

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
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: TEAM_DEVELOPER_ROLE, labels: LABELS },
      rules: [
        { apiGroups: [GROUP], resources: ['applications', 'services'], verbs: write },
        { apiGroups: [GROUP], resources: ['applications/status', 'services/status', 'databases', 'databases/status', 'caches', 'caches/status', 'topics', 'topics/status'], verbs: read },
        { apiGroups: ['wgpolicyk8s.io'], resources: ['policyreports'], verbs: read },
        { apiGroups: [''], resources: ['events'], verbs: read },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: PLATFORM_ADMIN_ROLE, labels: LABELS },
      rules: [
        { apiGroups: [GROUP], resources: ['*'], verbs: ['*'] },
        { apiGroups: ['wgpolicyk8s.io'], resources: ['policyreports', 'clusterpolicyreports'], verbs: ['*'] },
        { apiGroups: [''], resources: ['namespaces', 'resourcequotas', 'events'], verbs: read },
        { apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'], verbs: read },
      ],
    },
  ];
}
