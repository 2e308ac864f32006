// `npm run bench:admission:kubectl`: what KIDP's webhooks add to `kubectl create` as a
// person sees it, on the real apiserver (test/env). Median of CREATES creates without the
// webhooks, then with them (mutating + validating, the 50 benchmark policies loaded).
// Needs the environment: `npm run env:start` first.
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { serveWebhook } from '../../admission/serve.js';
import { benchPolicies } from './fixtures.js';
import { benchRoot, kubectl, loadEnvironment } from './cluster.js';

const root = benchRoot();
const CREATES = Number(process.env.BENCH_CREATES ?? '60');
const V = 'platform.kidp.io/v1alpha1';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Sum and count of every series of `metric` whose labels include all of `match`, from the apiserver's /metrics. */
async function apiserverMetric(metric: string, match: Record<string, string>): Promise<{ sum: number; count: number }> {
  const r = await kubectl(['get', '--raw', '/metrics']);
  if (r.code !== 0) throw new Error(`reading the apiserver's metrics failed: ${r.stderr}`);
  const total = { sum: 0, count: 0 };
  for (const line of r.stdout.split('\n')) {
    const m = new RegExp(`^${metric}_(sum|count)\\{([^}]*)\\} (\\S+)$`).exec(line);
    if (!m) continue;
    const labels = m[2] ?? '';
    if (!Object.entries(match).every(([k, v]) => labels.includes(`${k}="${v}"`))) continue;
    total[m[1] as 'sum' | 'count'] += Number(m[3]);
  }
  return total;
}

/** Mean milliseconds of what the apiserver observed between two readings. */
function meanMs(before: { sum: number; count: number }, after: { sum: number; count: number }): string {
  const n = after.count - before.count;
  return n > 0 ? `${(((after.sum - before.sum) / n) * 1000).toFixed(2)} (n=${n})` : 'n/a';
}

const POST_TOPICS = { verb: 'POST', resource: 'topics', group: 'platform.kidp.io' };
const WEBHOOK_DURATION = 'apiserver_admission_webhook_admission_duration_seconds';

async function round(label: string): Promise<number[]> {
  process.stderr.write(`round ${label}: ${CREATES} creates\n`);
  const times: number[] = [];
  for (let i = 0; i < CREATES; i++) {
    const topic = { apiVersion: V, kind: 'Topic', metadata: { name: `lat-${label}-${i}`, namespace: 'bench-latency' }, spec: { owner: { kind: 'Team', name: 'bench' }, partitions: 6, replicationFactor: 3, environment: 'staging' } };
    const r = await kubectl(['create', '-f', '-'], JSON.stringify(topic));
    if (r.code !== 0) throw new Error(`create failed: ${r.stderr}`);
    times.push(r.ms);
  }
  await cleanup();
  return times;
}

/** Removes every Topic of the namespace, finalizers first: no controller runs here to clear them. */
async function cleanup(): Promise<void> {
  // Delete first: KIDP's mutating webhook restores the finalizer on an update unless the
  // object is already being deleted.
  await kubectl(['delete', 'topics', '--all', '-n', 'bench-latency', '--wait=false']);
  const list = await kubectl(['get', 'topics', '-n', 'bench-latency', '-o', 'name']);
  for (const name of list.stdout.split('\n').filter(Boolean)) {
    await kubectl(['patch', name, '-n', 'bench-latency', '--type', 'merge', '-p', '{"metadata":{"finalizers":null}}']);
  }
  await kubectl(['wait', '--for=delete', 'topics', '--all', '-n', 'bench-latency', '--timeout=60s']);
}

async function main(): Promise<void> {
  loadEnvironment();
  await kubectl(['delete', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', 'kidp', '--ignore-not-found']);
  await kubectl(['create', 'namespace', 'bench-latency']);
  await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: V, kind: 'Team', metadata: { name: 'bench' }, spec: { displayName: 'Bench', costCenter: 'CC-9999', members: [{ kind: 'User', name: 'bench' }] } }));
  console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}); ${CREATES} creates per round`);
  await cleanup();
  await round('warm');
  const postBefore = await apiserverMetric('apiserver_request_duration_seconds', POST_TOPICS);
  const without = await round('without');
  const postWithout = await apiserverMetric('apiserver_request_duration_seconds', POST_TOPICS);
  const webhook = await serveWebhook({ kubeconfig: process.env.KUBECONFIG, host: '127.0.0.1', port: 0, certDir: join(mkdtempSync(join(tmpdir(), 'kidp-lat-')), 'certs'), registerUrl: true, logger: pino({ level: 'silent' }) });
  try {
    for (const p of benchPolicies(root)) webhook.store.upsertPolicy(p);
    await round('warm2');
    const postBeforeWith = await apiserverMetric('apiserver_request_duration_seconds', POST_TOPICS);
    const mutatingBefore = await apiserverMetric(WEBHOOK_DURATION, { type: 'admit', operation: 'CREATE' });
    const validatingBefore = await apiserverMetric(WEBHOOK_DURATION, { type: 'validating', operation: 'CREATE' });
    const withHooks = await round('with');
    const postWith = await apiserverMetric('apiserver_request_duration_seconds', POST_TOPICS);
    const mutatingAfter = await apiserverMetric(WEBHOOK_DURATION, { type: 'admit', operation: 'CREATE' });
    const validatingAfter = await apiserverMetric(WEBHOOK_DURATION, { type: 'validating', operation: 'CREATE' });
    const a = median(without);
    const b = median(withHooks);
    console.log('\n| kubectl create (Topic) | kubectl, median ms | apiserver, mean ms of POST topics |');
    console.log('|---|---|---|');
    console.log(`| without KIDP webhooks | ${a.toFixed(1)} | ${meanMs(postBefore, postWithout)} |`);
    console.log(`| with KIDP webhooks (${webhook.store.policies().length} policies) | ${b.toFixed(1)} | ${meanMs(postBeforeWith, postWith)} |`);
    console.log(`| added by the webhooks | ${(b - a).toFixed(1)} | |`);
    console.log(`\nthe apiserver's own timing of the webhook calls (${WEBHOOK_DURATION}), mean ms per create:`);
    console.log(`  mutating: ${meanMs(mutatingBefore, mutatingAfter)}; validating: ${meanMs(validatingBefore, validatingAfter)}`);
  } finally {
    await webhook.stop();
    await kubectl(['delete', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', 'kidp', '--ignore-not-found']);
  }
}

await main();
