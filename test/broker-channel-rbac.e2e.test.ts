// Issue 10 item 6 on the real apiserver: the RBAC deploy/ ships, applied for real, and
// checked the way an attacker holding a service-account token would find out what it can
// do — `kubectl auth can-i --as=system:serviceaccount:...`, then real attempts.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { kubectl, kubectlOk } from './kubectl.js';
import { clusterRoles } from '../controllers/rbac.js';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const BROKER = 'system:serviceaccount:kidp-system:kidp-broker-kubernetes';
const CONTROLLERS = 'system:serviceaccount:kidp-system:kidp-controllers';
const TEAM_NS = `rbac-e2e-${Date.now().toString(36)}`;
const RBAC_KINDS = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

let rbacObjects: Obj[] = [];

async function canI(as: string, args: string[]): Promise<string> {
  const r = await kubectl(['auth', 'can-i', ...args, `--as=${as}`]);
  return r.stdout.trim() || r.stderr.trim();
}

beforeAll(async () => {
  for (const ns of ['kidp-system', 'kidp-workloads', 'kafka']) await kubectl(['create', 'namespace', ns]);
  // A registered local webhook (clientConfig.url) would clash with deploy/'s service reference.
  await kubectl(['delete', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', 'kidp', '--ignore-not-found']);
  await kubectlOk(['apply', '-k', join(root, 'deploy'), '--dry-run=server']);
  const rendered = await kubectlOk(['kustomize', join(root, 'deploy')]);
  rbacObjects = YAML.parseAllDocuments(rendered)
    .map((d) => d.toJSON() as Obj)
    .filter((o) => RBAC_KINDS.has(o.kind));
  await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rbacObjects }) });
}, 120_000);

afterAll(async () => {
  if (rbacObjects.length > 0) await kubectl(['delete', '-f', '-', '--ignore-not-found'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rbacObjects }) });
}, 60_000);

describe("deploy/'s RBAC on the real apiserver", () => {
  it('the broker reads and writes Secrets only in its target namespace, and nothing of the platform', async () => {
    const checks: Array<[string, string[]]> = [
      ['get secrets in kidp-workloads', ['get', 'secrets', '-n', 'kidp-workloads']],
      ['create deployments in kidp-workloads', ['create', 'deployments.apps', '-n', 'kidp-workloads']],
      ['get deploymenttargets', ['get', 'deploymenttargets.platform.kidp.io']],
      ['get secrets in kidp-system', ['get', 'secrets', '-n', 'kidp-system']],
      ['get secrets in kube-system', ['get', 'secrets', '-n', 'kube-system']],
      ['list secrets cluster-wide', ['list', 'secrets', '--all-namespaces']],
      ['create deployments in kube-system', ['create', 'deployments.apps', '-n', 'kube-system']],
      ['create namespaces', ['create', 'namespaces']],
      ['create rolebindings in kidp-workloads', ['create', 'rolebindings.rbac.authorization.k8s.io', '-n', 'kidp-workloads']],
    ];
    const answers = Object.fromEntries(await Promise.all(checks.map(async ([what, args]) => [what, await canI(BROKER, args)] as const)));
    expect(answers).toEqual({
      'get secrets in kidp-workloads': 'yes',
      'create deployments in kidp-workloads': 'yes',
      'get deploymenttargets': 'yes',
      'get secrets in kidp-system': 'no',
      'get secrets in kube-system': 'no',
      'list secrets cluster-wide': 'no',
      'create deployments in kube-system': 'no',
      'create namespaces': 'no',
      'create rolebindings in kidp-workloads': 'no',
    });
    // Tried for real with the broker's identity: the apiserver refuses and says why.
    const read = await kubectl(['get', 'secrets', '-n', 'kidp-system', `--as=${BROKER}`]);
    expect({ code: read.code, stderr: read.stderr.trim() }).toEqual({
      code: 1,
      stderr: `Error from server (Forbidden): secrets is forbidden: User "${BROKER}" cannot list resource "secrets" in API group "" in the namespace "kidp-system"`,
    });
  });

  it('the controllers may bind only kidp-team-developer, and may not escalate or write ClusterRoles', async () => {
    const checks: Array<[string, string[]]> = [
      ['bind kidp-team-developer', ['bind', 'clusterroles.rbac.authorization.k8s.io/kidp-team-developer']],
      ['create rolebindings in a team namespace', ['create', 'rolebindings.rbac.authorization.k8s.io', '-n', 'payments']],
      ['bind cluster-admin', ['bind', 'clusterroles.rbac.authorization.k8s.io/cluster-admin']],
      ['bind kidp-platform-admin', ['bind', 'clusterroles.rbac.authorization.k8s.io/kidp-platform-admin']],
      ['escalate clusterroles', ['escalate', 'clusterroles.rbac.authorization.k8s.io']],
      ['create clusterroles', ['create', 'clusterroles.rbac.authorization.k8s.io']],
      ['update kidp-team-developer', ['update', 'clusterroles.rbac.authorization.k8s.io/kidp-team-developer']],
      ['get secrets in kidp-system', ['get', 'secrets', '-n', 'kidp-system']],
    ];
    const answers = Object.fromEntries(await Promise.all(checks.map(async ([what, args]) => [what, await canI(CONTROLLERS, args)] as const)));
    expect(answers).toEqual({
      'bind kidp-team-developer': 'yes',
      'create rolebindings in a team namespace': 'yes',
      'bind cluster-admin': 'no',
      'bind kidp-platform-admin': 'no',
      'escalate clusterroles': 'no',
      'create clusterroles': 'no',
      'update kidp-team-developer': 'no',
      'get secrets in kidp-system': 'no',
    });
    // The attack the verbs would allow, tried for real: granting itself cluster-admin.
    // Per run: namespaces never finish terminating here (no controller manager).
    await kubectl(['create', 'namespace', TEAM_NS]);
    const grab = await kubectl(
      ['create', 'rolebinding', 'grab', '-n', TEAM_NS, '--clusterrole=cluster-admin', `--serviceaccount=kidp-system:kidp-controllers`, `--as=${CONTROLLERS}`],
    );
    console.log(`controllers binding cluster-admin: ${grab.stderr.trim()}`);
    expect({ code: grab.code, stderr: grab.stderr.trim().replace(/ (user|User) ".*$/s, ' ...') }).toEqual({ code: 1, stderr: 'error: failed to create rolebinding: rolebindings.rbac.authorization.k8s.io "grab" is forbidden: ...' });
    const mine = await kubectl(['create', 'rolebinding', 'developers', '-n', TEAM_NS, '--clusterrole=kidp-team-developer', '--group=devs', `--as=${CONTROLLERS}`]);
    expect({ code: mine.code, stderr: mine.stderr.trim() }).toEqual({ code: 0, stderr: '' });
    await kubectl(['delete', 'namespace', TEAM_NS, '--wait=false']);
  });

  it("ships the ClusterRoles the Team controller grants through exactly as controllers/rbac.ts defines them", () => {
    const shipped = rbacObjects.filter((o) => o.kind === 'ClusterRole' && clusterRoles().some((r) => r.metadata.name === o.metadata.name));
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
    expect(shipped.map((o) => ({ name: o.metadata.name, rules: o['rules'] })).sort(byName)).toEqual(clusterRoles().map((r) => ({ name: r.metadata.name, rules: r.rules })).sort(byName));
  });
});
