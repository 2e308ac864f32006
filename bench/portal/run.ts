// npm run bench:portal — the portal at 1,000 resources (issue 16 item 3: "page under 1 s
// server-side"). Not a timed test: prints median / p95 / max of the server-side page time
// (the Server-Timing header the portal sets: authentication, authorization, model and HTML,
// no network) and of the time the client saw, for the Teams list, the team page and an
// application page, plus the machine and its load.
//
// Everything real: the local apiserver (`bash test/env/env.sh start && eval "$(bash
// test/env/env.sh env)"`), one Team with BENCH_APPS Applications (default 50) of
// BENCH_PER_APP resources each (default 20: 10 Services, 4 Databases, 3 Caches, 3 Topics;
// every Service selects its Application's Databases), one PolicyReport per namespace with
// a result per resource, an Event per Service, spread over BENCH_NAMESPACES namespaces (2).
// The reader is a ServiceAccount with KIDP's kidp-team-developer role in those namespaces
// and get on its Team, so every page asks real SubjectAccessReviews. The portal runs in
// this process (startDashboard), as the admin kubeconfig. BENCH_REQUESTS (50) requests per
// page, one at a time; the first request of a page is reported apart (cold: no
// SubjectAccessReview cached).
import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import pino from 'pino';
import { keepConnectionsAlive } from '../../kube/index.js';
import { kindInfo, REPORTS_API_VERSION, type KindName } from '../../crds/registry.js';
import { startDashboard } from '../../dashboard/index.js';

const APPS = Number(process.env.BENCH_APPS ?? 50);
const PER_APP = Number(process.env.BENCH_PER_APP ?? 20);
const NAMESPACES = Number(process.env.BENCH_NAMESPACES ?? 2);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 50);
const CONCURRENCY = 16;
const TARGET_MS = 1_000;
const root = join(fileURLToPath(import.meta.url), '..', '..', '..');
const run = Date.now().toString(36);
const team = `bench-portal-${run}`;
const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `bench-portal-${run}-${i}`);
const V = 'platform.kidp.io/v1alpha1';

const kubeConfig = new KubeConfig();
kubeConfig.loadFromDefault();
keepConnectionsAlive(kubeConfig);
const custom = kubeConfig.makeApiClient(CustomObjectsApi);
const core = kubeConfig.makeApiClient(CoreV1Api);
const rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
const kubectl = process.env.KUBECTL;
if (!kubectl || !process.env.KUBECONFIG) throw new Error('KUBECTL and KUBECONFIG are unset: eval "$(bash test/env/env.sh env)" first');

async function pool<T>(items: readonly T[], fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return { median: at(0.5), p95: at(0.95), max: s[s.length - 1]! };
};
const ms = (n: number) => `${n.toFixed(1)} ms`;

interface Made {
  kind: KindName;
  namespace: string;
  body: Record<string, unknown>;
}

function manifests(): { apps: { name: string; namespace: string }[]; objects: Made[] } {
  const apps: { name: string; namespace: string }[] = [];
  const objects: Made[] = [];
  const split = [10, 4, 3, 3].map((n) => Math.round((n / 20) * PER_APP));
  for (let a = 0; a < APPS; a += 1) {
    const ns = namespaces[a % NAMESPACES]!;
    const app = `app-${a}`;
    apps.push({ name: app, namespace: ns });
    const labels = { 'platform.kidp.io/team': team, 'platform.kidp.io/application': app };
    const meta = (name: string, extra: Record<string, string> = {}) => ({ name, namespace: ns, labels: { ...labels, ...extra } });
    const owner = { kind: 'Application', name: app };
    objects.push({ kind: 'Application', namespace: ns, body: { apiVersion: V, kind: 'Application', metadata: meta(app), spec: { owner: { kind: 'Team', name: team }, environment: 'development' } } });
    for (let i = 0; i < split[0]!; i += 1) objects.push({ kind: 'Service', namespace: ns, body: { apiVersion: V, kind: 'Service', metadata: meta(`${app}-svc-${i}`), spec: { owner, image: 'registry.example.com/bench/svc:1.0.0', dependencies: { databaseSelector: { matchLabels: { 'app.kubernetes.io/part-of': app } } } } } });
    for (let i = 0; i < split[1]!; i += 1) objects.push({ kind: 'Database', namespace: ns, body: { apiVersion: V, kind: 'Database', metadata: meta(`${app}-db-${i}`, { 'app.kubernetes.io/part-of': app }), spec: { owner, engine: 'postgresql', version: '16' } } });
    for (let i = 0; i < split[2]!; i += 1) objects.push({ kind: 'Cache', namespace: ns, body: { apiVersion: V, kind: 'Cache', metadata: meta(`${app}-cache-${i}`), spec: { owner, engine: 'redis' } } });
    for (let i = 0; i < split[3]!; i += 1) objects.push({ kind: 'Topic', namespace: ns, body: { apiVersion: V, kind: 'Topic', metadata: meta(`${app}-topic-${i}`), spec: { owner, partitions: 3 } } });
  }
  return { apps, objects };
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const { apps, objects } = manifests();
  const resources = objects.filter((o) => o.kind !== 'Application').length;
  console.log(`portal bench: ${APPS} Applications, ${resources} resources, ${NAMESPACES} namespaces, ${REQUESTS} requests per page`);
  for (const ns of namespaces) await core.createNamespace({ body: { metadata: { name: ns, labels: { 'platform.kidp.io/team': team } } } });
  execFileSync(kubectl!, ['apply', '-f', join(root, 'deploy', 'team-roles.yaml')], { stdio: 'ignore' });
  const reader = 'reader';
  await core.createNamespacedServiceAccount({ namespace: namespaces[0]!, body: { metadata: { name: reader } } });
  for (const ns of namespaces) {
    await rbac.createNamespacedRoleBinding({ namespace: ns, body: { metadata: { name: 'kidp-team-developers' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kidp-team-developer' }, subjects: [{ kind: 'ServiceAccount', name: reader, namespace: namespaces[0]! }] } });
  }
  await rbac.createClusterRole({ body: { metadata: { name: team }, rules: [{ apiGroups: ['platform.kidp.io'], resources: ['teams'], resourceNames: [team], verbs: ['get'] }] } });
  await rbac.createClusterRoleBinding({ body: { metadata: { name: team }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: team }, subjects: [{ kind: 'ServiceAccount', name: reader, namespace: namespaces[0]! }] } });
  const teamInfo = kindInfo('Team');
  await custom.createClusterCustomObject({ group: teamInfo.group, version: teamInfo.version, plural: teamInfo.plural, body: { apiVersion: V, kind: 'Team', metadata: { name: team }, spec: { displayName: 'Bench', costCenter: 'CC-1000', members: [{ kind: 'User', name: `system:serviceaccount:${namespaces[0]!}:${reader}` }], namespaces } } });
  const tCreate = Date.now();
  await pool(objects, async (o) => {
    const info = kindInfo(o.kind);
    await custom.createNamespacedCustomObject({ group: info.group, version: info.version, namespace: o.namespace, plural: info.plural, body: o.body });
  });
  console.log(`created ${objects.length} objects in ${((Date.now() - tCreate) / 1000).toFixed(1)} s`);
  const now = new Date().toISOString();
  const services = objects.filter((o) => o.kind === 'Service');
  await pool(services, (o) => {
    const name = (o.body.metadata as { name: string }).name;
    return core.createNamespacedEvent({ namespace: o.namespace, body: { metadata: { name: `${name}.${run}` }, involvedObject: { apiVersion: V, kind: 'Service', name, namespace: o.namespace }, type: 'Normal', reason: 'Deployed', message: `deployed ${name}`, count: 1, firstTimestamp: now as unknown as Date, lastTimestamp: now as unknown as Date, source: { component: 'bench' } } });
  });
  const reports = kindInfo('PolicyReport');
  for (const ns of namespaces) {
    const results = objects
      .filter((o) => o.namespace === ns)
      .map((o, i) => ({ source: 'kidp', policy: 'bench', rule: 'r', result: i % 7 === 0 ? 'fail' : 'pass', severity: 'medium', message: 'fix it', scored: true, timestamp: { seconds: 1_800_000_000, nanos: 0 }, resources: [{ apiVersion: V, kind: o.kind, name: (o.body.metadata as { name: string }).name, namespace: ns }] }));
    await custom.createNamespacedCustomObject({ group: reports.group, version: reports.version, namespace: ns, plural: reports.plural, body: { apiVersion: REPORTS_API_VERSION, kind: 'PolicyReport', metadata: { name: `kidp-bench-${run}` }, results } });
  }
  const token = execFileSync(kubectl!, ['create', 'token', reader, '-n', namespaces[0]!, '--duration', '1h'], { encoding: 'utf8' }).trim();

  const portal = await startDashboard({ kubeConfig, logger: pino({ level: 'warn' }), host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${portal.port}`;
  const measure = async (label: string, path: string, expect?: { needle: string; count: number }) => {
    const server: number[] = [];
    const client: number[] = [];
    let cold = { server: 0, client: 0 };
    let bytes = 0;
    for (let i = 0; i <= REQUESTS; i += 1) {
      const start = performance.now();
      const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
      const body = await res.text();
      const wall = performance.now() - start;
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${body.slice(0, 200)}`);
      const dur = Number(/dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '')?.[1]);
      bytes = body.length;
      // A page that lost its rows would be fast for the wrong reason.
      if (expect && body.split(expect.needle).length - 1 !== expect.count) throw new Error(`${path}: expected ${expect.count} × ${expect.needle}, got ${body.split(expect.needle).length - 1}`);
      if (i === 0) cold = { server: dur, client: wall };
      else {
        server.push(dur);
        client.push(wall);
      }
    }
    const s = stats(server);
    const c = stats(client);
    console.log(`${label.padEnd(18)} server median ${ms(s.median)}  p95 ${ms(s.p95)}  max ${ms(s.max)}  | client median ${ms(c.median)} p95 ${ms(c.p95)} | cold ${ms(cold.server)} | ${(bytes / 1024).toFixed(0)} KiB  ${s.p95 < TARGET_MS ? 'OK' : `OVER ${TARGET_MS} ms`}`);
  };
  // The first page view resolves every SubjectAccessReview; the informers hold everything already.
  await measure('teams list', '/portal');
  await measure('team page', `/portal/teams/${team}`, { needle: '/applications/', count: APPS });
  await measure('application page', `/portal/namespaces/${apps[0]!.namespace}/applications/${apps[0]!.name}`, { needle: 'class="node"', count: PER_APP });
  await measure('resource page', `/portal/namespaces/${apps[0]!.namespace}/services/${apps[0]!.name}-svc-0`);
  await portal.close();

  console.log(`machine: ${availableParallelism()} cpus (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  // Clean up what this run made: the objects first (no namespace controller runs in test/env).
  for (const ns of namespaces) execFileSync(kubectl!, ['delete', 'applications.platform.kidp.io,services.platform.kidp.io,databases.platform.kidp.io,caches.platform.kidp.io,topics.platform.kidp.io,policyreports,events', '--all', '-n', ns, '--wait=false'], { stdio: 'ignore' });
  execFileSync(kubectl!, ['delete', 'namespace', ...namespaces, '--wait=false'], { stdio: 'ignore' });
  execFileSync(kubectl!, ['delete', 'teams.platform.kidp.io,clusterrole,clusterrolebinding', team, '--ignore-not-found'], { stdio: 'ignore' });
  console.log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
