// Issue 10 item 1 for consumers, on the real Kafka and the real apiserver: the broker's and
// the controllers' client certificates are replaced while a stream of requests flows
// through the whole path (controllers' dispatcher → request topic → reference broker →
// status topic → status consumer → the Services' status). Both consumers notice the new
// files, leave their groups after committing what they handled, and rejoin on connections
// made with the new certificate. Asserted on the effects: every Service deployed and Ready
// with its own request's event, none lost; redeliveries counted (the receivers are
// idempotent) — and afterwards every open connection of both identities presents the new
// certificate, while requests sent after the rotation are still carried out.
import { execFileSync } from 'node:child_process';
import { randomUUID, X509Certificate } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppsV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { kubectl, kubectlOk } from './kubectl.js';
import { kafkaBootstrap, kafkaCertDir, testKafka } from './kafka-env.js';
import { poll } from './until.js';
import { startReportFolding } from './report-folding.js';
import { PROTOCOL_VERSION, STATUS_TOPIC, type DeploymentRequest, type StatusEvent } from '../brokers/contract.js';
import { createKafka } from '../brokers/kafka.js';
import { setupKafkaAccess } from '../brokers/kafka-access.js';
import { generateBrokerKeyPair } from '../brokers/status-jwt.js';
import { createDispatcher } from '../brokers/dispatcher.js';
import { runReferenceBroker, type RunningReferenceBroker } from '../brokers/reference/broker.js';
import { startStatusConsumer } from '../brokers/status-consumer.js';
import { createStatusHandler, type StatusHandler } from '../brokers/status-handler.js';
import { KafkaTls } from '../kube/kafka.js';

const here = dirname(fileURLToPath(import.meta.url));
const kafkaSh = join(here, 'env', 'kafka', 'kafka.sh');
const RUN = `${Date.now().toString(36)}${randomUUID().slice(0, 4)}`;
const IDENTITY = `rot-${RUN}`;
const TARGET = `rot-${RUN}`;
const NS = `rot-src-${RUN}`;
const TARGET_NS = `rot-dst-${RUN}`;
const V = 'platform.kidp.io/v1alpha1';
const N = 90;
/** The files are polled this often here (10 s in production): the test waits for seconds, not minutes. */
const WATCH_MS = 250;

const logger = pino({ level: process.env.KIDP_TEST_LOG ?? 'silent' });
const kubeConfig = new KubeConfig();
const dispatchKeys = generateBrokerKeyPair();
const brokerKeys = generateBrokerKeyPair();
const dirs: string[] = [];
const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000) => poll(what, probe, { timeoutMs, intervalMs: 250 }).then((r) => r.value);
const serialOf = (dir: string) => new X509Certificate(readFileSync(join(dir, 'tls.crt'), 'utf8')).serialNumber;

/** A private copy of `principal`'s certificate directory: rotating it touches no other test's client. */
function copyOf(principal: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kidp-rot-'));
  dirs.push(dir);
  cpSync(kafkaCertDir(principal), dir, { recursive: true });
  return dir;
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

it("rotating the broker's and the controllers' certificates mid-stream: every request carried out, none lost, both consumers back on the new certificates", async () => {
  kubeConfig.loadFromFile(process.env.KUBECONFIG ?? '');
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  execFileSync('bash', [kafkaSh, 'cert', `kidp-broker-${IDENTITY}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  await setupKafkaAccess(createKafka({ brokers: [kafkaBootstrap()], clientId: 'rot-setup', logger, tls: kafkaCertDir() }), { brokerIdentities: [IDENTITY] });
  for (const ns of [NS, TARGET_NS]) await kubectlOk(['create', 'namespace', ns]);
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: V, kind: 'DeploymentTarget', metadata: { name: TARGET }, spec: { provider: 'kubernetes', environment: 'development', namespace: TARGET_NS, broker: { identity: IDENTITY, transport: 'kafka', publicKey: brokerKeys.publicKeyPem } } }),
  });
  const names = Array.from({ length: N }, (_, i) => `svc-${String(i).padStart(3, '0')}`);
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: names.map((name) => ({ apiVersion: V, kind: 'Service', metadata: { name, namespace: NS }, spec: { owner: { kind: 'Application', name: 'shop' }, image: 'registry.kidp.io/rot:1', target: TARGET, resources: { limits: { cpu: '100m', memory: '64Mi' } } } })) }),
  });
  const services = await Promise.all(names.map((name) => custom.getNamespacedCustomObject({ group: 'platform.kidp.io', version: 'v1alpha1', namespace: NS, plural: 'services', name }) as Promise<{ metadata: { uid: string; generation: number }; spec: Record<string, unknown> }>));

  const brokerDir = copyOf(`kidp-broker-${IDENTITY}`);
  const controllersDir = copyOf('kidp-controllers');
  const brokerTls = new KafkaTls(brokerDir, WATCH_MS);
  const controllersTls = new KafkaTls(controllersDir, WATCH_MS);
  // How often each Service's status was written from an event: redeliveries show up here.
  const applied = new Map<string, number>();
  const real = createStatusHandler({ kubeConfig, logger });
  const handler: StatusHandler = {
    ...real,
    handle: async (event, auth, via) => {
      const outcome = await real.handle(event, auth, via);
      if (event.phase === 'Ready') applied.set(event.requestId, (applied.get(event.requestId) ?? 0) + 1);
      return outcome;
    },
  };
  let broker: RunningReferenceBroker | undefined;
  let statusConsumer: { stop(): Promise<void> } | undefined;
  // The handler records each report; the deployable reconciler's fold writes the status.
  let folding: { stop(): Promise<void> } | undefined;
  const dispatcher = createDispatcher({ kafkaBrokers: [kafkaBootstrap()], kafkaTls: controllersTls, dispatchSigningKeyPem: dispatchKeys.privateKeyPem, logger });
  try {
    broker = await runReferenceBroker({
      identities: [IDENTITY],
      kafkaBrokers: [kafkaBootstrap()],
      kafkaTls: brokerTls,
      platformPublicKeyPem: dispatchKeys.publicKeyPem,
      signingKeyPem: brokerKeys.privateKeyPem,
      placement: { namespaces: [TARGET_NS], platformNamespace: 'kidp-system' },
      targetKubeConfig: kubeConfig,
      logger,
    });
    await broker.joined;
    statusConsumer = await startStatusConsumer({ kafkaBrokers: [kafkaBootstrap()], kafkaTls: controllersTls, handler, logger });
    folding = await startReportFolding({ kubeConfig, dispatcher, logger, instance: `rotation-e2e-${RUN}` });
    const oldSerials = { broker: serialOf(brokerDir), controllers: serialOf(controllersDir) };
    const requests: DeploymentRequest[] = services.map((s, i) => ({
      apiVersion: PROTOCOL_VERSION,
      kind: 'DeploymentRequest',
      requestId: `${s.metadata.uid}-${s.metadata.generation}`,
      action: 'deploy',
      target: { name: TARGET, identity: IDENTITY, provider: 'kubernetes', environment: 'development', namespace: TARGET_NS },
      resource: { kind: 'Service', namespace: NS, name: names[i] ?? '', uid: s.metadata.uid, generation: s.metadata.generation, labels: {}, spec: s.spec },
      issuedAt: new Date().toISOString(),
    }));
    const sends: Array<Promise<unknown>> = [];
    for (const [i, request] of requests.entries()) {
      sends.push(dispatcher.dispatch(request, { transport: 'kafka' }));
      // A third of the way: the broker's certificate; two thirds: the controllers'. Renamed into place under the running clients.
      if (i === Math.floor(N / 3)) execFileSync('bash', [kafkaSh, 'cert', `kidp-broker-${IDENTITY}`, brokerDir], { stdio: 'ignore' });
      if (i === Math.floor((2 * N) / 3)) execFileSync('bash', [kafkaSh, 'cert', 'kidp-controllers', controllersDir], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 40));
    }
    expect((await Promise.allSettled(sends)).filter((s) => s.status === 'rejected').length).toBe(0);
    const newSerials = { broker: serialOf(brokerDir), controllers: serialOf(controllersDir) };
    expect(newSerials.broker).not.toBe(oldSerials.broker);
    expect(newSerials.controllers).not.toBe(oldSerials.controllers);

    // Effects: each Service Ready from its own request's event, its Deployment in the target namespace.
    const ready = await until(`${N} Services Ready`, async () => {
      const list = (await custom.listNamespacedCustomObject({ group: 'platform.kidp.io', version: 'v1alpha1', namespace: NS, plural: 'services' })) as { items: Array<{ metadata: { name: string; uid: string }; status?: { phase?: string; lastStatusEventId?: string } }> };
      const done = list.items.filter((s) => s.status?.phase === 'Ready');
      return done.length >= N ? list.items : undefined;
    }, 120_000);
    const deployments = ((await apps.listNamespacedDeployment({ namespace: TARGET_NS })).items ?? []).map((d) => d.metadata?.name ?? '').sort();
    // After the rotation, on the new certificates: one more request round trip, then only new serials on open connections.
    const after = requests[0] as DeploymentRequest;
    await kubectlOk(['patch', 'services.platform.kidp.io', '-n', NS, after.resource.name, '--type', 'merge', '-p', JSON.stringify({ spec: { image: 'registry.kidp.io/rot:2' } })]);
    const patched = (await custom.getNamespacedCustomObject({ group: 'platform.kidp.io', version: 'v1alpha1', namespace: NS, plural: 'services', name: after.resource.name })) as { metadata: { generation: number }; spec: Record<string, unknown> };
    const second: DeploymentRequest = { ...after, requestId: `${after.resource.uid}-${patched.metadata.generation}`, resource: { ...after.resource, generation: patched.metadata.generation, spec: patched.spec } };
    await dispatcher.dispatch(second, { transport: 'kafka' });
    const image = await until('the post-rotation request applied', async () => {
      const d = await apps.readNamespacedDeployment({ name: after.resource.name, namespace: TARGET_NS });
      const img = d.spec?.template.spec?.containers[0]?.image;
      return img === 'registry.kidp.io/rot:2' ? img : undefined;
    });
    const serials = await until('every open connection on the new certificates', async () => {
      const s = { broker: [...new Set(brokerTls.openConnectionSerials())], controllers: [...new Set(controllersTls.openConnectionSerials())] };
      return s.broker.length > 0 && s.controllers.length > 0 && s.broker.every((x) => x === newSerials.broker) && s.controllers.every((x) => x === newSerials.controllers) ? s : undefined;
    }, 30_000);
    const statusEvents = await readyEventsOnTopic(new Set(requests.map((r) => r.requestId)));
    const redelivered = [...applied.values()].filter((n) => n > 1).length;
    console.log(`consumer rotation: ${N} requests, broker cert ${oldSerials.broker} -> ${newSerials.broker}, controllers cert ${oldSerials.controllers} -> ${newSerials.controllers}; Ready events on the topic ${statusEvents.total} for ${statusEvents.distinct} requests; status applications ${[...applied.values()].reduce((a, b) => a + b, 0)} (${redelivered} request(s) handled more than once)`);
    expect({
      ready: ready.filter((s) => s.status?.phase === 'Ready' && s.status.lastStatusEventId === `${s.metadata.uid}-1:Ready`).length,
      deployments: deployments.filter((d) => d.startsWith('svc-')).length,
      image,
      everyRequestReported: statusEvents.distinct,
      everyRequestApplied: requests.every((r) => (applied.get(r.requestId) ?? 0) >= 1),
      serials,
    }).toEqual({
      ready: N,
      deployments: N,
      image: 'registry.kidp.io/rot:2',
      everyRequestReported: N,
      everyRequestApplied: true,
      serials: { broker: [newSerials.broker], controllers: [newSerials.controllers] },
    });
  } finally {
    await broker?.stop();
    await statusConsumer?.stop();
    await folding?.stop();
    await dispatcher.close();
    await kubectl(['delete', 'deploymenttarget', TARGET, '--ignore-not-found']);
  }
}, 300_000);

/** The Ready events the broker put on the status topic for these requests (duplicates are redeliveries of the request). */
async function readyEventsOnTopic(ids: Set<string>): Promise<{ total: number; distinct: number }> {
  const consumer = testKafka('rot-reader').consumer({ groupId: `rot-reader-${randomUUID()}` });
  const seen = new Map<string, number>();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: STATUS_TOPIC, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const e = JSON.parse(message.value?.toString() ?? '{}') as StatusEvent;
        if (ids.has(e.requestId) && e.phase === 'Ready') seen.set(e.requestId, (seen.get(e.requestId) ?? 0) + 1);
      },
    });
    await until('every Ready event read back', async () => (seen.size >= ids.size ? true : undefined), 30_000);
    await new Promise((r) => setTimeout(r, 1_000));
    return { total: [...seen.values()].reduce((a, b) => a + b, 0), distinct: seen.size };
  } finally {
    await consumer.disconnect();
  }
}
