// A replayed signed request across a broker restart (issue 10 item 3), on the real Kafka and
// the real apiserver. The attacker holds the controllers' Kafka certificate (produce rights
// on the request topic) and copies a genuine, still-valid signed record — gen 1 of a
// Service, after gen 2 was applied — once the broker has restarted and forgotten what it
// saw. Before kafka-replay-scan.ts the restarted broker applied it and rolled the workload
// back to gen 1's image; now it reads the topic back before consuming and dead-letters the
// copy as replayed, also when the copy is put on another partition or under another key.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppsV1Api, KubeConfig } from '@kubernetes/client-node';
import type { IHeaders } from 'kafkajs';
import pino from 'pino';
import { kubectl, kubectlOk } from './kubectl.js';
import { kafkaBootstrap, kafkaCertDir, testKafka } from './kafka-env.js';
import { poll } from './until.js';
import { PROTOCOL_VERSION, REQUESTS_TOPIC, type DeploymentRequest } from '../brokers/contract.js';
import { DLQ_REASON_HEADER, DLQ_SUFFIX, createKafka, createProducer } from '../brokers/kafka.js';
import { setupKafkaAccess } from '../brokers/kafka-access.js';
import { partitionForKey, replayScanGroupPrefix } from '../brokers/kafka-replay-scan.js';
import { SIGNATURE_HEADER, signRequestMessage } from '../brokers/message-signing.js';
import { encodeMessage } from '../brokers/protocol.js';
import { es256Key } from '../brokers/request-jwt.js';
import { generateBrokerKeyPair } from '../brokers/status-jwt.js';
import { BrokerMetrics } from '../brokers/metrics.js';
import { runReferenceBroker, type RunningReferenceBroker } from '../brokers/reference/broker.js';

const here = dirname(fileURLToPath(import.meta.url));
const kafkaSh = join(here, 'env', 'kafka', 'kafka.sh');
const RUN = `${Date.now().toString(36)}${randomUUID().slice(0, 4)}`;
const IDENTITY = `replay-${RUN}`;
const TARGET = `replay-${RUN}`;
const NS = `replay-src-${RUN}`;
const TARGET_NS = `replay-dst-${RUN}`;
const V = 'platform.kidp.io/v1alpha1';
const logger = pino({ level: process.env.KIDP_TEST_LOG ?? 'silent' });
const dispatchKeys = generateBrokerKeyPair();
const dispatchKey = es256Key(dispatchKeys.privateKeyPem, 'private', 'dispatch key');
const brokerKeys = generateBrokerKeyPair();
const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000) => poll(what, probe, { timeoutMs, intervalMs: 200 }).then((r) => r.value);

function startBroker(metrics: BrokerMetrics): Promise<RunningReferenceBroker> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(process.env.KUBECONFIG ?? '');
  return runReferenceBroker({
    identities: [IDENTITY],
    kafkaBrokers: [kafkaBootstrap()],
    kafkaTls: kafkaCertDir(`kidp-broker-${IDENTITY}`),
    platformPublicKeyPem: dispatchKeys.publicKeyPem,
    signingKeyPem: brokerKeys.privateKeyPem,
    placement: { namespaces: [TARGET_NS], platformNamespace: 'kidp-system' },
    targetKubeConfig: kubeConfig,
    logger,
    metrics,
  });
}

/** Produces a record as the controllers' principal: a genuine request, or the attacker's copy. */
async function produce(record: { key: string; value: Buffer; headers: IHeaders; partition?: number }): Promise<void> {
  const producer = createProducer(testKafka(`replay-${randomUUID().slice(0, 6)}`, 'kidp-controllers'));
  await producer.connect();
  try {
    await producer.send({ topic: REQUESTS_TOPIC, acks: -1, messages: [record] });
  } finally {
    await producer.disconnect();
  }
}

/** Dead letters of this run, by the request id in their body, with the reason. */
async function deadLetters(count: number): Promise<string[]> {
  const consumer = testKafka('replay-dlq').consumer({ groupId: `replay-dlq-${randomUUID()}` });
  const found: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: REQUESTS_TOPIC + DLQ_SUFFIX, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const value = message.value?.toString() ?? '';
        if (!value.includes(RUN)) return;
        const reason = String(message.headers?.[DLQ_REASON_HEADER] ?? '');
        found.push(`${(JSON.parse(value) as DeploymentRequest).requestId}: ${/message refused \(([a-z-]+)\)/.exec(reason)?.[1] ?? reason}`);
      },
    });
    await until(`${count} dead letters`, async () => (found.length >= count ? true : undefined));
    await new Promise((r) => setTimeout(r, 1_000));
    return found.sort();
  } finally {
    await consumer.disconnect();
  }
}

it('a restarted broker dead-letters a copy of a request it applied before the restart, wherever the copy is put', async () => {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(process.env.KUBECONFIG ?? '');
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  execFileSync('bash', [kafkaSh, 'cert', `kidp-broker-${IDENTITY}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  await setupKafkaAccess(createKafka({ brokers: [kafkaBootstrap()], clientId: 'replay-setup', logger, tls: kafkaCertDir() }), { brokerIdentities: [IDENTITY] });
  for (const ns of [NS, TARGET_NS]) await kubectlOk(['create', 'namespace', ns]);
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: V, kind: 'DeploymentTarget', metadata: { name: TARGET }, spec: { provider: 'kubernetes', environment: 'development', namespace: TARGET_NS, broker: { identity: IDENTITY, transport: 'kafka', publicKey: brokerKeys.publicKeyPem } } }),
  });
  const uid = randomUUID();
  const name = `web-${RUN}`;
  const request = (generation: number, image: string): DeploymentRequest => ({
    apiVersion: PROTOCOL_VERSION,
    kind: 'DeploymentRequest',
    requestId: `${uid}-${generation}`,
    action: 'deploy',
    target: { name: TARGET, identity: IDENTITY, provider: 'kubernetes', environment: 'development', namespace: TARGET_NS },
    resource: { kind: 'Service', namespace: NS, name, uid, generation, labels: {}, spec: { owner: { kind: 'Application', name: 'shop' }, image } },
    issuedAt: new Date().toISOString(),
  });
  const signed = async (r: DeploymentRequest) => {
    const value = encodeMessage(r);
    return { key: uid, value, headers: { [SIGNATURE_HEADER]: await signRequestMessage({ privateKey: dispatchKey, request: r, body: value }) } };
  };
  const imageNow = async () => (await apps.readNamespacedDeployment({ name, namespace: TARGET_NS }).catch(() => undefined))?.spec?.template.spec?.containers[0]?.image;

  let broker = await startBroker(new BrokerMetrics());
  const gen1 = await signed(request(1, 'registry.kidp.io/web:1'));
  try {
    await broker.joined;
    await produce(gen1);
    await until('gen 1 applied', async () => ((await imageNow()) === 'registry.kidp.io/web:1' ? true : undefined));
    await produce(await signed(request(2, 'registry.kidp.io/web:2')));
    await until('gen 2 applied', async () => ((await imageNow()) === 'registry.kidp.io/web:2' ? true : undefined));
  } finally {
    await broker.stop();
  }

  // The restart: a new broker process of the same identity, with nothing in memory.
  const metrics = new BrokerMetrics();
  broker = await startBroker(metrics);
  try {
    await broker.joined;
    const partitions = (await (async () => {
      const a = testKafka('replay-meta').admin();
      await a.connect();
      try {
        return (await a.fetchTopicMetadata({ topics: [REQUESTS_TOPIC] })).topics[0]?.partitions.length ?? 0;
      } finally {
        await a.disconnect();
      }
    })());
    const home = partitionForKey(uid, partitions);
    // The copy as it was, the copy on another partition, the copy under another key.
    await produce(gen1);
    await produce({ ...gen1, partition: (home + 1) % partitions });
    await produce({ ...gen1, key: randomUUID() });
    const letters = await deadLetters(3);
    // Before the fix the restarted broker applied the copy here: the image went back to web:1.
    const afterCopies = await imageNow();
    // A fresh genuine request still goes through: the broker is up, only the copies were refused.
    await produce(await signed(request(3, 'registry.kidp.io/web:3')));
    await until('gen 3 applied', async () => ((await imageNow()) === 'registry.kidp.io/web:3' ? true : undefined));
    const refused = (await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith('kidp_broker_messages_refused_total{') && l.includes(REQUESTS_TOPIC)).sort();
    console.log(`replay across a restart: dead letters ${JSON.stringify(letters)}; ${refused.join('; ')}`);
    expect({ afterCopies, letters, refused }).toEqual({
      afterCopies: 'registry.kidp.io/web:2',
      letters: [`${uid}-1: replayed`, `${uid}-1: wrong-partition`, `${uid}-1: wrong-partition`],
      refused: [`kidp_broker_messages_refused_total{topic="${REQUESTS_TOPIC}",reason="replayed"} 1`, `kidp_broker_messages_refused_total{topic="${REQUESTS_TOPIC}",reason="wrong-partition"} 2`],
    });
  } finally {
    await broker.stop();
    await kubectl(['delete', 'deploymenttarget', TARGET, '--ignore-not-found']);
  }
}, 180_000);

it('a broker whose principal may not use its scan groups (no `kidp kafka setup` since the upgrade) still starts and joins its group, and says why (a metric and an error log)', async () => {
  const identity = `noscan-${RUN}`;
  execFileSync('bash', [kafkaSh, 'cert', `kidp-broker-${identity}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  const setupKafka = createKafka({ brokers: [kafkaBootstrap()], clientId: 'replay-setup', logger, tls: kafkaCertDir() });
  await setupKafkaAccess(setupKafka, { brokerIdentities: [identity] });
  // As before this version: the scan groups' ACL is not there.
  const a = setupKafka.admin();
  await a.connect();
  try {
    const { AclResourceTypes, ResourcePatternTypes, AclOperationTypes, AclPermissionTypes } = (await import('kafkajs')).default;
    const { filterResponses } = await a.deleteAcls({ filters: [{ resourceType: AclResourceTypes.GROUP, resourceName: replayScanGroupPrefix(identity), resourcePatternType: ResourcePatternTypes.PREFIXED, principal: `User:kidp-broker-${identity}`, host: '*', operation: AclOperationTypes.READ, permissionType: AclPermissionTypes.ALLOW }] });
    expect(filterResponses[0]?.matchingAcls.length).toBe(1);
  } finally {
    await a.disconnect();
  }
  // The request topic holds the first test's records of the last minutes: there is something to scan.
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(process.env.KUBECONFIG ?? '');
  const metrics = new BrokerMetrics();
  const broker = await runReferenceBroker({
    identities: [identity],
    kafkaBrokers: [kafkaBootstrap()],
    kafkaTls: kafkaCertDir(`kidp-broker-${identity}`),
    platformPublicKeyPem: dispatchKeys.publicKeyPem,
    signingKeyPem: brokerKeys.privateKeyPem,
    placement: { namespaces: [TARGET_NS], platformNamespace: 'kidp-system' },
    targetKubeConfig: kubeConfig,
    logger,
    metrics,
  });
  try {
    await broker.joined;
    const errors = (await metrics.registry.metrics()).split('\n').filter((l) => l.includes('replay_scan_failed'));
    expect(errors).toEqual(['kidp_broker_call_errors_total{call="kafka_consume",transport="kafka",kind="replay_scan_failed"} 1']);
  } finally {
    await broker.stop();
  }
}, 120_000);
