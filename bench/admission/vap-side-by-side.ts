// `npm run bench:admission:vap`: what KIDP's validating webhook costs a write, next to
// the apiserver's own in-process CEL, on the real apiserver (test/env; `npm run env:start`
// first). The same three rules on ConfigMap creates, enforced three ways:
//   none  — no policy at all;
//   vap   — a hand-written ValidatingAdmissionPolicy + Binding (validationActions: Deny);
//   kidp  — the same rules as a KIDP Policy (mode Enforce), answered by `kidp webhook serve`
//           running as its own process, registered as the apiserver's webhook;
//   native — the same KIDP Policy with spec.enforcement: Native: `kidp reports run` (its own
//           process) generates the VAP, and the webhook configuration stops sending ConfigMaps.
//           The reports controller is stopped once the VAP is in place, so its background
//           audit of the new ConfigMaps does not load the machine during the measured creates
//           (what is measured is the write path; the audit is asynchronous to it).
// Rounds are interleaved (none, vap, kidp, then rotated) so machine load hits every mode
// alike. Each round: WARMUP creates, then CREATES measured creates, each admitted. Figures:
// the apiserver's mean POST time from its own metrics (apiserver_request_duration_seconds
// sum/count between two readings), and the client-side median and p99 of the same creates.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { get as httpsGet } from 'node:https';
import { benchRoot, kubectl, loadEnvironment, poster } from './cluster.js';

const CREATES = Number(process.env.BENCH_CREATES ?? '150');
const WARMUP = Number(process.env.BENCH_WARMUP ?? '20');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '3');
const NS = 'bench-vap';
const root = benchRoot();

type Mode = 'none' | 'vap' | 'kidp' | 'native';

// The three rules, written once and used by both the VAP and the KIDP Policy.
const RULES = [
  { name: 'app-label', expression: "has(object.metadata.labels) && 'app' in object.metadata.labels", message: 'set metadata.labels.app' },
  { name: 'small-data', expression: '!has(object.data) || object.data.size() <= 20', message: 'keep data to at most 20 keys' },
  { name: 'dns-name', expression: "object.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')", message: 'the name must be a DNS-1123 label' },
];

const VAP = {
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'ValidatingAdmissionPolicy',
  metadata: { name: 'bench-vap' },
  spec: {
    failurePolicy: 'Fail',
    matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['configmaps'] }] },
    validations: RULES.map((r) => ({ expression: r.expression, message: r.message })),
  },
};
const BINDING = {
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'ValidatingAdmissionPolicyBinding',
  metadata: { name: 'bench-vap' },
  spec: { policyName: 'bench-vap', validationActions: ['Deny'], matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NS } } } },
};
const POLICY = {
  apiVersion: 'platform.kidp.io/v1alpha1',
  kind: 'Policy',
  metadata: { name: 'bench-vap' },
  spec: {
    description: 'The side-by-side benchmark rules.',
    mode: 'Enforce',
    selector: { resourceTypes: ['ConfigMap'], operations: ['CREATE', 'UPDATE'], namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NS } } },
    rules: RULES.map((r) => ({ name: r.name, expression: r.expression, message: r.message, severity: 'medium' })),
  },
};

function configMap(name: string, labelled = true): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NS, ...(labelled ? { labels: { app: 'bench' } } : {}) }, data: { a: '1', b: 'two' } });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      s.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** `kidp <args>` as its own process, output kept for the error message. */
function kidp(args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [join(root, 'dist/cli/main.js'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'warn' },
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  return { child, output: () => output };
}

/** The bench's webhook port (its /metrics are read in kidp rounds); its certificate is self-signed. */
let webhookPort = 0;

async function startWebhook(): Promise<ChildProcess> {
  const port = await freePort();
  webhookPort = port;
  const certDir = join(mkdtempSync(join(tmpdir(), 'kidp-vap-bench-')), 'certs');
  const { child, output } = kidp(['webhook', 'serve', '--kubeconfig', process.env.KUBECONFIG as string, '--host', '127.0.0.1', '--port', String(port), '--cert-dir', certDir, '--register']);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`kidp webhook serve exited ${child.exitCode}:\n${output()}`);
    const r = await kubectl(['get', 'validatingwebhookconfiguration', 'kidp', '-o', 'name']);
    if (r.code === 0) return child;
    await sleep(250);
  }
  child.kill('SIGTERM');
  throw new Error(`kidp webhook serve did not register within 60 s:\n${output()}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until an unlabelled ConfigMap is refused (enforced = true) or admitted (false). */
async function waitEnforced(enforced: boolean, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (let i = 0; Date.now() < deadline; i++) {
    const r = await kubectl(['create', '--dry-run=server', '-f', '-'], configMap(`probe-${i}`, false));
    const refused = r.code !== 0 && /set metadata\.labels\.app/.test(r.stderr);
    if (r.code !== 0 && !refused) throw new Error(`probe create failed unexpectedly (${what}): ${r.stderr}`);
    if (refused === enforced) return;
    await sleep(200);
  }
  throw new Error(`${what}: the rules were not ${enforced ? 'enforced' : 'lifted'} within 60 s`);
}

/** Waits until KIDP's webhook configuration no longer sends `resource`: the apiserver alone answers. */
async function waitWebhookSkips(resource: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const r = await kubectl(['get', 'validatingwebhookconfiguration', 'kidp', '-o', 'json']);
    if (r.code === 0 && !r.stdout.includes(`"${resource}"`)) return;
    await sleep(200);
  }
  throw new Error(`the webhook configuration still sends ${resource} after 60 s`);
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function enter(mode: Mode): Promise<void> {
  if (mode === 'vap') {
    await must(kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [VAP, BINDING] })));
    await waitEnforced(true, 'vap');
  } else if (mode === 'kidp') {
    await must(kubectl(['apply', '-f', '-'], JSON.stringify(POLICY)));
    await waitEnforced(true, 'kidp');
  } else if (mode === 'native') {
    const reports = kidp(['reports', 'run', '--kubeconfig', process.env.KUBECONFIG as string]);
    try {
      await must(kubectl(['apply', '-f', '-'], JSON.stringify({ ...POLICY, spec: { ...POLICY.spec, enforcement: 'Native' } })));
      await waitEnforced(true, 'native');
      await waitWebhookSkips('configmaps');
    } finally {
      await stop(reports.child);
    }
  } else {
    await waitEnforced(false, 'none');
  }
}

async function leave(mode: Mode): Promise<void> {
  if (mode === 'vap') await must(kubectl(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', 'bench-vap', '--ignore-not-found']));
  if (mode === 'kidp' || mode === 'native') await must(kubectl(['delete', 'policy', 'bench-vap', '--ignore-not-found']));
  // The reports controller is not running now: remove what it generated.
  if (mode === 'native') await must(kubectl(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', 'kidp-bench-vap', '--ignore-not-found']));
  await must(kubectl(['delete', 'configmaps', '-n', NS, '-l', 'app=bench', '--wait=true']));
}

async function must(p: Promise<{ code: number; stderr: string }>): Promise<void> {
  const r = await p;
  if (r.code !== 0) throw new Error(r.stderr);
}

interface Sample {
  apiserverMeanMs: number;
  /** Of that, the apiserver's time in validating webhook calls (kidp mode), and the webhook's own handling time. */
  webhookCallMs?: number;
  webhookOwnMs?: number;
  clientMs: number[];
}

/** Sum (s) and count of a histogram in a Prometheus text page, over the series whose labels include every `want`. */
function histogram(text: string, name: string, want: readonly string[]): { sum: number; count: number } {
  const total = { sum: 0, count: 0 };
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}_(sum|count)\\{([^}]*)\\} (\\S+)$`).exec(line);
    if (!m || !want.every((w) => (m[2] ?? '').includes(w))) continue;
    total[m[1] as 'sum' | 'count'] += Number(m[3]);
  }
  return total;
}

/** The apiserver's time in validating webhook calls (admission_webhook_admission_duration) and the webhook's own (kidp_admission_duration_seconds). */
async function webhookMetrics(port: number): Promise<{ call: { sum: number; count: number }; own: { sum: number; count: number } }> {
  const r = await kubectl(['get', '--raw', '/metrics']);
  if (r.code !== 0) throw new Error(`reading the apiserver's metrics failed: ${r.stderr}`);
  const call = histogram(r.stdout, 'apiserver_admission_webhook_admission_duration_seconds', ['type="validating"', 'operation="CREATE"']);
  const page = await new Promise<string>((resolve) => {
    httpsGet({ host: '127.0.0.1', port, path: '/metrics', rejectUnauthorized: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(res.statusCode === 200 ? body : ''));
    }).on('error', () => resolve(''));
  });
  const own = histogram(page, 'kidp_admission_duration_seconds', ['webhook="validate"']);
  return { call, own };
}

/** POST configmaps: the apiserver's sum (s) and count, from /metrics. */
async function postMetric(): Promise<{ sum: number; count: number }> {
  const r = await kubectl(['get', '--raw', '/metrics']);
  if (r.code !== 0) throw new Error(`reading the apiserver's metrics failed: ${r.stderr}`);
  return histogram(r.stdout, 'apiserver_request_duration_seconds', ['verb="POST"', 'resource="configmaps"', 'dry_run=""']);
}

async function creates(prefix: string, n: number, post: (body: string) => Promise<number>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) times.push(await post(configMap(`${prefix}-${i}`)));
  return times;
}

async function round(mode: Mode, index: number, post: (body: string) => Promise<number>): Promise<Sample> {
  await enter(mode);
  await creates(`w${index}-${mode}`, WARMUP, post);
  const before = await postMetric();
  const hooksBefore = mode === 'kidp' ? await webhookMetrics(webhookPort) : undefined;
  const clientMs = await creates(`m${index}-${mode}`, CREATES, post);
  const after = await postMetric();
  const hooksAfter = mode === 'kidp' ? await webhookMetrics(webhookPort) : undefined;
  await leave(mode);
  const n = after.count - before.count;
  if (n !== CREATES) throw new Error(`expected ${CREATES} POSTs in the apiserver's metrics, saw ${n}`);
  const sample: Sample = { apiserverMeanMs: ((after.sum - before.sum) / n) * 1000, clientMs };
  if (hooksBefore && hooksAfter) {
    const calls = hooksAfter.call.count - hooksBefore.call.count;
    const owns = hooksAfter.own.count - hooksBefore.own.count;
    if (calls > 0) sample.webhookCallMs = ((hooksAfter.call.sum - hooksBefore.call.sum) / calls) * 1000;
    if (owns > 0) sample.webhookOwnMs = ((hooksAfter.own.sum - hooksBefore.own.sum) / owns) * 1000;
  }
  return sample;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
}

async function main(): Promise<void> {
  loadEnvironment();
  const post = await poster(NS);
  await kubectl(['create', 'namespace', NS]);
  await kubectl(['delete', 'policy', '--all']);
  await kubectl(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', 'bench-vap', '--ignore-not-found']);
  const webhook = await startWebhook();
  const order: Mode[] = ['none', 'vap', 'kidp', 'native'];
  const samples: Record<Mode, Sample[]> = { none: [], vap: [], kidp: [], native: [] };
  console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}; ${ROUNDS} rounds × ${CREATES} creates per mode (+${WARMUP} warm-up), interleaved`);
  try {
    for (let r = 0; r < ROUNDS; r++) {
      const rotated = [...order.slice(r % order.length), ...order.slice(0, r % order.length)];
      for (const mode of rotated) {
        const s = await round(mode, r, post);
        samples[mode].push(s);
        process.stderr.write(`round ${r + 1} ${mode}: apiserver mean ${s.apiserverMeanMs.toFixed(2)} ms, client p50 ${quantile(s.clientMs, 0.5).toFixed(2)} ms\n`);
      }
    }
  } finally {
    webhook.kill('SIGTERM');
    await kubectl(['delete', 'policy', 'bench-vap', '--ignore-not-found']);
    await kubectl(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', 'bench-vap', '--ignore-not-found']);
    await kubectl(['delete', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', 'kidp', '--ignore-not-found']);
  }
  const row = (mode: Mode) => {
    const means = samples[mode].map((s) => s.apiserverMeanMs);
    const all = samples[mode].flatMap((s) => s.clientMs);
    return { mean: quantile(means, 0.5), rounds: means.map((m) => m.toFixed(2)).join(' / '), p50: quantile(all, 0.5), p99: quantile(all, 0.99) };
  };
  const rows = { none: row('none'), vap: row('vap'), kidp: row('kidp'), native: row('native') };
  console.log('\n| mode | apiserver mean POST ms (median of rounds) | per round | client p50 ms | client p99 ms |');
  console.log('|---|---|---|---|---|');
  for (const mode of order) {
    const x = rows[mode];
    console.log(`| ${mode} | ${x.mean.toFixed(2)} | ${x.rounds} | ${x.p50.toFixed(2)} | ${x.p99.toFixed(2)} |`);
  }
  const calls = samples.kidp.map((x) => x.webhookCallMs).filter((x): x is number => x !== undefined);
  const owns = samples.kidp.map((x) => x.webhookOwnMs).filter((x): x is number => x !== undefined);
  if (calls.length > 0) {
    console.log(
      `\nkidp rounds: the apiserver's mean time in the validating webhook call ${quantile(calls, 0.5).toFixed(2)} ms (apiserver_admission_webhook_admission_duration_seconds), ` +
        `of which the webhook's own handling ${owns.length > 0 ? quantile(owns, 0.5).toFixed(2) : '?'} ms (kidp_admission_duration_seconds); the rest is the request's encoding, the HTTPS round trip and the response's decoding`,
    );
  }
  console.log(`\nKIDP's webhook over hand-written VAP: ${(rows.kidp.mean - rows.vap.mean).toFixed(2)} ms mean (target ≤ 0.70); KIDP Native over hand-written VAP: ${(rows.native.mean - rows.vap.mean).toFixed(2)} ms; VAP over none: ${(rows.vap.mean - rows.none.mean).toFixed(2)} ms`);
}

await main();
