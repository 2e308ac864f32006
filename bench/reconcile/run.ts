// npm run bench:reconcile — apply → Ready through Kafka (issue 5 item 9). Not a timed test:
// prints p50/p95/max of apply→Ready, the sustained rate, and the machine.
//
// Everything real, in this one process the way `make up` runs it on a laptop: the
// controllers (runControllers), the brokers' Dispatcher (Kafka producer), the reference
// broker (consumes requests, creates a Deployment + Service per Service, reports status on
// Kafka) and the status-topic consumer feeding the status handler. Needs the local
// environment: `bash test/env/env.sh start && eval "$(bash test/env/env.sh env)"`.
//
// "apply" is the moment the create call returned; "Ready" is when a watch in this process
// sees status.phase Ready. Options (env): BENCH_COUNT (500), BENCH_CONCURRENCY (creates in
// flight, 25), BENCH_WORKERS (controller workers per kind; default: the controllers'
// default), BENCH_BROKER_CONCURRENCY (requests the broker and the status consumer handle at
// once; default: theirs), BENCH_RATE (creates per second; unset = as fast as the creates
// go, a burst).
//
// No admission webhook runs here, so the creates carry what the mutating webhook would add
// (the cleanup finalizer and spec.environment); otherwise every Service would cost the
// controller an extra pass that production does not have.
//
// Each Service becomes a core/v1 Service in the target namespace (the reference broker's
// doing), so BENCH_COUNT is bounded by the apiserver's service CIDR (test/env: a /16); the
// bench deletes them afterwards.
import { randomUUID } from 'node:crypto';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, makeInformer, setHeaderOptions, type KubernetesListObject, type KubernetesObject, type V1Service } from '@kubernetes/client-node';
import pino from 'pino';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrokerMetrics, DEFAULT_STATUS_GROUP, createDispatcher, createStatusHandler, generateBrokerKeyPair, runReferenceBroker, startStatusConsumer, type Dispatcher, type LocalFold, type StatusHandler } from '../../brokers/index.js';
import { createKafka } from '../../brokers/kafka.js';
import { setupKafkaAccess } from '../../brokers/kafka-access.js';
import { runControllers } from '../../controllers/index.js';

const COUNT = Number(process.env.BENCH_COUNT ?? 500);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 25);
const WORKERS = process.env.BENCH_WORKERS ? Number(process.env.BENCH_WORKERS) : undefined;
const BROKER_CONCURRENCY = process.env.BENCH_BROKER_CONCURRENCY ? Number(process.env.BENCH_BROKER_CONCURRENCY) : undefined;
/** How often a long step says how far it got. */
const PROGRESS_EVERY_MS = 5_000;
const RATE = process.env.BENCH_RATE ? Number(process.env.BENCH_RATE) : undefined;
/** Give up on stragglers after this long: the report then counts them as not Ready. */
const READY_DEADLINE_MS = 180_000;
const TARGET_P95_MS = 5_000;
const GROUP = 'platform.kidp.io';
const VERSION = 'v1alpha1';

const RUN = `${Date.now().toString(36)}${randomUUID().slice(0, 4)}`;
const NS = `bench-${RUN}`;
const TARGET_NS = `bench-workloads-${RUN}`;
const TARGET = `bench-${RUN}`;
/**
 * Fixed across runs: the broker's and the status consumer's groups then resume at their
 * committed offsets instead of reading every earlier run's messages first (which would be
 * measured as latency of the first Services).
 */
const IDENTITY = 'bench-broker';
// The controllers' one status group: its ACL names no other (brokers/kafka-access.ts).
const STATUS_GROUP = DEFAULT_STATUS_GROUP;

/**
 * The apiserver's own count of requests (apiserver_request_total), by verb and resource:
 * snapshotted before the creates and after the last Ready, so the difference is what the
 * burst cost (the bench's informers, Lease renewals and the other controllers' few calls
 * included). WATCH requests are counted when they start.
 */
function apiserverRequests(): Map<string, number> {
  const out = execFileSync(process.env.KUBECTL ?? 'kubectl', ['get', '--raw', '/metrics'], { encoding: 'utf8', maxBuffer: 256 * 2 ** 20 });
  const counts = new Map<string, number>();
  for (const line of out.split('\n')) {
    const m = /^apiserver_request_total\{([^}]*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const label = (k: string) => new RegExp(`(?:^|,)${k}="([^"]*)"`).exec(m[1] ?? '')?.[1] ?? '';
    if (label('dry_run') !== '') continue;
    const resource = `${label('group') ? `${label('group')}/` : ''}${label('resource')}${label('subresource') ? `/${label('subresource')}` : ''}`;
    const key = `${label('verb')} ${resource}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(m[2]));
  }
  return counts;
}

const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'APPLY']);

/** A progress line on stderr: rewritten in place on a terminal, one line per update otherwise (CI logs). */
function progress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r${text}\x1b[K`);
  else process.stderr.write(`${text}\n`);
}

function progressDone(): void {
  if (process.stderr.isTTY) process.stderr.write('\n');
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/** A principal's Kafka client certificate directory, as test/env/kafka/kafka.sh writes them. */
function certDir(principal: string): string {
  const dir = process.env.KIDP_KAFKA_CERTS;
  if (!dir) throw new Error('KIDP_KAFKA_CERTS is unset: eval "$(bash test/env/env.sh env)" first');
  return join(dir, principal);
}

async function main(): Promise<void> {
  const dispatchKeys = generateBrokerKeyPair();
  const brokerKeys = generateBrokerKeyPair();
  // The bench's broker identity gets its own certificate and ACLs, as a real broker would.
  execFileSync('bash', [join(fileURLToPath(new URL('../../test/env/kafka/kafka.sh', import.meta.url))), 'cert', `kidp-broker-${IDENTITY}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  const bootstrap = process.env.KAFKA_BOOTSTRAP;
  if (!process.env.KUBECONFIG || !bootstrap) {
    console.error('KUBECONFIG and KAFKA_BOOTSTRAP are unset. Start the environment first:\n  bash test/env/env.sh start && eval "$(bash test/env/env.sh env)"');
    process.exit(2);
  }
  const logger = pino({ level: process.env.BENCH_LOG ?? 'warn' });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(process.env.KUBECONFIG);
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const core = kubeConfig.makeApiClient(CoreV1Api);

  await core.createNamespace({ body: { metadata: { name: NS } } });
  await core.createNamespace({ body: { metadata: { name: TARGET_NS } } });
  await custom.createClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: 'deploymenttargets',
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'DeploymentTarget', metadata: { name: TARGET }, spec: { provider: 'kubernetes', environment: 'development', namespace: TARGET_NS, broker: { identity: IDENTITY, transport: 'kafka', publicKey: brokerKeys.publicKeyPem } } },
  });
  await custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: NS,
    plural: 'applications',
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'Application', metadata: { name: 'bench' }, spec: { owner: { kind: 'Team', name: 'bench' }, environment: 'development' } },
  });

  await setupKafkaAccess(createKafka({ brokers: [bootstrap], clientId: 'bench-setup', logger, tls: certDir('kidp-admin') }), { brokerIdentities: [IDENTITY] });
  const brokerMetrics = new BrokerMetrics();
  // Per-Service timestamps (Date.now(), one process) of each hop, to say where the time goes.
  const stages = { dispatchStart: new Map<string, number>(), dispatchEnd: new Map<string, number>(), reported: new Map<string, number>(), handleStart: new Map<string, number>(), handleEnd: new Map<string, number>() };
  const first = (m: Map<string, number>, name: string, at: number) => {
    if (!m.has(name)) m.set(name, at);
  };
  // Reports reach the leading controllers in memory, as in `kidp controllers run`;
  // BENCH_LOCAL_FOLD=0 records each in status.brokerReports first (one write more).
  const late: { controllers?: Awaited<ReturnType<typeof runControllers>> } = {};
  const localFold = process.env.BENCH_LOCAL_FOLD !== '0';
  const realHandler = createStatusHandler({
    kubeConfig,
    logger,
    metrics: brokerMetrics,
    ...(localFold ? { localFold: ((ref, report) => late.controllers?.foldLocally(ref, report) ?? Promise.resolve(false)) satisfies LocalFold } : {}),
  });
  const handler: StatusHandler = {
    targetKeys: (name) => realHandler.targetKeys(name),
    settled: (event, timeoutMs) => realHandler.settled(event, timeoutMs),
    async handle(event, auth, transport) {
      const name = event.resource.name;
      // Names repeat across runs; only this run's namespace counts.
      const ours = event.resource.namespace === NS;
      if (ours && event.phase === 'Ready') {
        first(stages.reported, name, Date.parse(event.reportedAt));
        first(stages.handleStart, name, Date.now());
      }
      const outcome = await realHandler.handle(event, auth, transport);
      if (ours && event.phase === 'Ready') first(stages.handleEnd, name, Date.now());
      return outcome;
    },
  };
  const concurrency = BROKER_CONCURRENCY !== undefined ? { concurrency: BROKER_CONCURRENCY } : {};
  // As `make up` runs them: each component its own Kafka principal over mTLS, every message signed.
  const statusConsumer = await startStatusConsumer({ kafkaBrokers: [bootstrap], kafkaTls: certDir('kidp-controllers'), handler, logger, groupId: STATUS_GROUP, metrics: brokerMetrics, ...concurrency });
  const broker = await runReferenceBroker({
    identities: [IDENTITY],
    kafkaBrokers: [bootstrap],
    kafkaTls: certDir(`kidp-broker-${IDENTITY}`),
    platformPublicKeyPem: dispatchKeys.publicKeyPem,
    signingKeyPem: brokerKeys.privateKeyPem,
    placement: { namespaces: [TARGET_NS] },
    targetKubeConfig: kubeConfig,
    logger,
    metrics: brokerMetrics,
    ...concurrency,
  });
  await broker.joined;
  const realDispatcher = createDispatcher({ kafkaBrokers: [bootstrap], kafkaTls: certDir('kidp-controllers'), dispatchSigningKeyPem: dispatchKeys.privateKeyPem, logger, metrics: brokerMetrics });
  const dispatcher: Dispatcher = {
    async dispatch(request, target) {
      const name = request.resource.name;
      first(stages.dispatchStart, name, Date.now());
      const transport = await realDispatcher.dispatch(request, target);
      first(stages.dispatchEnd, name, Date.now());
      return transport;
    },
    close: () => realDispatcher.close(),
  };
  const controllers = await runControllers({ kubeConfig, dispatcher, identity: `bench-${process.pid}`, leaseNamespace: 'default', leaseName: `kidp-bench-${RUN}`, ...(WORKERS !== undefined ? { workers: WORKERS } : {}), logger });
  late.controllers = controllers;
  while (!controllers.isLeader()) await new Promise((r) => setTimeout(r, 50));

  const appliedAt = new Map<string, number>();
  /** The same moments on the wall clock, for the per-hop split against broker timestamps. */
  const appliedWall = new Map<string, number>();
  const readyWall = new Map<string, number>();
  const readyAt = new Map<string, number>();
  /** When this process first saw the controller's Dispatched record: splits the latency into controller and broker shares. */
  const dispatchedAt = new Map<string, number>();
  let allReady: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allReady = resolve));
  const watch = makeInformer<KubernetesObject>(kubeConfig, `/apis/${GROUP}/${VERSION}/namespaces/${NS}/services`, () =>
    custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: 'services' }) as Promise<KubernetesListObject<KubernetesObject>>,
  );
  const seen = (o: KubernetesObject) => {
    const name = o.metadata?.name ?? '';
    const conditions = (o as { status?: { conditions?: Array<{ type: string }> } }).status?.conditions ?? [];
    if (!dispatchedAt.has(name) && conditions.some((c) => c.type === 'Dispatched')) dispatchedAt.set(name, performance.now());
    if ((o as { status?: { phase?: string } }).status?.phase === 'Ready' && !readyAt.has(name)) {
      readyAt.set(name, performance.now());
      readyWall.set(name, Date.now());
      if (readyAt.size === COUNT) allReady();
    }
  };
  watch.on('add', seen);
  watch.on('update', seen);
  await watch.start();

  console.log(
    `applying ${COUNT} Services (${RATE ? `${RATE}/s` : 'burst'}, ${CONCURRENCY} creates in flight, ${WORKERS ?? 'default'} controller workers per kind, broker concurrency ${BROKER_CONCURRENCY ?? 'default'}) in namespace ${NS}`,
  );
  const loadBefore = loadavg()[0] ?? NaN;
  const requestsBefore = apiserverRequests();
  const t0 = performance.now();
  const ticker = setInterval(
    () => progress(`  ${((performance.now() - t0) / 1000).toFixed(0)} s: ${appliedAt.size}/${COUNT} applied, ${dispatchedAt.size} dispatched, ${readyAt.size} Ready`),
    PROGRESS_EVERY_MS,
  );
  let next = 0;
  const creator = async () => {
    for (;;) {
      const i = next++;
      if (i >= COUNT) return;
      const name = `svc-${String(i).padStart(4, '0')}`;
      if (RATE) {
        const due = t0 + (i * 1000) / RATE;
        if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
      }
      await custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: NS,
        plural: 'services',
        body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'Service', metadata: { name, labels: { bench: RUN }, finalizers: ['platform.kidp.io/cleanup'] }, spec: { owner: { kind: 'Application', name: 'bench' }, environment: 'development', target: TARGET, image: `registry.kidp.io/bench/${name}:1.0.0`, replicas: 1, port: 8080 } },
      });
      appliedAt.set(name, performance.now());
      appliedWall.set(name, Date.now());
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, creator));
  const appliedAll = performance.now();
  await Promise.race([done, new Promise((r) => setTimeout(r, READY_DEADLINE_MS))]);
  clearInterval(ticker);
  progressDone();
  const requestsAfter = apiserverRequests();

  const latencies = [...appliedAt].filter(([n]) => readyAt.has(n)).map(([n, at]) => (readyAt.get(n) ?? at) - at).sort((a, b) => a - b);
  const lastReady = Math.max(...readyAt.values());
  const p95 = percentile(latencies, 95);
  const cpu = cpus()[0]?.model ?? 'unknown';
  console.log('');
  console.log(`machine: ${availableParallelism()} cores (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}, ${process.platform}/${process.arch}`);
  // Everything here shares the machine's cores; a load above the core count before the run means other work was competing.
  console.log(`load average (1 min): ${loadBefore.toFixed(1)} before the creates, ${(loadavg()[0] ?? NaN).toFixed(1)} after (${availableParallelism()} cores)`);
  console.log(`ready: ${readyAt.size}/${COUNT}${readyAt.size < COUNT ? ` (gave up after ${READY_DEADLINE_MS / 1000} s)` : ''}`);
  console.log(`apply -> Ready ms: p50 ${percentile(latencies, 50).toFixed(0)}, p95 ${p95.toFixed(0)}, p99 ${percentile(latencies, 99).toFixed(0)}, max ${(latencies.at(-1) ?? NaN).toFixed(0)}`);
  const split = (from: Map<string, number>, to: Map<string, number>) =>
    [...from].filter(([n]) => to.has(n)).map(([n, at]) => (to.get(n) ?? at) - at).sort((a, b) => a - b);
  const toDispatched = split(appliedAt, dispatchedAt);
  const toReady = split(dispatchedAt, readyAt);
  console.log(`  apply -> Dispatched recorded (controller) ms: p50 ${percentile(toDispatched, 50).toFixed(0)}, p95 ${percentile(toDispatched, 95).toFixed(0)}`);
  console.log(`  Dispatched -> Ready (Kafka, broker, status handler) ms: p50 ${percentile(toReady, 50).toFixed(0)}, p95 ${percentile(toReady, 95).toFixed(0)}`);
  const hops: Array<[string, Map<string, number>, Map<string, number>]> = [
    ['apply -> dispatch start (controller queue, reconcile)', appliedWall, stages.dispatchStart],
    ['dispatch (Kafka produce, acked)', stages.dispatchStart, stages.dispatchEnd],
    ['acked -> broker applied (consume wait + apply)', stages.dispatchEnd, stages.reported],
    ['broker applied -> status handler start (status produce + consume wait)', stages.reported, stages.handleStart],
    ['status handler start -> Ready seen by this watch (reads, checks, status write)', stages.handleStart, readyWall],
    ['status handler, whole call (with its Event)', stages.handleStart, stages.handleEnd],
  ];
  console.log('where the time goes, per Service, ms (p50 / p95 / max):');
  for (const [label, from, to] of hops) {
    const d = split(from, to);
    console.log(`  ${label}: ${percentile(d, 50).toFixed(0)} / ${percentile(d, 95).toFixed(0)} / ${(d.at(-1) ?? NaN).toFixed(0)}`);
  }
  console.log(`creates: ${COUNT} in ${((appliedAll - t0) / 1000).toFixed(1)} s (${(COUNT / ((appliedAll - t0) / 1000)).toFixed(0)}/s)`);
  console.log(`sustained: ${readyAt.size} Ready in ${((lastReady - t0) / 1000).toFixed(1)} s from the first create = ${(readyAt.size / ((lastReady - t0) / 1000)).toFixed(1)} resources/s`);
  console.log(`target p95 apply -> Ready <= ${TARGET_P95_MS} ms: ${p95 <= TARGET_P95_MS && readyAt.size === COUNT ? 'met' : 'NOT met'}`);
  const spent = [...requestsAfter]
    .map(([k, n]) => [k, n - (requestsBefore.get(k) ?? 0)] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
  const perService = (verbs: (v: string) => boolean) => spent.filter(([k]) => verbs(k.split(' ')[0] ?? '')).reduce((sum, [, n]) => sum + n, 0) / COUNT;
  console.log(
    `apiserver requests per Service (apiserver_request_total, whole burst / ${COUNT}): ${perService(() => true).toFixed(2)} ` +
      `(writes ${perService((v) => WRITE_VERBS.has(v)).toFixed(2)}, reads ${perService((v) => v === 'GET' || v === 'LIST').toFixed(2)}, watches ${perService((v) => v === 'WATCH').toFixed(2)})`,
  );
  console.log(`  by verb and resource: ${spent.filter(([, n]) => n >= COUNT / 10).map(([k, n]) => `${k} ${(n / COUNT).toFixed(2)}`).join(', ')}`);
  const metrics = await controllers.registry.getSingleMetricAsString('kidp_reconciliation_duration_seconds');
  const line = (result: string) => {
    const count = new RegExp(`kidp_reconciliation_duration_seconds_count\\{kind="Service",result="${result}"\\} (\\d+)`).exec(metrics)?.[1] ?? '0';
    return `${result} ${count}`;
  };
  const sum = Number(/kidp_reconciliation_duration_seconds_sum\{kind="Service",result="requeue"\} ([\d.e+-]+)/.exec(metrics)?.[1] ?? NaN);
  const dispatches = Number(/kidp_reconciliation_duration_seconds_count\{kind="Service",result="requeue"\} (\d+)/.exec(metrics)?.[1] ?? NaN);
  console.log(`Service reconciles: ${['success', 'requeue', 'error', 'terminal'].map(line).join(', ')}; mean of a dispatching reconcile ${((sum / dispatches) * 1000).toFixed(0)} ms`);

  // Where the broker side spends its time (brokers' own histogram), for whoever tunes it.
  const calls = (await brokerMetrics.registry.getMetricsAsJSON()).find((m) => m.name === 'kidp_broker_call_duration_seconds') as
    | { values: Array<{ metricName?: string; labels: Record<string, string>; value: number }> }
    | undefined;
  const means = new Map<string, { sum: number; count: number }>();
  for (const v of calls?.values ?? []) {
    const key = `${v.labels.call}/${v.labels.transport}`;
    const m = means.get(key) ?? { sum: 0, count: 0 };
    if (v.metricName?.endsWith('_sum')) m.sum = v.value;
    if (v.metricName?.endsWith('_count')) m.count = v.value;
    means.set(key, m);
  }
  console.log(`broker calls (mean ms x count): ${[...means].map(([k, m]) => `${k} ${((m.sum / m.count) * 1000).toFixed(0)} x ${m.count}`).join(', ')}`);

  // Clean up without waiting for 500 broker deletions: stop the controllers, drop finalizers, delete.
  await watch.stop();
  await controllers.stop();
  await broker.stop();
  await statusConsumer.stop();
  await dispatcher.close();
  const names = [...appliedAt.keys()];
  for (let i = 0; i < names.length; i += 50) {
    progress(`  cleaning up: ${i}/${names.length} Services`);
    await Promise.all(
      names.slice(i, i + 50).map(async (name) => {
        await custom
          .patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: 'services', name, body: { metadata: { finalizers: null } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))
          .catch(() => undefined);
        await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: 'services', name }).catch(() => undefined);
      }),
    );
  }
  // What the broker created: namespaces never finish terminating here (no controller
  // manager), so without this every run's Services would keep their ClusterIPs.
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  await apps.deleteCollectionNamespacedDeployment({ namespace: TARGET_NS }).catch(() => undefined);
  const created = await core.listNamespacedService({ namespace: TARGET_NS }).catch(() => ({ items: [] as V1Service[] }));
  for (let i = 0; i < created.items.length; i += 50) {
    progress(`  cleaning up: ${i}/${created.items.length} broker-created core Services`);
    await Promise.all(created.items.slice(i, i + 50).map((s) => core.deleteNamespacedService({ namespace: TARGET_NS, name: s.metadata?.name ?? '' }).catch(() => undefined)));
  }
  await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: 'applications', name: 'bench' }).catch(() => undefined);
  await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'deploymenttargets', name: TARGET }).catch(() => undefined);
  progress('  cleaned up');
  progressDone();
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
