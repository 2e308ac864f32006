// brokers/ end to end (issue 5 items 4, 5, 7) on the real apiserver and the real Kafka:
// the controller-side Dispatcher, the reference `kubernetes` broker, the status topic
// consumer and the status API all run in this process against test/env. Nothing is mocked.
// The status API and consumer only record what brokers report (issue 13 item 3); the
// deployable reconciler's fold of those records (controllers/ reconcileReports) runs here
// on the real informers, queue and applier, without its outbox: no controller dispatches,
// so the tests build the DeploymentRequests the controller would.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import type { Kafka as KafkaClient } from 'kafkajs';
import pino from 'pino';
import { kubectl, kubectlOk } from './kubectl.js';
import { kafkaCertDir, testKafka } from './kafka-env.js';
import { createCa } from '../certs/ca.js';
import { issueServingCertificate } from '../certs/serving.js';
import {
  BrokerMetrics,
  DLQ_REASON_HEADER,
  PROTOCOL_VERSION,
  REQUESTS_TOPIC,
  STATUS_TOPIC,
  createDispatcher,
  createStatusHandler,
  es256Key,
  generateBrokerKeyPair,
  requestIdFor,
  runReferenceBroker,
  runStatusService,
  signRequestToken,
  signStatusToken,
  type BrokerDispatcher,
  type DeployableObject,
  type DeploymentRequest,
  type RunningReferenceBroker,
  type RunningStatusService,
  type StatusEvent,
} from '../brokers/index.js';
import { postJson } from '../brokers/webhook.js';
import { startReportFolding } from './report-folding.js';
import { encodeMessage } from '../brokers/protocol.js';
import { poll } from './until.js';


const RUN = `${Date.now().toString(36)}${randomUUID().slice(0, 4)}`;
const NS = 'brokers-e2e';
const TARGET_NS = 'brokers-e2e-workloads';
const TARGET_A = `e2e-a-${RUN}`;
const TARGET_B = `e2e-b-${RUN}`;
const IDENTITY_A = `ref-a-${RUN}`;
const IDENTITY_B = `ref-b-${RUN}`;
const V = 'platform.kidp.io/v1alpha1';
const STEP_TIMEOUT_MS = 30_000;
const TEST_TIMEOUT_MS = 90_000;

const logger = pino({ level: process.env.KIDP_TEST_LOG ?? 'silent' });
const kubeConfig = new KubeConfig();
let custom: CustomObjectsApi;
let apps: AppsV1Api;
let core: CoreV1Api;
let kafka: KafkaClient;
let dispatcher: BrokerDispatcher;
let broker: RunningReferenceBroker;
let startBroker: (webhookURL?: string) => Promise<RunningReferenceBroker>;
let statusService: RunningStatusService;
let folding: { stop(): Promise<void> };
let statusURL: string;
let caPem: string;
const keysA = generateBrokerKeyPair();
const keysB = generateBrokerKeyPair();
// The controllers' dispatch key: the dispatcher signs webhook deliveries, the broker trusts its public half.
const platformKeys = generateBrokerKeyPair();
const metrics = new BrokerMetrics();

const until = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = STEP_TIMEOUT_MS): Promise<T> => (await poll(what, probe, { timeoutMs, intervalMs: 150 })).value;

const plural = { Service: 'services', Database: 'databases', Cache: 'caches', Topic: 'topics' } as const;

async function getObject(kind: keyof typeof plural, name: string): Promise<DeployableObject> {
  return (await custom.getNamespacedCustomObject({ group: 'platform.kidp.io', version: 'v1alpha1', namespace: NS, plural: plural[kind], name })) as DeployableObject;
}

async function create(kind: keyof typeof plural, name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}, target = TARGET_A): Promise<DeployableObject> {
  const owner = kind === 'Service' ? { kind: 'Application', name: 'shop' } : { kind: 'Team', name: 'e2e' };
  await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: V, kind, metadata: { name, namespace: NS, labels }, spec: { owner, target, ...spec } }) });
  return getObject(kind, name);
}

function requestFor(obj: DeployableObject, action: 'deploy' | 'delete' = 'deploy', target = TARGET_A, identity = IDENTITY_A): DeploymentRequest {
  const generation = obj.metadata.generation ?? 1;
  return {
    apiVersion: PROTOCOL_VERSION,
    kind: 'DeploymentRequest',
    requestId: requestIdFor(obj.metadata.uid, generation, action),
    action,
    target: { name: target, identity, provider: 'kubernetes', environment: 'development', namespace: TARGET_NS },
    resource: {
      kind: obj.kind as DeploymentRequest['resource']['kind'],
      namespace: obj.metadata.namespace,
      name: obj.metadata.name,
      uid: obj.metadata.uid,
      generation,
      labels: obj.metadata.labels ?? {},
      spec: obj.spec as Record<string, unknown>,
    },
    issuedAt: new Date().toISOString(),
  };
}

function eventFor(obj: DeployableObject, overrides: Partial<StatusEvent> = {}): StatusEvent {
  return {
    apiVersion: PROTOCOL_VERSION,
    kind: 'StatusEvent',
    eventId: `manual-${randomUUID()}`,
    requestId: requestIdFor(obj.metadata.uid, obj.metadata.generation ?? 1, 'deploy'),
    target: TARGET_A,
    broker: IDENTITY_A,
    resource: { kind: obj.kind as StatusEvent['resource']['kind'], namespace: NS, name: obj.metadata.name, uid: obj.metadata.uid, generation: obj.metadata.generation ?? 1 },
    phase: 'Ready',
    reason: 'ManualReport',
    message: 'reported by the e2e test',
    reportedAt: new Date().toISOString(),
    ...overrides,
  };
}

async function postStatus(event: StatusEvent, token?: string): Promise<{ status: number; body: string }> {
  return postJson(`${statusURL}/v1/status`, encodeMessage(event), { caBundle: caPem, headers: token ? { authorization: `Bearer ${token}` } : {} });
}

/** POSTs `body` to the broker's webhook, with `Authorization: Bearer <token>` when given. */
async function postToBroker(body: Buffer, token?: string): Promise<{ status: number; body: string }> {
  return postJson(broker.webhookURL ?? '', body, { caBundle: caPem, headers: token ? { authorization: `Bearer ${token}` } : {} });
}

/** What the controllers send: the encoded request and its token. */
async function signedPost(request: DeploymentRequest): Promise<{ status: number; body: string }> {
  const body = encodeMessage(request);
  return postToBroker(body, await signRequestToken({ privateKey: es256Key(platformKeys.privateKeyPem, 'private', 'platform key'), request, body }));
}

async function readyPhase(kind: keyof typeof plural, name: string, phase = 'Ready'): Promise<DeployableObject> {
  return until(`${kind} ${name} phase ${phase}`, async () => {
    const o = await getObject(kind, name);
    return o.status?.phase === phase ? o : undefined;
  });
}

function condition(obj: DeployableObject, type: string) {
  const c = obj.status?.conditions?.find((x) => x.type === type);
  return c ? { status: c.status, reason: c.reason } : undefined;
}

/** Waits until `groupId` has committed every message currently on `topic` (offsets are committed after handling). */
async function consumedAll(groupId: string, topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    await until(`${groupId} to consume ${topic}`, async () => {
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      // An empty partition never gets a commit; every other must be committed up to its end.
      const done = ends.every((end) => end.high === end.low || Number(committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? -1) >= Number(end.high));
      return done ? true : undefined;
    });
  } finally {
    await admin.disconnect();
  }
}

/** Messages on `topic` with key `key`, read from the start by a throwaway group. */
async function readKeyed(topic: string, key: string, count: number): Promise<Array<{ value: string; headers: Record<string, string> }>> {
  const consumer = kafka.consumer({ groupId: `e2e-reader-${randomUUID()}` });
  const found: Array<{ value: string; headers: Record<string, string> }> = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.key?.toString() !== key) return;
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
        found.push({ value: message.value?.toString() ?? '', headers });
      },
    });
    await until(`${count} message(s) keyed ${key} on ${topic}`, async () => (found.length >= count ? true : undefined));
    return found;
  } finally {
    await consumer.disconnect();
  }
}

beforeAll(async () => {
  kubeConfig.loadFromFile(process.env.KUBECONFIG ?? '');
  custom = kubeConfig.makeApiClient(CustomObjectsApi);
  apps = kubeConfig.makeApiClient(AppsV1Api);
  core = kubeConfig.makeApiClient(CoreV1Api);
  const bootstrap = process.env.KAFKA_BOOTSTRAP;
  if (!bootstrap) throw new Error('KAFKA_BOOTSTRAP is unset: run through the e2e jest project');
  // Every client here is the admin principal (test/kafka-env.ts): these tests are about the
  // protocol; test/broker-channel.e2e.test.ts is about who may speak it.
  kafka = testKafka('brokers-e2e');

  await kubectl(['create', 'namespace', NS]);
  const now = new Date();
  const ca = await createCa({ now, commonName: 'kidp-brokers-e2e-ca' });
  caPem = ca.certPem;
  const serving = await issueServingCertificate({ ca, now, serviceName: 'kidp-status', namespace: 'kidp-system' });

  // The status topic consumer and the status API share one handler, as `make up` runs them.
  statusService = await runStatusService({ kubeConfig, kafkaBrokers: [bootstrap], kafkaTls: kafkaCertDir(), logger, metrics, groupId: `kidp-status-e2e-${RUN}`, api: { port: 0, tls: serving } });
  statusURL = statusService.url ?? '';
  startBroker = async (webhookURL?: string) =>
    runReferenceBroker({
      identities: [IDENTITY_A],
      kafkaBrokers: [bootstrap],
      kafkaTls: kafkaCertDir(),
      platformPublicKeyPem: platformKeys.publicKeyPem,
      placement: { namespaces: [TARGET_NS], platformNamespace: 'kidp-system' },
      targetKubeConfig: kubeConfig,
      // A restarted broker keeps its port, so the DeploymentTarget's webhookURL stays right.
      webhook: { port: webhookURL ? Number(new URL(webhookURL).port) : 0, tls: serving },
      statusApi: { url: statusURL, caBundle: caPem },
      signingKeyPem: keysA.privateKeyPem,
      logger,
      metrics,
    });
  broker = await startBroker();
  const target = (name: string, identity: string, publicKey: string) => ({
    apiVersion: V,
    kind: 'DeploymentTarget',
    metadata: { name },
    spec: { provider: 'kubernetes', environment: 'development', namespace: TARGET_NS, broker: { identity, transport: 'kafka', webhookURL: broker.webhookURL, publicKey } },
  });
  await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [target(TARGET_A, IDENTITY_A, keysA.publicKeyPem), target(TARGET_B, IDENTITY_B, keysB.publicKeyPem)] }) });
  dispatcher = createDispatcher({ kafkaBrokers: [bootstrap], kafkaTls: kafkaCertDir(), webhookCaBundle: caPem, dispatchSigningKeyPem: platformKeys.privateKeyPem, logger, metrics });
  folding = await startReportFolding({ kubeConfig, dispatcher, logger, instance: `brokers-e2e-${RUN}` });
  await broker.joined;
}, 120_000);

afterAll(async () => {
  await dispatcher?.close();
  await broker?.stop();
  await statusService?.stop();
  await folding?.stop();
  await kubectl(['delete', 'deploymenttargets', TARGET_A, TARGET_B, '--ignore-not-found']);
}, 60_000);

describe('reference broker over Kafka', () => {
  it('round-trips a Service request through the real broker to Ready status, with an Event', async () => {
    const svc = await create('Service', `web-${RUN}`, { image: 'registry.kidp.io/shop/web:1.0.0', replicas: 2, port: 8080 });
    const request = requestFor(svc);
    await expect(dispatcher.dispatch(request, { transport: 'kafka', webhookURL: broker.webhookURL })).resolves.toBe('kafka');
    const ready = await readyPhase('Service', svc.metadata.name);
    expect({
      phase: ready.status?.phase,
      observedGeneration: ready.status?.observedGeneration,
      lastStatusEventId: ready.status?.lastStatusEventId,
      recentEventIds: ready.status?.recentEventIds,
      Deployed: condition(ready, 'Deployed'),
      Ready: condition(ready, 'Ready'),
      StatusReported: condition(ready, 'StatusReported'),
    }).toEqual({
      phase: 'Ready',
      observedGeneration: 1,
      lastStatusEventId: `${request.requestId}:Ready`,
      recentEventIds: [`${request.requestId}:Ready`],
      Deployed: { status: 'True', reason: 'ObjectsApplied' },
      Ready: { status: 'True', reason: 'ObjectsApplied' },
      StatusReported: { status: 'True', reason: 'StatusEventApplied' },
    });
    const deployment = await apps.readNamespacedDeployment({ name: svc.metadata.name, namespace: TARGET_NS });
    expect({
      replicas: deployment.spec?.replicas,
      image: deployment.spec?.template.spec?.containers[0]?.image,
      requestId: deployment.metadata?.annotations?.['broker.kidp.io/request-id'],
      uid: deployment.metadata?.annotations?.['broker.kidp.io/resource-uid'],
    }).toEqual({ replicas: 2, image: 'registry.kidp.io/shop/web:1.0.0', requestId: request.requestId, uid: svc.metadata.uid });
    const service = await core.readNamespacedService({ name: svc.metadata.name, namespace: TARGET_NS });
    expect(service.spec?.ports?.map((p) => ({ port: p.port, targetPort: p.targetPort }))).toEqual([{ port: 80, targetPort: 8080 }]);
    const events = await until('a Kubernetes Event for the Service', async () => {
      const list = await core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.uid=${svc.metadata.uid}` });
      return list.items.length > 0 ? list.items : undefined;
    });
    expect(events.map((e) => ({ reason: e.reason, type: e.type, kind: e.involvedObject.kind }))).toEqual([{ reason: 'ObjectsApplied', type: 'Normal', kind: 'Service' }]);

    // The same request again, over both transports: still one Deployment, unchanged, one event id.
    const before = deployment.metadata?.resourceVersion;
    await dispatcher.dispatch(request, { transport: 'kafka' });
    const viaWebhook = await signedPost(request);
    expect({ status: viaWebhook.status, phase: (JSON.parse(viaWebhook.body) as { phase: string }).phase }).toEqual({ status: 200, phase: 'Ready' });
    // The Kafka copy is processed once the broker's group has committed past it.
    await consumedAll(`kidp-broker-${IDENTITY_A}`, REQUESTS_TOPIC);
    const list = await apps.listNamespacedDeployment({ namespace: TARGET_NS, labelSelector: `app.kubernetes.io/instance=${svc.metadata.name}` });
    expect(list.items.map((d) => ({ name: d.metadata?.name, resourceVersion: d.metadata?.resourceVersion }))).toEqual([{ name: svc.metadata.name, resourceVersion: before }]);
    expect((await getObject('Service', svc.metadata.name)).status?.recentEventIds).toEqual([`${request.requestId}:Ready`]);
  }, TEST_TIMEOUT_MS);

  it('deploys a Database as StatefulSet + Service + Secret, keeps its password on re-apply, and hands its secret to a selecting Service', async () => {
    const consumer = await create('Service', `api-${RUN}`, { image: 'registry.kidp.io/shop/api:2.0.0', dependencies: { databaseSelector: { matchLabels: { role: `ledger-${RUN}` } } } });
    const db = await create('Database', `ledger-${RUN}`, { engine: 'postgresql', version: '16', storageGB: 5 }, { role: `ledger-${RUN}` });
    const request = requestFor(db);
    await dispatcher.dispatch(request, { transport: 'kafka' });
    const ready = await readyPhase('Database', db.metadata.name);
    const secretName = `${db.metadata.name}-connection`;
    expect(ready.status?.connectionSecretRef).toEqual({ name: secretName, namespace: TARGET_NS });
    const sts = await apps.readNamespacedStatefulSet({ name: db.metadata.name, namespace: TARGET_NS });
    expect({ image: sts.spec?.template.spec?.containers[0]?.image, storage: sts.spec?.volumeClaimTemplates?.[0]?.spec?.resources?.requests?.['storage'] }).toEqual({ image: 'postgres:16', storage: '5Gi' });
    const secret = await core.readNamespacedSecret({ name: secretName, namespace: TARGET_NS });
    const password = secret.data?.['password'] ?? '';
    expect(Object.keys(secret.data ?? {}).sort()).toEqual(['database', 'engine', 'host', 'password', 'port', 'username']);
    expect(Buffer.from(password, 'base64').length).toBeGreaterThanOrEqual(32);

    const viaWebhook = await signedPost(request);
    expect(viaWebhook.status).toBe(200);
    expect((await core.readNamespacedSecret({ name: secretName, namespace: TARGET_NS })).data?.['password']).toBe(password);

    const withRefs = await until('the Service to list the database secret', async () => {
      const s = await getObject('Service', consumer.metadata.name);
      return s.status?.databaseConnectionSecretRefs ? s : undefined;
    });
    expect(withRefs.status?.databaseConnectionSecretRefs).toEqual([{ database: db.metadata.name, name: secretName, namespace: TARGET_NS }]);
  }, TEST_TIMEOUT_MS);

  it('deploys a redis Cache with its connection secret and no volume', async () => {
    const cache = await create('Cache', `sessions-${RUN}`, { engine: 'redis', memoryMB: 128, evictionPolicy: 'allkeys-lfu' });
    await dispatcher.dispatch(requestFor(cache), { transport: 'kafka' });
    const ready = await readyPhase('Cache', cache.metadata.name);
    const sts = await apps.readNamespacedStatefulSet({ name: cache.metadata.name, namespace: TARGET_NS });
    expect({
      secretRef: ready.status?.connectionSecretRef,
      image: sts.spec?.template.spec?.containers[0]?.image,
      command: sts.spec?.template.spec?.containers[0]?.command?.[2],
      volumes: sts.spec?.volumeClaimTemplates,
    }).toEqual({
      secretRef: { name: `${cache.metadata.name}-connection`, namespace: TARGET_NS },
      image: 'redis:7',
      command: 'exec redis-server --requirepass "$REDIS_PASSWORD" --maxmemory 128mb --maxmemory-policy allkeys-lfu',
      volumes: undefined,
    });
  }, TEST_TIMEOUT_MS);

  it('resumes from the topic after a restart: a request sent while no broker ran is applied by the next one', async () => {
    await broker.stop();
    const svc = await create('Service', `while-down-${RUN}`, { image: 'registry.kidp.io/shop/later:1.0.0' });
    const request = requestFor(svc);
    try {
      expect(await dispatcher.dispatch(request, { transport: 'kafka' })).toBe('kafka');
      await new Promise((r) => setTimeout(r, 1_000));
      expect((await getObject('Service', svc.metadata.name)).status?.phase).toBeUndefined();
    } finally {
      broker = await startBroker(broker.webhookURL);
    }
    const ready = await readyPhase('Service', svc.metadata.name);
    expect(ready.status?.lastStatusEventId).toBe(`${request.requestId}:Ready`);
  }, TEST_TIMEOUT_MS);

  it("skips another broker's requests and still commits past them", async () => {
    const svc = await create('Service', `not-mine-${RUN}`, { image: 'registry.kidp.io/shop/other:1.0.0' }, {}, TARGET_B);
    expect(await dispatcher.dispatch(requestFor(svc, 'deploy', TARGET_B, IDENTITY_B), { transport: 'kafka' })).toBe('kafka');
    await consumedAll(`kidp-broker-${IDENTITY_A}`, REQUESTS_TOPIC);
    const deployments = await apps.listNamespacedDeployment({ namespace: TARGET_NS, labelSelector: `app.kubernetes.io/instance=${svc.metadata.name}` });
    expect({ deployments: deployments.items, status: (await getObject('Service', svc.metadata.name)).status }).toEqual({ deployments: [], status: undefined });
  }, TEST_TIMEOUT_MS);

  it('removes what it created on a delete request and reports CleanedUp', async () => {
    const svc = await create('Service', `gone-${RUN}`, { image: 'registry.kidp.io/shop/gone:1.0.0' });
    await dispatcher.dispatch(requestFor(svc), { transport: 'kafka' });
    await readyPhase('Service', svc.metadata.name);
    await dispatcher.dispatch(requestFor(svc, 'delete'), { transport: 'kafka' });
    const deleted = await readyPhase('Service', svc.metadata.name, 'Deleting');
    expect({ Deployed: condition(deleted, 'Deployed'), Ready: condition(deleted, 'Ready') }).toEqual({
      Deployed: { status: 'False', reason: 'CleanedUp' },
      Ready: { status: 'False', reason: 'CleanedUp' },
    });
    const left = await apps.listNamespacedDeployment({ namespace: TARGET_NS, labelSelector: `app.kubernetes.io/instance=${svc.metadata.name}` });
    expect(left.items).toEqual([]);
  }, TEST_TIMEOUT_MS);

  it('creates a real Kafka topic for a Topic, replication capped to the one local broker', async () => {
    const topic = await create('Topic', `orders-${RUN}`, { partitions: 4, replicationFactor: 3, retentionHours: 2 });
    await dispatcher.dispatch(requestFor(topic), { transport: 'kafka' });
    const ready = await readyPhase('Topic', topic.metadata.name);
    const kafkaTopic = `${NS}.${topic.metadata.name}`;
    expect(condition(ready, 'Ready')).toEqual({ status: 'True', reason: 'TopicReady' });
    expect(ready.status?.conditions?.find((c) => c.type === 'Ready')?.message).toBe(
      // Owned by the Team: no Application principal to give it to (topic-access.ts; the Application case is test/topic-access.e2e.test.ts).
      `Kafka topic ${kafkaTopic} has 4 partitions, replication 1 (replication capped to 1: the cluster has 1 broker(s)); owned by a Team: no application principal gets access`,
    );
    const admin = kafka.admin();
    await admin.connect();
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [kafkaTopic] });
      expect(meta.topics.map((t) => ({ name: t.name, partitions: t.partitions.length }))).toEqual([{ name: kafkaTopic, partitions: 4 }]);
      await dispatcher.dispatch(requestFor(topic, 'delete'), { transport: 'kafka' });
      await readyPhase('Topic', topic.metadata.name, 'Deleting');
      expect((await admin.listTopics()).includes(kafkaTopic)).toBe(false);
    } finally {
      await admin.disconnect();
    }
  }, TEST_TIMEOUT_MS);

  it('dead-letters malformed messages on both topics and keeps consuming', async () => {
    const producer = kafka.producer();
    await producer.connect();
    const badKey = `bad-${RUN}`;
    // Well-formed, but unsigned (and from a broker that does not serve the target it names).
    const victim = await create('Service', `victim-${RUN}`, { image: 'registry.kidp.io/shop/victim:1.0.0' });
    const impostor = eventFor(victim, { broker: IDENTITY_B });
    try {
      await producer.send({ topic: REQUESTS_TOPIC, messages: [{ key: badKey, value: '{not json' }] });
      await producer.send({ topic: STATUS_TOPIC, messages: [{ key: badKey, value: JSON.stringify({ apiVersion: 'broker.kidp.io/v9', kind: 'StatusEvent' }) }] });
      await producer.send({ topic: STATUS_TOPIC, messages: [{ key: victim.metadata.uid, value: encodeMessage(impostor) }] });
    } finally {
      await producer.disconnect();
    }
    const [impostorDlq] = await readKeyed(`${STATUS_TOPIC}.dlq`, victim.metadata.uid, 1);
    expect(impostorDlq?.headers[DLQ_REASON_HEADER]).toBe(
      `message refused (unsigned): status event ${impostor.eventId} carries no kidp-signature header; requests are signed by the controllers' dispatch key, status events by the key in the broker's DeploymentTarget`,
    );
    expect((await getObject('Service', victim.metadata.name)).status).toEqual(victim.status);
    const [requestDlq] = await readKeyed(`${REQUESTS_TOPIC}.dlq`, badKey, 1);
    const [statusDlq] = await readKeyed(`${STATUS_TOPIC}.dlq`, badKey, 1);
    expect({ value: requestDlq?.value, reason: requestDlq?.headers[DLQ_REASON_HEADER]?.split(':')[0] }).toEqual({ value: '{not json', reason: 'malformed DeploymentRequest' });
    expect(statusDlq?.headers[DLQ_REASON_HEADER]).toBe(
      'StatusEvent has apiVersion "broker.kidp.io/v9", which this build does not support (supported: broker.kidp.io/v1); upgrade the receiver or have the sender use a supported version',
    );
    // Both consumers are still alive: a fresh request goes all the way to Ready.
    const svc = await create('Service', `after-bad-${RUN}`, { image: 'registry.kidp.io/shop/after:1.0.0' });
    await dispatcher.dispatch(requestFor(svc), { transport: 'kafka' });
    await readyPhase('Service', svc.metadata.name);
  }, TEST_TIMEOUT_MS);
});

describe('status API', () => {
  let svc: DeployableObject;
  beforeAll(async () => {
    svc = await create('Service', `guarded-${RUN}`, { image: 'registry.kidp.io/shop/guarded:1.0.0' });
  });

  it('refuses missing, forged, expired and other-target tokens, leaving status unchanged', async () => {
    const before = (await getObject('Service', svc.metadata.name)).status;
    const event = eventFor(svc);
    const forged = await signStatusToken({ privateKeyPem: keysB.privateKeyPem, identity: IDENTITY_A, targets: [TARGET_A] });
    const expired = await signStatusToken({ privateKeyPem: keysA.privateKeyPem, identity: IDENTITY_A, targets: [TARGET_A], now: new Date(Date.now() - 3_600_000) });
    const otherTarget = await signStatusToken({ privateKeyPem: keysB.privateKeyPem, identity: IDENTITY_B, targets: [TARGET_B] });
    const unscoped = await signStatusToken({ privateKeyPem: keysA.privateKeyPem, identity: IDENTITY_A, targets: [TARGET_B] });
    const results = [];
    for (const [name, e, token] of [
      ['missing', event, undefined],
      ['forged', event, forged],
      ['expired', event, expired],
      ['other target', eventFor(svc, { target: TARGET_B, broker: IDENTITY_B }), otherTarget],
      ['token without the target', event, unscoped],
    ] as const) {
      const r = await postStatus(e, token);
      results.push({ name, status: r.status, message: (JSON.parse(r.body) as { message: string }).message });
    }
    expect(results).toEqual([
      { name: 'missing', status: 401, message: 'missing Authorization: Bearer <JWT>' },
      { name: 'forged', status: 401, message: `status report not authenticated: signature does not verify with the key of target ${TARGET_A}; send a JWT signed with the key named in the DeploymentTarget` },
      { name: 'expired', status: 401, message: 'status report not authenticated: token expired; send a JWT signed with the key named in the DeploymentTarget' },
      { name: 'other target', status: 403, message: `status report refused: Service ${NS}/${svc.metadata.name} deploys to target ${TARGET_A}, not ${TARGET_B}` },
      { name: 'token without the target', status: 403, message: `status report refused: token of ${IDENTITY_A} does not name target ${TARGET_A}` },
    ]);
    expect((await getObject('Service', svc.metadata.name)).status).toEqual(before);
  }, TEST_TIMEOUT_MS);

  it('applies a valid report once and ignores its duplicate', async () => {
    const event = eventFor(svc);
    const token = await signStatusToken({ privateKeyPem: keysA.privateKeyPem, identity: IDENTITY_A, targets: [TARGET_A] });
    const first = await postStatus(event, token);
    const afterFirst = await getObject('Service', svc.metadata.name);
    const second = await postStatus(event, token);
    const afterSecond = await getObject('Service', svc.metadata.name);
    expect([first, second].map((r) => ({ status: r.status, body: JSON.parse(r.body) as unknown }))).toEqual([
      { status: 200, body: { eventId: event.eventId, result: 'applied', phase: 'Ready' } },
      { status: 200, body: { eventId: event.eventId, result: 'duplicate' } },
    ]);
    expect(afterFirst.status?.recentEventIds).toEqual([event.eventId]);
    expect(afterSecond.metadata.resourceVersion).toBe(afterFirst.metadata.resourceVersion);
  }, TEST_TIMEOUT_MS);
});

describe('status handler', () => {
  it('applies concurrent events for one object, retrying on 409 until each is recorded', async () => {
    const svc = await create('Service', `busy-${RUN}`, { image: 'registry.kidp.io/shop/busy:1.0.0' });
    const handler = createStatusHandler({ kubeConfig, logger });
    const events = Array.from({ length: 5 }, (_, i) => eventFor(svc, { eventId: `busy-${i}`, phase: 'Deploying', reason: 'Step' }));
    const outcomes = await Promise.all(events.map((e) => handler.handle(e)));
    expect(outcomes).toEqual(events.map(() => ({ result: 'applied', phase: 'Deploying' })));
    const after = await getObject('Service', svc.metadata.name);
    expect([...(after.status?.recentEventIds ?? [])].sort()).toEqual(events.map((e) => e.eventId));
  }, TEST_TIMEOUT_MS);
});

describe('broker webhook', () => {
  const AUTH_SUFFIX =
    '; the controllers sign each webhook delivery with their dispatch key (kidp controllers run --dispatch-signing-key-file) and the broker must trust its public half (kidp broker run --platform-public-key-file)';
  const unauthenticated = (reason: string, detail: string) => ({
    status: 401,
    body: { code: 'KIDP_BROKERS_REQUEST_UNAUTHENTICATED', reason, message: `deployment request not authenticated (${reason}): ${detail}${AUTH_SUFFIX}` },
  });
  const answer = (r: { status: number; body: string }) => ({ status: r.status, body: JSON.parse(r.body) as unknown });

  it('answers 400 to a signed malformed request, and 401 (wrong audience) to another broker\'s; the dispatcher calls both permanent', async () => {
    const malformed = Buffer.from('{"apiVersion":"broker.kidp.io/v1","kind":"DeploymentRequest"}');
    const token = await signRequestToken({ privateKey: es256Key(platformKeys.privateKeyPem, 'private', 'k'), request: { requestId: 'whatever', target: { name: TARGET_A, identity: IDENTITY_A, provider: 'kubernetes', environment: 'development' } }, body: malformed });
    const bad = await postToBroker(malformed, token);
    expect({ status: bad.status, code: (JSON.parse(bad.body) as { code: string }).code }).toEqual({ status: 400, code: 'KIDP_BROKERS_MALFORMED_MESSAGE' });
    const svc = await create('Service', `misrouted-${RUN}`, { image: 'registry.kidp.io/shop/misrouted:1.0.0' });
    const err = (await dispatcher.dispatch(requestFor(svc, 'deploy', TARGET_B, IDENTITY_B), { transport: 'webhook', webhookURL: broker.webhookURL }).catch((e: unknown) => e)) as Error;
    expect({ name: err.name, message: err.message }).toEqual({
      name: 'PermanentDispatchError',
      message: `request ${requestIdFor(svc.metadata.uid, 1, 'deploy')} was refused: webhook ${broker.webhookURL} answered 401: ${JSON.stringify(unauthenticated('wrong-audience', `token is not for this broker (serves ${IDENTITY_A})`).body)}; fix the DeploymentTarget or the resource and apply again`,
    });
  }, TEST_TIMEOUT_MS);

  it('refuses deliveries without a valid controllers\' token for exactly their body, and applies nothing', async () => {
    const svc = await create('Service', `unsigned-${RUN}`, { image: 'registry.kidp.io/shop/unsigned:1.0.0' });
    const request = requestFor(svc);
    const body = encodeMessage(request);
    const swapped = encodeMessage({ ...request, resource: { ...request.resource, spec: { ...request.resource.spec, image: 'registry.example.com/evil/miner:1.0.0' } } });
    const platformKey = es256Key(platformKeys.privateKeyPem, 'private', 'platform key');
    const refusedBefore = Number(/kidp_broker_call_errors_total\{call="webhook_receive",transport="webhook",kind="unauthorized"\} (\d+)/.exec(await metrics.registry.metrics())?.[1] ?? 0);
    const results = {
      'no token': answer(await postToBroker(body)),
      'signed by another key': answer(await postToBroker(body, await signRequestToken({ privateKey: es256Key(keysB.privateKeyPem, 'private', 'k'), request, body }))),
      'valid token, body modified': answer(await postToBroker(swapped, await signRequestToken({ privateKey: platformKey, request, body }))),
      expired: answer(await postToBroker(body, await signRequestToken({ privateKey: platformKey, request, body, now: new Date(Date.now() - 3_600_000) }))),
    };
    expect(results).toEqual({
      'no token': unauthenticated('missing-token', 'no Authorization: Bearer <JWT> header'),
      'signed by another key': unauthenticated('bad-signature', 'signature does not verify with any trusted platform public key'),
      'valid token, body modified': unauthenticated('body-mismatch', 'the body is not the one the token was signed for'),
      expired: unauthenticated('expired', 'token expired ("exp" claim timestamp check failed)'),
    });
    // Nothing applied, nothing reported, and each refusal counted.
    const deployments = await apps.listNamespacedDeployment({ namespace: TARGET_NS, labelSelector: `app.kubernetes.io/instance=${svc.metadata.name}` });
    const refusedAfter = Number(/kidp_broker_call_errors_total\{call="webhook_receive",transport="webhook",kind="unauthorized"\} (\d+)/.exec(await metrics.registry.metrics())?.[1] ?? 0);
    expect({ deployments: deployments.items, status: (await getObject('Service', svc.metadata.name)).status, refused: refusedAfter - refusedBefore }).toEqual({ deployments: [], status: undefined, refused: 4 });

    // The controllers' own delivery of the same request goes through to Ready.
    await expect(dispatcher.dispatch(request, { transport: 'webhook', webhookURL: broker.webhookURL })).resolves.toBe('webhook');
    const ready = await readyPhase('Service', svc.metadata.name);
    const deployment = await apps.readNamespacedDeployment({ name: svc.metadata.name, namespace: TARGET_NS });
    expect({ lastStatusEventId: ready.status?.lastStatusEventId, image: deployment.spec?.template.spec?.containers[0]?.image }).toEqual({
      lastStatusEventId: `${request.requestId}:Ready`,
      image: 'registry.kidp.io/shop/unsigned:1.0.0',
    });
  }, TEST_TIMEOUT_MS);

  it('is not served at all without a platform public key', async () => {
    const keyless = await runReferenceBroker({
      identities: [`keyless-${RUN}`],
      kafkaBrokers: [],
      placement: { namespaces: [TARGET_NS] },
      targetKubeConfig: kubeConfig,
      webhook: { port: 0, tls: { certPem: '', keyPem: '' } },
      logger,
    });
    try {
      expect(keyless.webhookURL).toBeUndefined();
    } finally {
      await keyless.stop();
    }
  });
});

describe('webhook fallback', () => {
  it('goes by webhook and reports by the status API while Kafka is frozen, and nothing is lost after', async () => {
    const runDir = process.env.KIDP_RUN_DIR ?? `/tmp/kidp-run-${process.getuid?.() ?? 0}`;
    const kafkaPid = Number(readFileSync(join(runDir, 'kafka', 'kafka.pid'), 'utf8').trim());
    expect(kafkaPid).toBeGreaterThan(1);
    const svc = await create('Service', `fallback-${RUN}`, { image: 'registry.kidp.io/shop/fallback:1.0.0' });
    const request = requestFor(svc);
    let transport: string;
    const started = Date.now();
    process.kill(kafkaPid, 'SIGSTOP');
    try {
      transport = await dispatcher.dispatch(request, { transport: 'kafka', webhookURL: broker.webhookURL });
    } finally {
      process.kill(kafkaPid, 'SIGCONT');
    }
    const took = Date.now() - started;
    expect(transport).toBe('webhook');
    const ready = await readyPhase('Service', svc.metadata.name);
    expect({ lastStatusEventId: ready.status?.lastStatusEventId, Deployed: condition(ready, 'Deployed') }).toEqual({
      lastStatusEventId: `${request.requestId}:Ready`,
      Deployed: { status: 'True', reason: 'ObjectsApplied' },
    });
    // Bounded by the dispatcher's Kafka deadline plus a webhook round trip (and the broker's own status deadline).
    expect(took).toBeLessThan(15_000);
    // Kafka is back: whatever the frozen broker still delivers (a send that missed its
    // deadline may land now) is consumed, and nothing is applied or recorded twice.
    await consumedAll(`kidp-broker-${IDENTITY_A}`, REQUESTS_TOPIC);
    await consumedAll(`kidp-status-e2e-${RUN}`, STATUS_TOPIC);
    const list = await apps.listNamespacedDeployment({ namespace: TARGET_NS, labelSelector: `app.kubernetes.io/instance=${svc.metadata.name}` });
    const after = await getObject('Service', svc.metadata.name);
    // Both deadlines show in the metrics: the controller's send and the broker's status report.
    const text = await metrics.registry.metrics();
    expect({
      dispatchTimeout: /kidp_broker_call_errors_total\{call="kafka_send",transport="kafka",kind="timeout"\} [1-9]/.test(text),
      reportFallback: /kidp_broker_call_errors_total\{call="status_report",transport="kafka",kind="transient"\} [1-9]/.test(text),
      webhookTimed: /kidp_broker_call_duration_seconds_count\{call="webhook_post",transport="webhook"\} [1-9]/.test(text),
      statusApiTimed: /kidp_broker_call_duration_seconds_count\{call="status_report",transport="status_api"\} [1-9]/.test(text),
    }).toEqual({ dispatchTimeout: true, reportFallback: true, webhookTimed: true, statusApiTimed: true });
    expect({ deployments: list.items.length, recentEventIds: after.status?.recentEventIds, phase: after.status?.phase }).toEqual({
      deployments: 1,
      recentEventIds: [`${request.requestId}:Ready`],
      phase: 'Ready',
    });
  }, TEST_TIMEOUT_MS);
});
