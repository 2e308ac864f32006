// deploy/ grants on KIDP's kinds by listing their plurals (kustomize cannot derive them), in
// blocks that crds/deploy-rbac.ts generates from the registry (npm run generate:deploy). The
// committed blocks must be the generated ones, and the generated ones must be the narrow
// grants below, so a kind added to crds/ reaches every role that reads all kinds, and no
// role silently widens.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { deployRbac, generatedDeployFiles, GENERATE_COMMAND, withGeneratedRules } from './deploy-rbac.js';
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

  it('deploy/controllers.yaml: the reference broker only reads DeploymentTargets and lists Databases (a Service\'s databaseSelector)', () => {
    expect(platformRules('controllers.yaml', 'kidp-broker-kubernetes')).toEqual([
      { resources: [kindInfo('DeploymentTarget').plural], verbs: ['get'] },
      { resources: [kindInfo('Database').plural], verbs: ['list'] },
    ]);
  });

  it('deploy/people.yaml: policy authors write Policies and PolicyExceptions and read the rest', () => {
    const policyKinds = ['policies', 'policyexceptions'];
    expect(platformRules('people.yaml', 'kidp-policy-author')).toEqual([
      { resources: policyKinds, verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
      { resources: [...every.filter((p) => !policyKinds.includes(p)), 'policies/status', 'policyexceptions/status'], verbs: ['get', 'list', 'watch'] },
    ]);
  });

  it(`every generated block is what the registry generates (${GENERATE_COMMAND})`, () => {
    const stale = [...generatedDeployFiles()].filter(([, f]) => f.committed !== f.generated).map(([file]) => `deploy/${file} is stale: run ${GENERATE_COMMAND} and commit the result`);
    expect(stale).toEqual([]);
  });

  it('every ClusterRole in deploy/ that grants on platform.kidp.io is generated', () => {
    const generated = new Set(deployRbac().map((e) => `${e.file}/${e.role}`));
    // team-roles.yaml is generated whole, by controllers/deploy-roles.ts.
    const files = readdirSync(join(crdDirectory(), '..', 'deploy')).filter((f) => f.endsWith('.yaml') && f !== 'team-roles.yaml');
    const granting = files.flatMap((file) =>
      parseAllDocuments(readFileSync(join(crdDirectory(), '..', 'deploy', file), 'utf8'))
        .map((d) => d.toJS() as Manifest | null)
        .filter((m): m is Manifest => m?.kind === 'ClusterRole' || m?.kind === 'Role')
        .filter((m) => (m.rules ?? []).some((r) => r.apiGroups.includes(PLATFORM_GROUP)))
        .map((m) => `${file}/${m.metadata.name}`),
    );
    expect(granting.filter((g) => !generated.has(g))).toEqual([]);
  });

  it('a file without the markers is an error that says how to fix it', () => {
    const entry = deployRbac()[0]!;
    expect(() => withGeneratedRules('rules:\n  - apiGroups: [platform.kidp.io]\n', entry)).toThrow(`deploy/rbac.yaml: ClusterRole kidp-webhook has no generated block`);
  });
});
