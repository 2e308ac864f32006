// npm run bench:audit — background audit of 5,000 resources x 20 policies against the real
// apiserver (KUBECONFIG; `bash test/env/env.sh start` gives one): full-scan time, report
// write volume (bytes, objects), the largest report object as stored, a no-change rescan
// and a one-Policy change. Objects are Topics in BENCH_NAMESPACES namespaces, all removed
// at the end (the Namespaces stay: there is no controller-manager to finish them here).
import { cpus, totalmem } from 'node:os';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { request } from 'node:https';
import { runReports } from '../../reports/index.js';
import { getJson, keepConnectionsAlive } from '../../kube/index.js';

const RESOURCES = Number(process.env.BENCH_RESOURCES ?? 5_000);
const POLICIES = Number(process.env.BENCH_POLICIES ?? 20);
const NAMESPACES = Number(process.env.BENCH_NAMESPACES ?? 5);
/** Parallel creates: enough to keep the apiserver busy without starving it on 2 cores. */
const CONCURRENCY = 16;
const GROUP = 'platform.kidp.io';
const VERSION = 'v1alpha1';

const kc = new KubeConfig();
kc.loadFromDefault();
// The bench's own creates reuse connections too: a TLS context per call is native memory that
// would otherwise be most of the process's peak RSS before the audit starts.
keepConnectionsAlive(kc);
const custom = kc.makeApiClient(CustomObjectsApi);
const core = kc.makeApiClient(CoreV1Api);
const id = Date.now().toString(36);
const nsName = (i: number) => `bench-audit-${id}-${i}`;
const policyName = (i: number) => `bench-audit-${id}-${i}`;

async function pool<T>(items: T[], fn: (t: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  }));
}

function policy(i: number, suffix = '') {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'Policy',
    metadata: { name: policyName(i), labels: { 'bench.kidp.io/run': id } },
    spec: {
      mode: 'Audit',
      selector: { resourceTypes: ['Topic'] },
      rules: [
        { name: 'partitions', expression: `object.spec.?partitions.orValue(1) >= ${(i % 6) + 1}`, messageExpression: `'topic ' + object.metadata.name + ' needs at least ${(i % 6) + 1} partitions${suffix}'`, severity: 'medium' },
        { name: 'retention', expression: `object.spec.?retentionHours.orValue(0) <= ${24 * (i + 1)}`, message: `retention must be at most ${24 * (i + 1)} hours`, severity: 'low' },
      ],
    },
  };
}

/** The apiserver's own request time on report writes and status applies (its /metrics), summed over its lifetime. */
async function apiserverSeconds(): Promise<Record<string, { count: number; seconds: number }>> {
  const url = new URL('/metrics', kc.getCurrentCluster()?.server);
  const options = {};
  await kc.applyToHTTPSOptions(options);
  const text = await new Promise<string>((resolve, reject) => {
    request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    }).on('error', reject).end();
  });
  const out: Record<string, { count: number; seconds: number }> = {};
  for (const line of text.split('\n')) {
    const m = /^apiserver_request_duration_seconds_(sum|count)\{.*resource="(policyreports|topics)".*subresource="([^"]*)".*verb="([A-Z]+)"/.exec(line);
    if (!m || !['POST', 'PUT', 'APPLY', 'PATCH', 'LIST'].includes(m[4]!)) continue;
    const key = `${m[4]} ${m[2]}${m[3] ? `/${m[3]}` : ''}`;
    const e = (out[key] ??= { count: 0, seconds: 0 });
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (m[1] === 'sum') e.seconds += value;
    else e.count += value;
  }
  return out;
}

function apiserverDelta(before: Awaited<ReturnType<typeof apiserverSeconds>>, after: Awaited<ReturnType<typeof apiserverSeconds>>): string {
  return Object.entries(after)
    .map(([k, v]) => [k, v.count - (before[k]?.count ?? 0), v.seconds - (before[k]?.seconds ?? 0)] as const)
    .filter(([k, n]) => n > 0 && !k.endsWith(' topics'))
    .map(([k, n, sec]) => `${k} ${n} (${(sec * 1000 / n).toFixed(0)} ms mean, ${sec.toFixed(1)} s summed)`)
    .join('; ');
}

async function main(): Promise<void> {
  const log = (m: string) => process.stdout.write(`${m}\n`);
  log(`bench:audit — ${RESOURCES} Topics in ${NAMESPACES} namespaces x ${POLICIES} Policies (2 rules each); ${cpus().length} cores (${cpus()[0]?.model ?? ''}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
  for (let n = 0; n < NAMESPACES; n += 1) await core.createNamespace({ body: { metadata: { name: nsName(n), labels: { 'platform.kidp.io/team': `bench-team-${n}` } } } });
  const t0 = Date.now();
  const topics = Array.from({ length: RESOURCES }, (_, i) => i);
  await pool(topics, (i) =>
    custom.createNamespacedCustomObject({
      group: GROUP, version: VERSION, plural: 'topics', namespace: nsName(i % NAMESPACES),
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'Topic', metadata: { name: `topic-${i}` }, spec: { owner: { kind: 'Team', name: `bench-team-${i % NAMESPACES}` }, partitions: (i % 8) + 1, retentionHours: 24 * ((i % 30) + 1) } },
    }),
  );
  log(`created ${RESOURCES} Topics in ${((Date.now() - t0) / 1000).toFixed(1)} s; peak RSS so far ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
  // RSS sampled while the audit runs (the controller, its informers and caches, report writes).
  let auditRss = 0;
  const sampler = setInterval(() => {
    auditRss = Math.max(auditRss, process.memoryUsage().rss);
  }, 100);
  for (let p = 0; p < POLICIES; p += 1) await custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: 'policies', body: policy(p) });

  const reports = await runReports({ kubeConfig: kc, logger: pino({ level: 'warn' }), debounceMs: 200, namespaces: Array.from({ length: NAMESPACES }, (_, n) => nsName(n)) });
  try {
    const metricsBefore = await apiserverSeconds();
    const started = Date.now();
    const full = await reports.scanAll();
    const fullMs = Date.now() - started;
    const metricsAfter = await apiserverSeconds();
    const benchScopes = [...reports.audits().keys()].filter((k) => k.startsWith(`ns/bench-audit-${id}`));
    const results = benchScopes.reduce((s, k) => s + (reports.audits().get(k) ?? []).reduce((a, x) => a + x.verdicts.length, 0), 0);
    // What is stored, as the apiserver returns it (with metadata and managedFields).
    let stored = 0;
    let storedBytes = 0;
    let maxStored = 0;
    for (let n = 0; n < NAMESPACES; n += 1) {
      // Raw JSON, not client-node's models: the bench's own copy should not dominate its peak RSS.
      const list = await getJson<{ items: unknown[] }>(kc, `/apis/wgpolicyk8s.io/v1alpha2/namespaces/${nsName(n)}/policyreports`);
      for (const item of list.items) {
        const bytes = Buffer.byteLength(JSON.stringify(item));
        stored += 1;
        storedBytes += bytes;
        maxStored = Math.max(maxStored, bytes);
      }
    }
    const again = await reports.scanAll();
    const changeStarted = Date.now();
    await custom.replaceClusterCustomObject({ group: GROUP, version: VERSION, plural: 'policies', name: policyName(0), body: { ...policy(0, ' (v2)'), metadata: { ...policy(0).metadata, resourceVersion: ((await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: 'policies', name: policyName(0) })) as { metadata: { resourceVersion: string } }).metadata.resourceVersion } } });
    await new Promise((r) => setTimeout(r, 300));
    await reports.idle();
    const changeMs = Date.now() - changeStarted;
    const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    log(`full audit (all scopes, every report written): ${(fullMs / 1000).toFixed(1)} s — ${full.scopes} scope scans (${full.objects} object audits, events from our own status writes rescan a scope), ${results} results in the bench namespaces`);
    log(`apiserver time during the full audit: ${apiserverDelta(metricsBefore, metricsAfter)}`);
    log(`report writes: ${full.written} objects, ${mb(full.bytes)}; largest written ${(full.maxBytes / 1024).toFixed(0)} KB`);
    log(`stored: ${stored} PolicyReports, ${mb(storedBytes)}; largest as stored ${(maxStored / 1024).toFixed(0)} KB (limit 500 KB)`);
    log(`rescan with nothing changed: ${(again.ms / 1000).toFixed(1)} s, ${again.written} objects written`);
    log(`one Policy's message changed -> reports rewritten and idle in ${(changeMs / 1000).toFixed(1)} s`);
    // Peak resident set of this process (audit, informers, report objects and the bench's own lists).
    clearInterval(sampler);
    log(`peak RSS while auditing ${(auditRss / 2 ** 20).toFixed(0)} MiB (sampled every 100 ms); process peak ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB; heap used now ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`);
  } finally {
    clearInterval(sampler);
    await reports.stop();
    for (let p = 0; p < POLICIES; p += 1) await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'policies', name: policyName(p) }).catch(() => undefined);
    for (let n = 0; n < NAMESPACES; n += 1) {
      await custom.deleteCollectionNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: nsName(n), plural: 'topics' }).catch(() => undefined);
      await custom.deleteCollectionNamespacedCustomObject({ group: 'wgpolicyk8s.io', version: 'v1alpha2', namespace: nsName(n), plural: 'policyreports' }).catch(() => undefined);
    }
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:audit failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
