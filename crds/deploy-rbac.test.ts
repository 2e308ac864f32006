// deploy/ grants on KIDP's kinds by listing their plurals (kustomize cannot derive them):
// every list must be what the registry says, so a kind added to crds/ fails here, naming
// the file and the role to extend, instead of being silently unreadable on a real cluster.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { crdDirectory } from './index.js';
import { DEPLOYABLE_KINDS, kindInfo, PLATFORM_GROUP, PLATFORM_KINDS } from './registry.js';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}
interface Manifest {
  kind: string;
  metadata: { name: string };
  rules?: Rule[];
}

function platformRules(file: string, role: string): { resources: string[]; verbs: string[] }[] {
  const docs = parseAllDocuments(readFileSync(join(crdDirectory(), '..', 'deploy', file), 'utf8')).map((d) => d.toJS() as Manifest);
  const found = docs.find((m) => m.kind === 'ClusterRole' && m.metadata.name === role);
  return (found?.rules ?? []).filter((r) => r.apiGroups.includes(PLATFORM_GROUP)).map((r) => ({ resources: r.resources, verbs: r.verbs }));
}

describe('deploy/ RBAC on the KIDP kinds follows crds/registry.ts', () => {
  const every = PLATFORM_KINDS.map((k) => k.plural);

  it('deploy/rbac.yaml: the webhook reads every platform kind (ownership, policies, exceptions)', () => {
    expect(platformRules('rbac.yaml', 'kidp-webhook')).toEqual([{ resources: every, verbs: ['get', 'list', 'watch'] }]);
  });

  it('deploy/reports.yaml: the reports controller reads every platform kind and writes PolicyCompliant and impact', () => {
    const statuses = [...DEPLOYABLE_KINDS.map((k) => `${kindInfo(k).plural}/status`), `${kindInfo('Policy').plural}/status`];
    expect(platformRules('reports.yaml', 'kidp-reports')).toEqual([
      { resources: every, verbs: ['get', 'list', 'watch'] },
      { resources: statuses, verbs: ['get', 'patch'] },
    ]);
  });

  it('deploy/controllers.yaml: the controllers may read and update every kind of the group', () => {
    expect(platformRules('controllers.yaml', 'kidp-controllers')).toEqual([{ resources: ['*'], verbs: ['get', 'list', 'watch', 'update', 'patch'] }]);
  });
});
