// Tenant isolation proven as real users (issue 11). Every row of the matrix below is one
// kubectl call against the real apiserver, as one identity: client certificates (CN=user,
// O=groups) signed by the apiserver's client CA, TokenRequest tokens of KIDP's service
// accounts, no credentials the apiserver accepts, or a home-made certificate. RBAC is what KIDP grants:
// deploy/'s ClusterRoles for its service accounts and people, the Team controller's
// RoleBindings (reconcileTeam, applied as the controllers' service account). The webhook
// runs as in deploy/: as its own service account with deploy/rbac.yaml, the configurations
// of deploy/webhook-configurations.yaml (pointed at 127.0.0.1: no Service routing here),
// which it keeps in step with the Policies, and only the apiserver's client certificate
// may send it reviews.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { parseAllDocuments } from 'yaml';
import { kubectl, kubectlOk, type KubectlResult } from './kubectl.js';
import { poll } from './until.js';
import { serveWebhook, type RunningWebhook } from '../admission/serve.js';
import { reconcileTeam } from '../controllers/team.js';
import type { Team } from '../crds/types.js';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const controlPlane = join(root, 'test', 'env', 'control-plane', 'control-plane.sh');
const work = mkdtempSync(join(tmpdir(), 'kidp-tenancy-e2e-'));
const V = 'platform.kidp.io/v1alpha1';
const json = (o: unknown) => JSON.stringify(o);
const PLATFORM_NS = 'kidp-system';
const NS_A = 'tenancy-a';
const NS_B = 'tenancy-b';
const NS_SHARED = 'tenancy-shared';
const NS_ORPHAN = 'tenancy-orphan';
const NS_WORKLOADS = 'tenancy-workloads';
const NS_WORKLOADS_DEV = 'tenancy-workloads-dev';
const APISERVER_CN = 'kube-apiserver-webhook-client';
/** The running local control plane's directory (test/env/control-plane). */
const CONTROL_PLANE_DIR = join(process.env.KIDP_RUN_DIR ?? `/tmp/kidp-run-${process.getuid?.() ?? ''}`, 'control-plane');

/** The webhook as deployed: a service account's credentials, configurations it updates but never creates, only the apiserver as client. */
function serveAsDeployed(kubeconfig: string): Promise<RunningWebhook> {
  return serveWebhook({
    kubeconfig,
    host: '127.0.0.1',
    port: 0,
    certDir: join(work, 'certs'),
    namespace: PLATFORM_NS,
    clientCaFile: join(CONTROL_PLANE_DIR, 'certs', 'ca.crt'),
    clientNames: [APISERVER_CN],
    registrationSyncMs: 500,
    logger: pino({ level: 'silent' }),
  });
}

type Identity = 'dev-a' | 'dev-b' | 'platform-admin' | 'policy-author' | 'anonymous' | 'forged-admin' | 'sa-controllers' | 'sa-broker' | 'sa-webhook' | 'sa-reports' | 'cluster-admin';
const kubeconfigs = {} as Record<Identity, string>;

function identity(...args: string[]): string {
  return execFileSync('bash', [controlPlane, 'identity', ...args], { encoding: 'utf8', env: process.env }).trim();
}

type Verdict = 'allowed' | 'forbidden' | 'denied' | 'unauthorized';

interface Row {
  who: Identity;
  /** What is tried, for the table: operation and resource. */
  op: string;
  resource: string;
  args: string[];
  input?: unknown | (() => Promise<unknown>);
  expect: Verdict;
  /** A part of kubectl's message that must be there (the reason a person reads). */
  says?: string;
  /** Waited for before the row runs (the webhook picking up a Policy, RBAC settling). */
  before?: () => Promise<unknown>;
}

function verdictOf(r: KubectlResult): Verdict {
  if (r.code === 0) return 'allowed';
  if (/denied the request/.test(r.stderr)) return 'denied';
  if (/Unauthorized|must be logged in/.test(r.stderr)) return 'unauthorized';
  if (/forbidden|cannot /i.test(r.stderr)) return 'forbidden';
  return 'denied';
}

const app = (name: string, namespace: string, team: string, environment = 'production') => ({
  apiVersion: V,
  kind: 'Application',
  metadata: { name, namespace },
  spec: { owner: { kind: 'Team', name: team }, environment },
});
const svc = (name: string, namespace: string, application: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: V,
  kind: 'Service',
  metadata: { name, namespace },
  spec: { owner: { kind: 'Application', name: application }, image: 'registry.kidp.io/tenancy/api:1.0.0', target: 'tenancy-prod', ...spec },
});
const team = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: V,
  kind: 'Team',
  metadata: { name },
  spec: { displayName: name, costCenter: 'CC-1100', members: [{ kind: 'Group', name: `${name}-developers` }], ...spec },
});
const target = (name: string, environment: string, namespace: string, isDefault = false) => ({
  apiVersion: V,
  kind: 'DeploymentTarget',
  metadata: { name },
  spec: { provider: 'kubernetes', environment, namespace, default: isDefault, broker: { identity: 'tenancy-broker', transport: 'kafka' } },
});
const job = (name: string, deadline?: number) => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name, namespace: NS_A },
  spec: { ...(deadline ? { activeDeadlineSeconds: deadline } : {}), template: { spec: { restartPolicy: 'Never', containers: [{ name: 'run', image: 'registry.kidp.io/tenancy/batch:1.0.0' }] } } },
});
const exception = (name: string, expiresAt: string, match: Record<string, unknown>) => ({
  apiVersion: V,
  kind: 'PolicyException',
  metadata: { name, namespace: NS_A },
  spec: { policyName: 'jobs-set-a-deadline', expiresAt, reason: 'migration of the legacy batch jobs', approvedBy: 'polly', match },
});
const days = (n: number) => new Date(Date.now() + n * 24 * 3600 * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
const apply = ['apply', '-f', '-'];
const create = ['create', '-f', '-'];
// A developer's first server-side apply takes over fields kubectl create set: --force-conflicts.
const ssa = ['apply', '--server-side', '--force-conflicts', '--field-manager=tenancy-e2e', '-f', '-'];

async function validatingRules(): Promise<string[]> {
  const config = JSON.parse(await kubectlOk(['get', 'validatingwebhookconfiguration', 'kidp', '-o', 'json'])) as { webhooks: Array<{ rules?: Array<{ resources: string[] }> }> };
  return config.webhooks.flatMap((w) => (w.rules ?? []).flatMap((r) => r.resources));
}

async function getJson(who: Identity, args: string[]): Promise<Record<string, unknown>> {
  return JSON.parse(await kubectlOk(['--kubeconfig', kubeconfigs[who], 'get', ...args, '-o', 'json'])) as Record<string, unknown>;
}

/** What the Team controller applies for a Team (controllers/team.ts), as its service account does. */
async function teamGrants(...names: string[]): Promise<unknown> {
  const items: unknown[] = [];
  for (const name of names) {
    const t = (await getJson('platform-admin', ['team', name])) as unknown as Team;
    const actions = reconcileTeam({ team: t, namespaces: [], now: new Date() });
    for (const a of actions) if (a.type === 'apply') items.push(a.object);
  }
  return { apiVersion: 'v1', kind: 'List', items };
}

const cannotYet = async (who: Identity, verb: string, resource: string, namespace: string): Promise<true | undefined> => {
  const r = await kubectl(['--kubeconfig', kubeconfigs[who], 'auth', 'can-i', verb, resource, '-n', namespace]);
  return r.stdout.trim() === 'yes' ? true : undefined;
};

let jobsRuleMs = 0;
let jobsRuleGoneMs = 0;

const rows: Row[] = [
  // Platform admins set up teams and targets; the webhook keeps them from claiming what is not theirs.
  { who: 'platform-admin', op: 'create', resource: 'DeploymentTarget tenancy-prod (production)', args: create, input: target('tenancy-prod', 'production', NS_WORKLOADS), expect: 'allowed' },
  { who: 'platform-admin', op: 'create', resource: 'DeploymentTarget tenancy-prod-eu (production)', args: create, input: target('tenancy-prod-eu', 'production', NS_WORKLOADS), expect: 'allowed' },
  { who: 'platform-admin', op: 'create', resource: 'DeploymentTarget tenancy-dev (development)', args: create, input: target('tenancy-dev', 'development', NS_WORKLOADS_DEV), expect: 'allowed' },
  { who: 'platform-admin', op: 'create', resource: `Team team-a (ns ${NS_A}, shares ${NS_SHARED})`, args: create, input: team('team-a', { namespaces: [NS_A], sharedNamespaces: [NS_SHARED] }), expect: 'allowed' },
  { who: 'platform-admin', op: 'create', resource: `Team team-b (ns ${NS_B})`, args: create, input: team('team-b', { namespaces: [NS_B] }), expect: 'allowed' },
  { who: 'platform-admin', op: 'create', resource: 'Team claiming kube-system', args: create, input: team('grabby', { namespaces: ['kube-system'] }), expect: 'denied', says: 'spec.namespaces: kube-system is a Kubernetes system namespace' },
  { who: 'platform-admin', op: 'create', resource: `Team claiming ${PLATFORM_NS}`, args: create, input: team('grabby', { namespaces: [PLATFORM_NS] }), expect: 'denied', says: `spec.namespaces: ${PLATFORM_NS} is KIDP's platform namespace` },
  { who: 'platform-admin', op: 'create', resource: "Team claiming a target's namespace", args: create, input: team('grabby', { namespaces: [NS_WORKLOADS] }), expect: 'denied', says: `spec.namespaces: ${NS_WORKLOADS} is where DeploymentTargets tenancy-prod, tenancy-prod-eu deploy workloads` },
  { who: 'platform-admin', op: 'create', resource: "Team claiming team-a's namespace", args: create, input: team('grabby', { namespaces: [NS_A] }), expect: 'denied', says: `spec.namespaces: ${NS_A} belongs to team team-a` },
  { who: 'platform-admin', op: 'patch', resource: "Team team-b sharing team-a's namespace", args: ['patch', 'team', 'team-b', '--type', 'merge', '-p', json({ spec: { sharedNamespaces: [NS_A] } })], expect: 'denied', says: `spec.sharedNamespaces: ${NS_A} belongs to team team-a` },
  { who: 'platform-admin', op: 'create', resource: "DeploymentTarget into team-a's namespace", args: create, input: target('sneaky', 'production', NS_A), expect: 'denied', says: `spec.namespace ${NS_A} is held by team team-a` },
  { who: 'dev-a', op: 'create', resource: 'Team', args: create, input: team('rogue', { namespaces: ['rogue'] }), expect: 'forbidden', says: 'User "ada" cannot create resource "teams"' },
  { who: 'dev-a', op: 'create', resource: 'DeploymentTarget', args: create, input: target('rogue', 'production', 'rogue'), expect: 'forbidden', says: 'cannot create resource "deploymenttargets"' },
  // The Team controller's grants, made as its service account.
  { who: 'sa-controllers', op: 'apply', resource: 'Namespaces + RoleBindings of team-a, team-b (reconcileTeam)', args: apply, input: () => teamGrants('team-a', 'team-b'), expect: 'allowed' },
  // Developers, in their namespace and the other team's.
  { who: 'dev-a', op: 'create', resource: `Application app-a (production) in ${NS_A}`, args: create, input: app('app-a', NS_A, 'team-a'), expect: 'allowed', before: () => poll('team-a RBAC', () => cannotYet('dev-a', 'create', 'applications.platform.kidp.io', NS_A), { timeoutMs: 10_000 }) },
  { who: 'dev-a', op: 'create', resource: `Service svc-a on tenancy-prod in ${NS_A}`, args: create, input: svc('svc-a', NS_A, 'app-a'), expect: 'allowed' },
  { who: 'dev-b', op: 'create', resource: `Application in ${NS_A} (team-a's)`, args: create, input: app('intruder', NS_A, 'team-b'), expect: 'forbidden', says: `User "bob" cannot create resource "applications" in API group "platform.kidp.io" in the namespace "${NS_A}"` },
  { who: 'dev-b', op: 'get', resource: `Services in ${NS_A}`, args: ['get', 'services.platform.kidp.io', '-n', NS_A], expect: 'forbidden', says: 'cannot list resource "services"' },
  { who: 'dev-b', op: 'delete', resource: `Service svc-a in ${NS_A}`, args: ['delete', 'services.platform.kidp.io', 'svc-a', '-n', NS_A, '--wait=false'], expect: 'forbidden', says: 'cannot delete resource "services"' },
  { who: 'dev-b', op: 'deletecollection', resource: `Services in ${NS_A}`, args: ['delete', '--raw', `/apis/platform.kidp.io/v1alpha1/namespaces/${NS_A}/services`], expect: 'forbidden', says: 'cannot deletecollection resource "services"' },
  { who: 'dev-b', op: 'create', resource: `Application owned by team-a in ${NS_B}`, args: create, input: app('fake-a', NS_B, 'team-a'), expect: 'denied', says: `namespace ${NS_B} belongs to team team-b, but this Application belongs to team team-a`, before: () => poll('team-b RBAC', () => cannotYet('dev-b', 'create', 'applications.platform.kidp.io', NS_B), { timeoutMs: 10_000 }) },
  { who: 'dev-b', op: 'create', resource: `Service in ${NS_B} owned by app-a of ${NS_A}`, args: create, input: svc('borrow', NS_B, 'app-a'), expect: 'denied', says: `spec.owner refers to Application app-a, which does not exist in namespace ${NS_B}` },
  { who: 'dev-b', op: 'create', resource: `Application app-b in ${NS_B}`, args: create, input: app('app-b', NS_B, 'team-b', 'development'), expect: 'allowed' },
  // Namespaces of no team, shared ones, reserved ones (bypass: "any user may create an Application owned by any Team").
  { who: 'platform-admin', op: 'create', resource: `Application of team-a in ${NS_ORPHAN} (no team)`, args: create, input: app('stray', NS_ORPHAN, 'team-a'), expect: 'denied', says: `namespace ${NS_ORPHAN} belongs to no team and team team-a does not share it` },
  { who: 'platform-admin', op: 'create', resource: `Application of team-a in ${NS_SHARED} (team-a shares it)`, args: create, input: app('shared-a', NS_SHARED, 'team-a'), expect: 'allowed' },
  { who: 'platform-admin', op: 'create', resource: `Application of team-b in ${NS_SHARED}`, args: create, input: app('shared-b', NS_SHARED, 'team-b'), expect: 'denied', says: `namespace ${NS_SHARED} belongs to no team and team team-b does not share it` },
  { who: 'platform-admin', op: 'create', resource: 'Topic of team-a in kube-system', args: create, input: { apiVersion: V, kind: 'Topic', metadata: { name: 'sneaky', namespace: 'kube-system' }, spec: { owner: { kind: 'Team', name: 'team-a' }, partitions: 3 } }, expect: 'denied', says: 'namespace kube-system is a Kubernetes system namespace' },
  { who: 'platform-admin', op: 'create', resource: `Topic of team-a in ${PLATFORM_NS}`, args: create, input: { apiVersion: V, kind: 'Topic', metadata: { name: 'sneaky', namespace: PLATFORM_NS }, spec: { owner: { kind: 'Team', name: 'team-a' }, partitions: 3 } }, expect: 'denied', says: `namespace ${PLATFORM_NS} is KIDP's platform namespace` },
  { who: 'platform-admin', op: 'create', resource: `Cache of team-a in ${NS_A}`, args: create, input: { apiVersion: V, kind: 'Cache', metadata: { name: 'sessions', namespace: NS_A }, spec: { owner: { kind: 'Team', name: 'team-a' }, engine: 'redis', environment: 'production', target: 'tenancy-prod' } }, expect: 'allowed' },
  // Environment binds to target (bypass: "a production Service says development and lands in production").
  { who: 'dev-a', op: 'create', resource: 'Service of app-a (production) saying environment development', args: create, input: svc('dodge', NS_A, 'app-a', { environment: 'development' }), expect: 'denied', says: 'spec.environment development differs from the environment of its Application app-a (production)' },
  { who: 'dev-a', op: 'create', resource: 'Service of app-a on the development target', args: create, input: svc('dodge', NS_A, 'app-a', { target: 'tenancy-dev' }), expect: 'denied', says: 'spec.target tenancy-dev serves environment development, not production' },
  { who: 'platform-admin', op: 'create', resource: 'Topic of team-a (development) on a production target', args: create, input: { apiVersion: V, kind: 'Topic', metadata: { name: 'events', namespace: NS_A }, spec: { owner: { kind: 'Team', name: 'team-a' }, environment: 'development', target: 'tenancy-prod', partitions: 3 } }, expect: 'denied', says: 'spec.target tenancy-prod serves environment production, not development' },
  { who: 'platform-admin', op: 'create', resource: 'Database of app-a saying staging', args: create, input: { apiVersion: V, kind: 'Database', metadata: { name: 'ledger', namespace: NS_A }, spec: { owner: { kind: 'Application', name: 'app-a' }, engine: 'postgresql', version: '16', environment: 'staging' } }, expect: 'denied', says: 'spec.environment staging differs from the environment of its Application app-a (production)' },
  { who: 'dev-a', op: 'patch', resource: 'Application app-a environment -> development (owns svc-a)', args: ['patch', 'application', 'app-a', '-n', NS_A, '--type', 'merge', '-p', json({ spec: { environment: 'development' } })], expect: 'denied', says: 'spec.environment cannot change (was production, now development) while it owns 1 resource' },
  // Status subresource: the controllers record the dispatch; developers cannot forge it.
  { who: 'sa-controllers', op: 'patch status', resource: 'Service svc-a: dispatched to tenancy-prod', args: ['patch', 'services.platform.kidp.io', 'svc-a', '-n', NS_A, '--subresource=status', '--type', 'merge', '-p', json({ status: { phase: 'Deploying', target: 'tenancy-prod' } })], expect: 'allowed' },
  { who: 'dev-a', op: 'patch status', resource: 'Service svc-a: status.target', args: ['patch', 'services.platform.kidp.io', 'svc-a', '-n', NS_A, '--subresource=status', '--type', 'merge', '-p', json({ status: { target: 'tenancy-prod-eu' } })], expect: 'forbidden', says: 'cannot patch resource "services/status"' },
  { who: 'sa-broker', op: 'patch status', resource: 'Service svc-a: phase Ready', args: ['patch', 'services.platform.kidp.io', 'svc-a', '-n', NS_A, '--subresource=status', '--type', 'merge', '-p', json({ status: { phase: 'Ready' } })], expect: 'forbidden', says: 'cannot get resource "services/status"' },
  {
    who: 'sa-reports',
    op: 'patch status',
    resource: 'Service svc-a: PolicyCompliant condition',
    args: ['patch', 'services.platform.kidp.io', 'svc-a', '-n', NS_A, '--subresource=status', '--type', 'merge', '-p', json({ status: { conditions: [{ type: 'PolicyCompliant', status: 'True', reason: 'NoViolations', message: 'no policy denies it', lastTransitionTime: '2026-12-03T00:00:00Z' }] } })],
    expect: 'allowed',
  },
  { who: 'sa-reports', op: 'patch', resource: 'Service svc-a spec.image', args: ['patch', 'services.platform.kidp.io', 'svc-a', '-n', NS_A, '--type', 'merge', '-p', json({ spec: { image: 'registry.kidp.io/evil:1' } })], expect: 'forbidden', says: 'cannot patch resource "services"' },
  { who: 'sa-reports', op: 'get', resource: `Secrets in ${NS_A}`, args: ['get', 'secrets', '-n', NS_A], expect: 'forbidden', says: 'cannot list resource "secrets"' },
  // spec.target immutable once dispatched (bypass: "spec.target can change; the old deployment is never cleaned up").
  { who: 'dev-a', op: 'patch', resource: 'Service svc-a spec.target -> tenancy-prod-eu (dispatched)', args: ['patch', 'services.platform.kidp.io', 'svc-a', '-n', NS_A, '--type', 'merge', '-p', json({ spec: { target: 'tenancy-prod-eu' } })], expect: 'denied', says: 'spec.target is immutable once dispatched (deployed to tenancy-prod, now tenancy-prod-eu)' },
  { who: 'dev-a', op: 'patch', resource: 'Service svc-a spec.replicas', args: ['patch', 'services.platform.kidp.io', 'svc-a', '-n', NS_A, '--type', 'merge', '-p', json({ spec: { replicas: 3 } })], expect: 'allowed' },
  { who: 'dev-a', op: 'server-side apply', resource: 'Service svc-a new image', args: ssa, input: svc('svc-a', NS_A, 'app-a', { image: 'registry.kidp.io/tenancy/api:1.1.0' }), expect: 'allowed' },
  { who: 'dev-a', op: 'server-side apply', resource: 'Service svc-a environment development', args: ssa, input: svc('svc-a', NS_A, 'app-a', { environment: 'development' }), expect: 'denied', says: 'spec.environment development differs' },
  {
    who: 'dev-a',
    op: 'update (replace)',
    resource: 'Service svc-a spec.owner -> another Application',
    args: ['replace', '-f', '-'],
    input: async () => {
      const current = await getJson('dev-a', ['services.platform.kidp.io', 'svc-a', '-n', NS_A]);
      return { ...current, spec: { ...(current.spec as object), owner: { kind: 'Application', name: 'app-other' } } };
    },
    expect: 'denied',
    says: 'spec.owner is immutable (was Application/app-a, now Application/app-other)',
  },
  { who: 'dev-a', op: 'delete', resource: 'Application app-a (owns svc-a)', args: ['delete', 'application', 'app-a', '-n', NS_A, '--wait=false'], expect: 'denied', says: `Application app-a still owns 1 resource: Service ${NS_A}/svc-a` },
  { who: 'dev-a', op: 'deletecollection', resource: `Applications in ${NS_A}`, args: ['delete', '--raw', `/apis/platform.kidp.io/v1alpha1/namespaces/${NS_A}/applications`], expect: 'forbidden', says: 'cannot deletecollection resource "applications"' },
  { who: 'platform-admin', op: 'deletecollection', resource: `Applications in ${NS_A}`, args: ['delete', '--raw', `/apis/platform.kidp.io/v1alpha1/namespaces/${NS_A}/applications`], expect: 'denied', says: `Application app-a still owns 1 resource: Service ${NS_A}/svc-a` },
  { who: 'platform-admin', op: 'delete', resource: 'Team team-a (owns resources)', args: ['delete', 'team', 'team-a', '--wait=false'], expect: 'denied', says: 'Team team-a still owns' },
  // Policies: authors write them, the webhook enforces them where they say, at once.
  { who: 'dev-a', op: 'create', resource: 'Policy', args: create, input: { apiVersion: V, kind: 'Policy', metadata: { name: 'rogue' }, spec: { mode: 'Enforce', selector: { resourceTypes: ['Service'] }, rules: [{ name: 'r', expression: 'true' }] } }, expect: 'forbidden', says: 'cannot create resource "policies"' },
  {
    who: 'policy-author',
    op: 'create',
    resource: 'Policy jobs-set-a-deadline (Enforce, Job.batch)',
    args: create,
    input: { apiVersion: V, kind: 'Policy', metadata: { name: 'jobs-set-a-deadline' }, spec: { mode: 'Enforce', selector: { resourceTypes: ['Job.batch'] }, rules: [{ name: 'deadline', expression: 'object.spec.?activeDeadlineSeconds.hasValue()', message: 'jobs must set spec.activeDeadlineSeconds' }] } },
    expect: 'allowed',
  },
  {
    who: 'cluster-admin',
    op: 'create',
    resource: `Job without a deadline in ${NS_A}`,
    args: create,
    input: job('no-deadline'),
    expect: 'denied',
    says: 'jobs-set-a-deadline/deadline: jobs must set spec.activeDeadlineSeconds',
    before: async () => {
      jobsRuleMs = (await poll('batch/jobs in the webhook rules', async () => ((await validatingRules()).includes('jobs') ? true : undefined), { timeoutMs: 15_000, intervalMs: 100 })).ms;
    },
  },
  { who: 'cluster-admin', op: 'create', resource: `Job with a deadline in ${NS_A}`, args: create, input: job('with-deadline', 600), expect: 'allowed' },
  { who: 'policy-author', op: 'create', resource: 'PolicyException expiring in 9999', args: create, input: exception('forever', '9999-12-31T00:00:00Z', { names: ['legacy-*'] }), expect: 'denied', says: 'is more than 90 days away' },
  { who: 'policy-author', op: 'create', resource: 'PolicyException with an empty match', args: create, input: exception('everything', days(30), {}), expect: 'denied', says: 'spec.match is empty and would exempt every resource of the namespace' },
  { who: 'policy-author', op: 'create', resource: 'PolicyException, 30 days, legacy-*', args: create, input: exception('legacy-batch', days(30), { resourceTypes: ['Job.batch'], names: ['legacy-*'] }), expect: 'allowed' },
  { who: 'dev-a', op: 'create', resource: 'PolicyException', args: create, input: exception('mine', days(30), { names: ['no-deadline'] }), expect: 'forbidden', says: 'cannot create resource "policyexceptions"' },
  { who: 'policy-author', op: 'delete', resource: 'Policy jobs-set-a-deadline', args: ['delete', 'policy', 'jobs-set-a-deadline'], expect: 'allowed' },
  {
    who: 'cluster-admin',
    op: 'create',
    resource: `Job without a deadline (Policy gone) in ${NS_A}`,
    args: create,
    input: job('no-deadline'),
    expect: 'allowed',
    before: async () => {
      jobsRuleGoneMs = (await poll('batch/jobs gone from the webhook rules', async () => (!(await validatingRules()).includes('jobs') ? true : undefined), { timeoutMs: 15_000, intervalMs: 100 })).ms;
    },
  },
  // KIDP's own service accounts hold only what their job needs.
  { who: 'sa-controllers', op: 'create', resource: 'Policy', args: create, input: { apiVersion: V, kind: 'Policy', metadata: { name: 'rogue' }, spec: { mode: 'Audit', selector: { resourceTypes: ['Service'] }, rules: [{ name: 'r', expression: 'true' }] } }, expect: 'forbidden', says: 'cannot create resource "policies"' },
  { who: 'sa-controllers', op: 'patch', resource: 'Team team-b claiming kube-system', args: ['patch', 'team', 'team-b', '--type', 'merge', '-p', json({ spec: { namespaces: [NS_B, 'kube-system'] } })], expect: 'denied', says: 'spec.namespaces: kube-system is a Kubernetes system namespace' },
  { who: 'sa-broker', op: 'create', resource: 'Team', args: create, input: team('rogue', {}), expect: 'forbidden', says: 'cannot create resource "teams"' },
  { who: 'sa-broker', op: 'get', resource: 'Teams', args: ['get', 'teams'], expect: 'forbidden', says: 'cannot list resource "teams"' },
  { who: 'sa-webhook', op: 'create', resource: `Application in ${NS_A}`, args: create, input: app('from-webhook', NS_A, 'team-a'), expect: 'forbidden', says: 'cannot create resource "applications"' },
  { who: 'sa-webhook', op: 'delete', resource: 'ValidatingWebhookConfiguration kidp', args: ['delete', 'validatingwebhookconfiguration', 'kidp'], expect: 'forbidden', says: 'cannot delete resource "validatingwebhookconfigurations"' },
  // No credentials, or home-made ones.
  // Raw paths: kubectl's discovery is itself closed to anonymous users, which would hide the answer to the request.
  { who: 'anonymous', op: 'list', resource: 'Teams', args: ['get', '--raw', '/apis/platform.kidp.io/v1alpha1/teams'], expect: 'forbidden', says: 'User "system:anonymous" cannot list resource "teams"' },
  { who: 'anonymous', op: 'create', resource: `Application in ${NS_A}`, args: ['create', '--raw', `/apis/platform.kidp.io/v1alpha1/namespaces/${NS_A}/applications`, '-f', '-'], input: app('anon', NS_A, 'team-a'), expect: 'forbidden', says: 'User "system:anonymous" cannot create resource "applications"' },
  { who: 'forged-admin', op: 'get', resource: 'Teams (CN=pat, O=system:masters, own CA)', args: ['get', 'teams'], expect: 'unauthorized', says: 'Unauthorized' },
  { who: 'forged-admin', op: 'delete', resource: 'Team team-a (CN=pat, O=system:masters, own CA)', args: ['delete', 'team', 'team-a', '--wait=false'], expect: 'unauthorized', says: 'Unauthorized' },
];

/** kubectl's message without its boilerplate: the reason code, then what a person reads. */
function essence(message: string): string {
  const reason = /^Error from server \(([A-Za-z]+)\)/.exec(message)?.[1];
  const text = message.replace(/^.*?(denied the request: |is forbidden: |error: )/, '');
  const short = text.length > 150 ? `${text.slice(0, 149)}…` : text;
  return reason ? `(${reason}) ${short}` : short;
}

interface Outcome {
  row: Row;
  got: Verdict;
  message: string;
}
const outcomes: Outcome[] = [];
let webhook: RunningWebhook;
let webhookPort = 0;

/** The platform team installs deploy/'s RBAC (service accounts, roles, bindings) in kidp-system. */
async function installDeployRbac(): Promise<void> {
  const docs: unknown[] = [];
  for (const file of ['rbac.yaml', 'controllers.yaml', 'reports.yaml', 'people.yaml', 'team-roles.yaml']) {
    for (const doc of parseAllDocuments(readFileSync(join(root, 'deploy', file), 'utf8'))) {
      const o = doc.toJS() as { kind?: string; metadata?: { namespace?: string } } | null;
      if (!o?.kind || !['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o.kind)) continue;
      if (['ServiceAccount', 'Role', 'RoleBinding'].includes(o.kind)) o.metadata = { ...o.metadata, namespace: PLATFORM_NS };
      docs.push(o);
    }
  }
  await kubectlOk(['apply', '-f', '-'], { input: json({ apiVersion: 'v1', kind: 'List', items: docs }) });
}

async function cleanup(): Promise<void> {
  for (const kind of ['services.platform.kidp.io', 'caches', 'topics', 'databases']) {
    for (const ns of [NS_A, NS_B, NS_SHARED]) {
      const names = (await kubectl(['get', kind, '-n', ns, '-o', 'name'])).stdout.trim().split('\n').filter(Boolean);
      for (const name of names) await kubectl(['patch', name, '-n', ns, '--type', 'merge', '-p', json({ metadata: { finalizers: null } })]);
      await kubectl(['delete', kind, '--all', '-n', ns, '--ignore-not-found', '--wait=true']);
    }
  }
  for (const ns of [NS_A, NS_B, NS_SHARED]) await kubectl(['delete', 'applications,policyexceptions,jobs', '--all', '-n', ns, '--ignore-not-found', '--wait=true']);
  await kubectl(['delete', 'teams', 'team-a', 'team-b', 'grabby', 'rogue', '--ignore-not-found']);
  await kubectl(['delete', 'deploymenttargets', 'tenancy-prod', 'tenancy-prod-eu', 'tenancy-dev', 'sneaky', 'rogue', '--ignore-not-found']);
  await kubectl(['delete', 'policies', 'jobs-set-a-deadline', 'rogue', '--ignore-not-found']);
}

beforeAll(async () => {
  await kubectl(['delete', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', 'kidp', '--ignore-not-found']);
  await cleanup();
  for (const ns of [PLATFORM_NS, NS_SHARED, NS_ORPHAN]) await kubectlOk(['apply', '-f', '-'], { input: json({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }) });
  await installDeployRbac();
  // The two ClusterRoles the Team controller binds ship in deploy/team-roles.yaml (installed
  // above by the platform team): the controllers may bind them, not write ClusterRoles.
  kubeconfigs['sa-controllers'] = identity('serviceaccount', PLATFORM_NS, 'kidp-controllers');
  kubeconfigs['sa-broker'] = identity('serviceaccount', PLATFORM_NS, 'kidp-broker-kubernetes');
  kubeconfigs['sa-webhook'] = identity('serviceaccount', PLATFORM_NS, 'kidp-webhook');
  kubeconfigs['sa-reports'] = identity('serviceaccount', PLATFORM_NS, 'kidp-reports');
  kubeconfigs['dev-a'] = identity('user', 'ada', 'team-a-developers');
  kubeconfigs['dev-b'] = identity('user', 'bob', 'team-b-developers');
  kubeconfigs['platform-admin'] = identity('user', 'pat', 'kidp-platform-admins');
  kubeconfigs['policy-author'] = identity('user', 'polly', 'kidp-policy-authors');
  kubeconfigs.anonymous = identity('anonymous');
  kubeconfigs['forged-admin'] = identity('forged', 'pat', 'system:masters');
  kubeconfigs['cluster-admin'] = process.env.KUBECONFIG ?? '';
  // Who administers the platform and writes policies is the platform team's call (deploy/people.yaml).
  const bind = (name: string, role: string, group: string) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: group }],
  });
  await kubectlOk(['apply', '-f', '-'], { input: json({ apiVersion: 'v1', kind: 'List', items: [bind('tenancy-platform-admins', 'kidp-platform-admin', 'kidp-platform-admins'), bind('tenancy-policy-authors', 'kidp-policy-author', 'kidp-policy-authors')] }) });

  webhook = await serveAsDeployed(kubeconfigs['sa-webhook']);
  webhookPort = webhook.server.port;
  const deployed = parseAllDocuments(readFileSync(join(root, 'deploy', 'webhook-configurations.yaml'), 'utf8')).map((d) => d.toJS() as { webhooks: Array<{ clientConfig: Record<string, unknown> }> });
  for (const config of deployed) {
    for (const w of config.webhooks) {
      const path = (w.clientConfig.service as { path: string }).path;
      w.clientConfig = { url: `https://127.0.0.1:${webhookPort}${path}` };
    }
  }
  await kubectlOk(['apply', '-f', '-'], { input: json({ apiVersion: 'v1', kind: 'List', items: deployed }) });
  await poll(
    'the webhook to inject its caBundle',
    async () => {
      const v = JSON.parse(await kubectlOk(['get', 'validatingwebhookconfiguration', 'kidp', '-o', 'json'])) as { webhooks: Array<{ clientConfig: { caBundle?: string } }> };
      return v.webhooks.every((w) => w.clientConfig.caBundle) ? true : undefined;
    },
    { timeoutMs: 15_000 },
  );
}, 120_000);

afterAll(async () => {
  const cell = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s.padEnd(n));
  const lines = [
    `tenancy matrix: ${outcomes.length} operations (every row through kubectl against the real apiserver, KIDP's webhook as in deploy/)`,
    `${cell('#', 3)} | ${cell('identity', 14)} | ${cell('operation', 17)} | ${cell('resource', 62)} | ${cell('expected', 12)} | ${cell('got', 12)} | message`,
    `${'-'.repeat(3)}-+-${'-'.repeat(14)}-+-${'-'.repeat(17)}-+-${'-'.repeat(62)}-+-${'-'.repeat(12)}-+-${'-'.repeat(12)}-+--------`,
    ...outcomes.map((o, i) => `${cell(String(i + 1), 3)} | ${cell(o.row.who, 14)} | ${cell(o.row.op, 17)} | ${cell(o.row.resource, 62)} | ${cell(o.row.expect, 12)} | ${cell(o.got, 12)} | ${o.message}`),
    `Policy on Job.batch: batch/jobs in the webhook's rules ${jobsRuleMs} ms after the Policy was created; gone ${jobsRuleGoneMs} ms after it was deleted`,
  ];
  process.stdout.write(`\n${lines.join('\n')}\n`);
  await webhook?.stop();
  await kubectl(['delete', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', 'kidp', '--ignore-not-found']);
  await cleanup();
  await kubectl(['delete', 'clusterrolebinding', 'tenancy-platform-admins', 'tenancy-policy-authors', '--ignore-not-found']);
}, 120_000);

describe('tenant isolation as real users, through kubectl', () => {
  it.each(rows.map((row, i) => [`${i + 1}`, row.who, row.op, row.resource, row] as const))('%s %s %s %s', async (_n, _who, _op, _resource, row) => {
    await row.before?.();
    const input = typeof row.input === 'function' ? await (row.input as () => Promise<unknown>)() : row.input;
    const r = await kubectl(['--kubeconfig', kubeconfigs[row.who], ...row.args], input === undefined ? {} : { input: json(input) });
    const got = verdictOf(r);
    const message = (r.code === 0 ? r.stdout : r.stderr).trim().replace(/\s+/g, ' ');
    outcomes.push({ row, got, message: essence(message) });
    expect({ verdict: got, says: row.says === undefined || message.includes(row.says) ? row.says : message }).toEqual({ verdict: row.expect, says: row.says });
  });

  it('has at least 40 operations over every identity', () => {
    expect(rows.length).toBeGreaterThanOrEqual(40);
    expect(new Set(rows.map((r) => r.who)).size).toBe(11);
  });
});

describe('a webhook whose caches are not synced', () => {
  function readyz(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, path: '/readyz', rejectUnauthorized: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('refuses with a clear retryable message while an informer cannot list, readyz false; admits once it can', async () => {
    // A service account missing one grant of deploy/rbac.yaml (Databases): that informer cannot list.
    const fullRules = (parseAllDocuments(readFileSync(join(root, 'deploy', 'rbac.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string; metadata: { name: string }; rules?: Array<{ resources: string[] }> }).find((d) => d.kind === 'ClusterRole' && d.metadata.name === 'kidp-webhook')?.rules ?? []);
    const blindRules = fullRules.map((r) => ({ ...r, resources: r.resources.filter((x) => x !== 'databases') }));
    const role = (rules: unknown) => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'tenancy-webhook-blind' }, rules });
    const binding = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'tenancy-webhook-blind' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'tenancy-webhook-blind' }, subjects: [{ kind: 'ServiceAccount', name: 'kidp-webhook-blind', namespace: PLATFORM_NS }] };
    await kubectlOk(['apply', '-f', '-'], { input: json({ apiVersion: 'v1', kind: 'List', items: [role(blindRules), binding] }) });
    const blind = await serveAsDeployed(identity('serviceaccount', PLATFORM_NS, 'kidp-webhook-blind'));
    // The apiserver now calls this replica only.
    await webhook.stop();
    webhook = blind;
    for (const kind of ['validatingwebhookconfiguration', 'mutatingwebhookconfiguration']) {
      const config = JSON.parse(await kubectlOk(['get', kind, 'kidp', '-o', 'json'])) as { webhooks: Array<{ clientConfig: { url: string } }> };
      const patch = config.webhooks.map((w, i) => ({ op: 'replace', path: `/webhooks/${i}/clientConfig/url`, value: w.clientConfig.url.replace(`:${webhookPort}/`, `:${blind.server.port}/`) }));
      await kubectlOk(['patch', kind, 'kidp', '--type', 'json', '-p', json(patch)]);
    }
    webhookPort = blind.server.port;
    const tryCreate = async (name: string) => {
      const r = await kubectl(['--kubeconfig', kubeconfigs['dev-a'], 'create', '-f', '-'], { input: json(app(name, NS_A, 'team-a')) });
      return { got: verdictOf(r), message: (r.code === 0 ? r.stdout : r.stderr).trim().replace(/\s+/g, ' ') };
    };
    const refused = await tryCreate('while-blind');
    outcomes.push({ row: { who: 'dev-a', op: 'create', resource: `Application (webhook cannot list Databases)`, args: [], expect: 'denied' }, got: refused.got, message: essence(refused.message) });
    expect({ got: refused.got, code: await readyz(blind.server.port) }).toEqual({ got: 'denied', code: 503 });
    expect(refused.message).toContain(`(CacheNotSynced): error when creating "STDIN": admission webhook "mutate.platform.kidp.io" denied the request: KIDP's admission webhook has not synced its view of the cluster`);
    expect(refused.message).toContain('Retry in a few seconds');
    // The missing grant arrives: the informer restarts, lists, and the webhook admits again.
    await kubectlOk(['apply', '-f', '-'], { input: json(role(fullRules)) });
    const { ms } = await poll('readyz 200', async () => ((await readyz(blind.server.port)) === 200 ? true : undefined), { timeoutMs: 15_000, intervalMs: 100 });
    const admitted = await tryCreate('after-sync');
    outcomes.push({ row: { who: 'dev-a', op: 'create', resource: `Application (webhook synced again, ${ms} ms after the grant)`, args: [], expect: 'allowed' }, got: admitted.got, message: essence(admitted.message) });
    expect(admitted.got).toBe('allowed');
    await kubectl(['delete', 'clusterrolebinding,clusterrole', 'tenancy-webhook-blind', '--ignore-not-found']);
  });
});

describe('the webhook port, tried directly', () => {
  function post(extra: { cert?: string; key?: string } = {}): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port: webhookPort, path: '/validate', method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' }, ...extra },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(json({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'x', operation: 'DELETE', kind: { group: V.split('/')[0], version: 'v1alpha1', kind: 'Team' }, resource: { group: 'platform.kidp.io', version: 'v1alpha1', resource: 'teams' }, name: 'team-a', userInfo: { username: 'attacker' } } }));
    });
  }

  it('refuses a forged review from anyone but the apiserver: no certificate, or a user certificate of the same CA', async () => {
    const certs = join(CONTROL_PLANE_DIR, 'identities');
    expect(await post()).toBe(401);
    expect(await post({ cert: readFileSync(join(certs, 'user-pat.crt'), 'utf8'), key: readFileSync(join(certs, 'user-pat.key'), 'utf8') })).toBe(403);
    expect(await post({ cert: readFileSync(join(certs, 'forged-pat.crt'), 'utf8'), key: readFileSync(join(certs, 'forged-pat.key'), 'utf8') })).toBe(401);
  });
});
