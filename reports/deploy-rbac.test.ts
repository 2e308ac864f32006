// deploy/reports.yaml grants the reports controller read access to the core kinds Policies
// may select: it must cover every kind the admission webhook knows (CORE_RESOURCES), so a
// Policy that admission enforces on a core kind is also audited on a real cluster.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CORE_RESOURCES } from '../admission/index.js';
import { crdDirectory } from '../crds/index.js';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}
interface Manifest {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  rules?: Rule[];
  aggregationRule?: { clusterRoleSelectors: { matchLabels: Record<string, string> }[] };
  subjects?: { name: string }[];
  roleRef?: { name: string };
}

const manifests = parseAllDocuments(readFileSync(join(crdDirectory(), '..', 'deploy', 'reports.yaml'), 'utf8')).map((d) => d.toJS() as Manifest);
const byName = (kind: string, name: string) => manifests.find((m) => m.kind === kind && m.metadata.name === name);

describe('deploy/reports.yaml RBAC', () => {
  const aggregate = byName('ClusterRole', 'kidp-reports-audit');
  const selector = aggregate?.aggregationRule?.clusterRoleSelectors[0]?.matchLabels ?? {};
  const aggregated = manifests.filter((m) => m.kind === 'ClusterRole' && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => m.metadata.labels?.[k] === v));

  it('binds the aggregated audit ClusterRole to the reports controller', () => {
    expect(Object.keys(selector)).toEqual(['platform.kidp.io/aggregate-to-reports-audit']);
    expect(byName('ClusterRoleBinding', 'kidp-reports-audit')).toMatchObject({ roleRef: { name: 'kidp-reports-audit' }, subjects: [{ name: 'kidp-reports' }] });
  });

  it('lets it get, list and watch every core kind the admission webhook knows, and no Secret', () => {
    const granted = new Set<string>();
    for (const role of aggregated) {
      for (const rule of role.rules ?? []) {
        if (rule.resourceNames || !['get', 'list', 'watch'].every((v) => rule.verbs.includes(v))) continue;
        for (const g of rule.apiGroups) for (const r of rule.resources) granted.add(`${r}.${g}`);
      }
    }
    const needed = Object.values(CORE_RESOURCES).map((c) => `${c.resource}.${c.group}`);
    // Namespaces come with the controller's own ClusterRole (it watches them for every scope).
    expect(needed.filter((n) => n !== 'namespaces.' && !granted.has(n))).toEqual([]);
    expect([...granted].filter((g) => g.startsWith('secrets.') || g.startsWith('*'))).toEqual([]);
  });

  it('lets it write ValidatingAdmissionPolicies and bindings for Native Policies, and nothing else in admissionregistration', () => {
    const own = byName('ClusterRole', 'kidp-reports');
    const admission = (own?.rules ?? []).filter((r) => r.apiGroups.includes('admissionregistration.k8s.io'));
    expect(admission).toEqual([{ apiGroups: ['admissionregistration.k8s.io'], resources: ['validatingadmissionpolicies', 'validatingadmissionpolicybindings'], verbs: ['get', 'create', 'patch', 'delete'] }]);
  });
});
