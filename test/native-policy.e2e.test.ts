// Issue 17 item 4 on the real apiserver: a Policy with spec.enforcement: Native is enforced
// by a ValidatingAdmissionPolicy that the reports controller generates and keeps in step;
// the webhook stops evaluating it (and stops being called for its kinds). The built-in
// policies on core kinds give the same verdicts in both modes, as a tenant (not cluster
// admin) sees them through kubectl; exceptions fold in and stop exempting when they
// expire; Warn shows as a kubectl warning; a Policy that cannot be native is refused.
// Everything here is named `nat-*` / `kidp-nat-*` and removed at the end.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { parse as parseYaml } from 'yaml';
import { serveWebhook, type RunningWebhook } from '../admission/serve.js';
import { runReports, type RunningReports } from '../reports/index.js';
import { kubectl, kubectlOk, type KubectlResult } from './kubectl.js';
import { poll } from './until.js';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const controlPlane = join(root, 'test', 'env', 'control-plane', 'control-plane.sh');
const work = mkdtempSync(join(tmpdir(), 'kidp-native-e2e-'));
const run = Date.now().toString(36);
const TEAM_NS = `nat-team-${run}`;
const PLAIN_NS = `nat-plain-${run}`;
const V = 'platform.kidp.io/v1alpha1';
const json = (o: unknown) => JSON.stringify(o);
const until = async <T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> => (await poll(what, probe, { timeoutMs, intervalMs: 200 })).value;

interface SuiteCase {
  name: string;
  object: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } };
  operation?: string;
  userInfo?: unknown;
  oldObject?: unknown;
  exceptions?: unknown;
  expect: { verdict: string };
}

type Mode = 'webhook' | 'native';
let webhook: RunningWebhook;
let reports: RunningReports;
let tenant: string;

/** kubectl as the tenant nina (a client certificate, no system: name, RBAC below). */
const asTenant = (args: string[], input?: string): Promise<KubectlResult> => kubectl(['--kubeconfig', tenant, ...args], input !== undefined ? { input } : {});

async function policyObject(name: string): Promise<{ metadata: { generation: number }; status?: { conditions?: { type: string; status: string; observedGeneration?: number; message: string }[] } }> {
  return JSON.parse(await kubectlOk(['get', 'policy', name, '-o', 'json'])) as never;
}

/** Waits until the Policy is enforced the way `mode` says, and the webhook configuration agrees. */
async function settle(name: string, mode: Mode, resource: string): Promise<void> {
  await until(`Policy ${name} enforced by ${mode}`, async () => {
    const p = await policyObject(name);
    const c = p.status?.conditions?.find((x) => x.type === 'NativeEnforced');
    const native = c?.status === 'True' && c.observedGeneration === p.metadata.generation;
    if (native !== (mode === 'native')) return undefined;
    const vap = await kubectl(['get', 'validatingadmissionpolicy', `kidp-${name}`, '-o', 'name']);
    if ((vap.code === 0) !== (mode === 'native')) return undefined;
    // The webhook sends its kinds only while it evaluates them: natively enforced, the
    // apiserver no longer calls KIDP for them at all.
    const config = await kubectl(['get', 'validatingwebhookconfiguration', 'kidp', '-o', 'json']);
    const rules = config.code === 0 ? config.stdout : '';
    return rules.includes(`"${resource}"`) === (mode === 'webhook') ? true : undefined;
  }, 60_000);
}

function casesOf(suite: string, kind: string): SuiteCase[] {
  const doc = parseYaml(readFileSync(join(root, 'policies', suite, 'tests.yaml'), 'utf8')) as { cases: SuiteCase[] };
  // A label value the apiserver itself refuses (the suites test messages for them) never reaches admission.
  const validLabels = (c: SuiteCase) => Object.values(c.object.metadata.labels ?? {}).every((v) => /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v));
  // A system Namespace exists already: a create of it is refused before admission (409).
  const creatable = (c: SuiteCase) => c.object.kind !== 'Namespace' || !(['default', 'kube-system', 'kube-public', 'kube-node-lease'].includes(c.object.metadata.name) || c.object.metadata.name.startsWith('kidp-'));
  return doc.cases.filter((c) => c.object?.kind === kind && !c.userInfo && !c.oldObject && !c.exceptions && (c.operation ?? 'CREATE') === 'CREATE' && validLabels(c) && creatable(c));
}

/** The suite's object moved into this run's namespaces (payments → team namespace, others → plain). */
function placed(c: SuiteCase): SuiteCase['object'] {
  const o = structuredClone(c.object);
  if (o.kind === 'Namespace') o.metadata.name = `nat-${o.metadata.name}-${run}`;
  else o.metadata.namespace = o.metadata.namespace === 'payments' ? TEAM_NS : PLAIN_NS;
  return o;
}

async function verdicts(cases: SuiteCase[]): Promise<{ name: string; denied: boolean; stderr: string }[]> {
  const out = [];
  for (const c of cases) {
    const r = await asTenant(['create', '--dry-run=server', '-f', '-'], json(placed(c)));
    if (r.code !== 0 && !/denied/.test(r.stderr)) throw new Error(`case ${c.name}: kubectl failed for another reason: ${r.stderr}`);
    out.push({ name: c.name, denied: r.code !== 0, stderr: r.stderr });
  }
  return out;
}

async function setEnforcement(name: string, enforcement: 'Webhook' | 'Native'): Promise<void> {
  await kubectlOk(['patch', 'policy', name, '--type', 'merge', '-p', json({ spec: { enforcement } })]);
}

beforeAll(async () => {
  tenant = execFileSync('bash', [controlPlane, 'identity', 'user', 'nina', 'nat-developers'], { encoding: 'utf8', env: process.env }).trim();
  await kubectlOk(['apply', '-f', '-'], {
    input: json({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: TEAM_NS, labels: { 'platform.kidp.io/team': 'payments', 'cost-center': 'cc-1234' } } },
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: PLAIN_NS, labels: { 'cost-center': 'cc-0001' } } },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'nat-developer' }, rules: [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['create'] }, { apiGroups: [''], resources: ['namespaces'], verbs: ['create'] }] },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'nat-developer' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'nat-developer' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'nat-developers' }] },
      ],
    }),
  });
  webhook = await serveWebhook({ kubeconfig: process.env.KUBECONFIG, host: '127.0.0.1', port: 0, certDir: join(work, 'certs'), registerUrl: true, registrationSyncMs: 300, logger: pino({ level: 'silent' }) });
  // Right after the environment starts the apiserver may answer 429 while CRD storage comes
  // up, and the webhook's informers retry: wait until it answers for real.
  await until('the webhook to sync its informers', async () => {
    const r = await kubectl(['apply', '--dry-run=server', '-f', join(root, 'policies', 'cost-center-label', 'policy.yaml')]);
    return r.code === 0 ? true : undefined;
  }, 60_000);
  reports = await runReports({ kubeconfig: process.env.KUBECONFIG, namespaces: [TEAM_NS, PLAIN_NS], debounceMs: 50, logger: pino({ level: 'silent' }) });
}, 120_000);

afterAll(async () => {
  await kubectl(['delete', 'policyexception', '-n', TEAM_NS, '--all', '--ignore-not-found']);
  for (const p of ['deployment-pod-security', 'cost-center-label', 'nat-warn', 'nat-not-native']) await kubectl(['delete', 'policy', p, '--ignore-not-found']);
  // The reports controller deletes what it generated once the Policies are gone.
  await until('generated VAPs removed', async () => ((await kubectl(['get', 'validatingadmissionpolicy', '-l', 'platform.kidp.io/managed-by=kidp', '-o', 'name'])).stdout.trim() === '' ? true : undefined)).catch(() => undefined);
  await reports?.stop();
  await webhook?.stop();
  await kubectl(['delete', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', 'kidp', '--ignore-not-found']);
  await kubectl(['delete', 'clusterrolebinding,clusterrole', 'nat-developer', '--ignore-not-found']);
  await kubectl(['delete', 'namespace', TEAM_NS, PLAIN_NS, '--wait=false', '--ignore-not-found']);
}, 90_000);

describe.each([
  ['deployment-pod-security', 'Deployment', 'deployments'],
  ['cost-center-label', 'Namespace', 'namespaces'],
])('built-in policy %s: the same verdicts and messages enforced by the webhook and natively', (policy, kind, resource) => {
  const cases = casesOf(policy, kind);
  const seen: Partial<Record<Mode, { name: string; denied: boolean; stderr: string }[]>> = {};

  it('has cases of both verdicts', () => {
    expect(cases.filter((c) => c.expect.verdict === 'DENIED').length).toBeGreaterThan(0);
    expect(cases.filter((c) => c.expect.verdict === 'ADMITTED').length).toBeGreaterThan(0);
  });

  it('webhook: every case gets the suite verdict', async () => {
    await kubectlOk(['apply', '-f', join(root, 'policies', policy, 'policy.yaml')]);
    await settle(policy, 'webhook', resource);
    seen.webhook = await verdicts(cases);
    expect(seen.webhook.map((v) => [v.name, v.denied])).toEqual(cases.map((c) => [c.name, c.expect.verdict === 'DENIED']));
  }, 90_000);

  it('native: the same verdicts, the first failing rule with the same text, and the webhook no longer called', async () => {
    await setEnforcement(policy, 'Native');
    await settle(policy, 'native', resource);
    const before = await webhook.server.metrics.registry.getSingleMetricAsString('kidp_admission_requests_total');
    seen.native = await verdicts(cases);
    expect(seen.native.map((v) => [v.name, v.denied])).toEqual(seen.webhook!.map((v) => [v.name, v.denied]));
    for (const [i, v] of seen.native.entries()) {
      if (!v.denied) continue;
      // The apiserver names the VAP and reports the first failing rule; KIDP lists every one.
      const m = /ValidatingAdmissionPolicy 'kidp-[^']+' with binding 'kidp-[^']+' denied request: (.*)$/m.exec(v.stderr);
      expect([v.name, m?.[1] !== undefined]).toEqual([v.name, true]);
      expect(seen.webhook![i]!.stderr).toContain(m![1]!.trim());
    }
    const after = await webhook.server.metrics.registry.getSingleMetricAsString('kidp_admission_requests_total');
    expect(after).toBe(before);
  }, 90_000);

  it('back to the webhook: the generated objects go and the webhook answers again', async () => {
    await setEnforcement(policy, 'Webhook');
    await settle(policy, 'webhook', resource);
    const again = await verdicts(cases);
    expect(again.map((v) => [v.name, v.denied])).toEqual(seen.webhook!.map((v) => [v.name, v.denied]));
  }, 90_000);
});

describe('native enforcement of exceptions, modes and refusals', () => {
  const deployment = (name: string, image: string) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: TEAM_NS },
    spec: {
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { securityContext: { runAsNonRoot: true }, containers: [{ name: 'app', image, resources: { limits: { cpu: '1', memory: '256Mi' } } }] } },
    },
  });

  it('a PolicyException folds into the VAP and stops exempting when it expires', async () => {
    await kubectlOk(['apply', '-f', join(root, 'policies', 'deployment-pod-security', 'policy.yaml')]);
    await setEnforcement('deployment-pod-security', 'Native');
    await settle('deployment-pod-security', 'native', 'deployments');
    const latest = json(deployment('legacy-api', 'registry.kidp.io/payments/api:latest'));
    const refused = await asTenant(['create', '--dry-run=server', '-f', '-'], latest);
    expect(refused.stderr).toContain("deployment-pod-security/no-latest-tag: containers app must pin an image version (not :latest)");

    const expiresAt = new Date(Date.now() + 20_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    await kubectlOk(['apply', '-f', '-'], {
      input: json({ apiVersion: V, kind: 'PolicyException', metadata: { name: 'nat-legacy', namespace: TEAM_NS }, spec: { policyName: 'deployment-pod-security', ruleNames: ['no-latest-tag'], match: { resourceTypes: ['Deployment.apps'], names: ['legacy-*'] }, expiresAt, reason: 'migration', approvedBy: 'platform-team' } }),
    });
    await until('the exception folded into the VAP', async () => ((await policyObject('deployment-pod-security')).status?.conditions?.find((c) => c.type === 'NativeEnforced')?.message.includes(`${TEAM_NS}/nat-legacy`) ? true : undefined));
    const exempted = await asTenant(['create', '--dry-run=server', '-f', '-'], latest);
    expect([exempted.code, exempted.stderr]).toEqual([0, '']);
    // Only what it names: another Deployment with the same image is still refused.
    expect((await asTenant(['create', '--dry-run=server', '-f', '-'], json(deployment('api', 'registry.kidp.io/payments/api:latest')))).code).not.toBe(0);
    // The moment it expires (the VAP is regenerated then), the tenant is refused again.
    const { ms } = await poll('the exception to stop exempting', async () => ((await asTenant(['create', '--dry-run=server', '-f', '-'], latest)).code !== 0 ? true : undefined), { timeoutMs: 40_000, intervalMs: 200 });
    const late = Date.now() - Date.parse(expiresAt);
    expect(late).toBeLessThan(5_000);
    expect(ms).toBeGreaterThan(0);
  }, 120_000);

  it('Warn: the tenant is admitted and kubectl prints the rule', async () => {
    await kubectlOk(['apply', '-f', '-'], {
      input: json({ apiVersion: V, kind: 'Policy', metadata: { name: 'nat-warn' }, spec: { mode: 'Warn', enforcement: 'Native', selector: { resourceTypes: ['Deployment.apps'] }, rules: [{ name: 'replicas', expression: 'has(spec.replicas) && spec.replicas >= 2', message: 'run at least 2 replicas' }] } }),
    });
    // deployment-pod-security is still Native from the test above: no webhook rule for deployments.
    await settle('nat-warn', 'native', 'deployments');
    const r = await asTenant(['create', '--dry-run=server', '-f', '-'], json(deployment('one', 'registry.kidp.io/payments/api:1.0.0')));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("Warning: Validation failed for ValidatingAdmissionPolicy 'kidp-nat-warn' with binding 'kidp-nat-warn': nat-warn/replicas: run at least 2 replicas");
  }, 90_000);

  it('a Policy that cannot be native is refused at admission with the reason, and nothing is generated', async () => {
    const r = await kubectl(['apply', '-f', '-'], {
      input: json({ apiVersion: V, kind: 'Policy', metadata: { name: 'nat-not-native' }, spec: { mode: 'Enforce', enforcement: 'Native', selector: { resourceTypes: ['Deployment.apps'] }, variables: [{ name: 'n', expression: 'object.metadata.name' }], matchConditions: [{ name: 'named', expression: "variables.n != ''" }], rules: [{ name: 'r', expression: 'true' }] } }),
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('cannot be enforced natively (spec.enforcement: Native): matchCondition "named" reads variables');
    expect((await kubectl(['get', 'policy', 'nat-not-native'])).code).not.toBe(0);
    expect((await kubectl(['get', 'validatingadmissionpolicy', 'kidp-nat-not-native'])).code).not.toBe(0);
  }, 60_000);
});
