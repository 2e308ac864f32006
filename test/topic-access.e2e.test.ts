// A Topic's owning Application gets read/write on its own topic and nothing else (issue 10
// item 2, issue 15 item 3), on the real Kafka (mTLS, StandardAuthorizer) and the real
// apiserver. The reference broker provisions each Topic, creates the ACLs of the owner's
// principal and writes its client certificate (from the name-constrained application
// issuer) into `<topic>-kafka`; the test then uses exactly that Secret's files, as the
// Application would, and attacks every edge: another Application's and another Team's
// topic, the protocol topic, foreign consumer groups, certificates minted by the issuer for
// other subjects, and what a delete leaves behind. Kafka's answers are recorded.
import { execFileSync } from 'node:child_process';
import { randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import kafkajs from 'kafkajs';
import type { Admin, Kafka } from 'kafkajs';
import pino from 'pino';
import { kubectl, kubectlOk } from './kubectl.js';
import { kafkaBootstrap, kafkaCertDir, testKafka } from './kafka-env.js';
import { poll } from './until.js';
import { PROTOCOL_VERSION, REQUESTS_TOPIC, STATUS_TOPIC, type DeploymentRequest, type StatusEvent } from '../brokers/contract.js';
import { createKafka, createProducer } from '../brokers/kafka.js';
import { setupKafkaAccess, brokerPrincipal, CONTROLLERS_PRINCIPAL } from '../brokers/kafka-access.js';
import { SIGNATURE_HEADER, signRequestMessage } from '../brokers/message-signing.js';
import { encodeMessage } from '../brokers/protocol.js';
import { es256Key } from '../brokers/request-jwt.js';
import { generateBrokerKeyPair } from '../brokers/status-jwt.js';
import { runReferenceBroker, type RunningReferenceBroker } from '../brokers/reference/broker.js';
import { KafkaTls, tlsSocketFactory } from '../kube/kafka.js';

const { Kafka: KafkaClient, logLevel, AclResourceTypes, ResourcePatternTypes, AclOperationTypes, AclPermissionTypes } = kafkajs;
const here = dirname(fileURLToPath(import.meta.url));
const kafkaSh = join(here, 'env', 'kafka', 'kafka.sh');

const RUN = `${Date.now().toString(36)}${randomUUID().slice(0, 4)}`;
const IDENTITY = `tacc-${RUN}`;
const TARGET = `tacc-${RUN}`;
const NS = `tacc-a-${RUN}`; // team A's namespace: Applications shop and billing
const OTHER_NS = `tacc-b-${RUN}`; // team B's namespace: Application books
const TARGET_NS = `tacc-dst-${RUN}`;
const V = 'platform.kidp.io/v1alpha1';
const TEST_MS = 120_000;

const logger = pino({ level: process.env.KIDP_TEST_LOG ?? 'silent' });
const kubeConfig = new KubeConfig();
let core: CoreV1Api;
let admin: Admin;
let adminKafka: Kafka;
let broker: RunningReferenceBroker;
const dispatchKeys = generateBrokerKeyPair();
const dispatchKey = es256Key(dispatchKeys.privateKeyPem, 'private', 'dispatch key');
const brokerKeys = generateBrokerKeyPair();
const errorsSeen: Record<string, string> = {};
const dirs: string[] = [];

const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000) => poll(what, probe, { timeoutMs, intervalMs: 200 }).then((r) => r.value);

function topicRequest(name: string, owner: { kind: 'Application' | 'Team'; name: string }, options: { namespace?: string; uid?: string; action?: 'deploy' | 'delete' } = {}): DeploymentRequest {
  const uid = options.uid ?? randomUUID();
  return {
    apiVersion: PROTOCOL_VERSION,
    kind: 'DeploymentRequest',
    requestId: `${uid}-1${options.action === 'delete' ? '-delete' : ''}`,
    action: options.action ?? 'deploy',
    target: { name: TARGET, identity: IDENTITY, provider: 'kubernetes', environment: 'development', namespace: TARGET_NS },
    resource: { kind: 'Topic', namespace: options.namespace ?? NS, name, uid, generation: 1, labels: {}, spec: { owner, partitions: 2, replicationFactor: 3, retentionHours: 24 } },
    issuedAt: new Date().toISOString(),
  };
}

/** Sends a request as the controllers do (their principal, their signature) and waits for the broker's final status event. */
async function apply(request: DeploymentRequest): Promise<StatusEvent> {
  const body = encodeMessage(request);
  const producer = createProducer(testKafka(`tacc-${randomUUID().slice(0, 6)}`, 'kidp-controllers'));
  await producer.connect();
  try {
    await producer.send({ topic: REQUESTS_TOPIC, acks: -1, messages: [{ key: request.resource.uid, value: body, headers: { [SIGNATURE_HEADER]: await signRequestMessage({ privateKey: dispatchKey, request, body }) } }] });
  } finally {
    await producer.disconnect();
  }
  const consumer = adminKafka.consumer({ groupId: `tacc-reader-${randomUUID()}` });
  let event: StatusEvent | undefined;
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: STATUS_TOPIC, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.key?.toString() !== request.resource.uid) return;
        const e = JSON.parse(message.value?.toString() ?? '{}') as StatusEvent;
        if (e.requestId === request.requestId && e.phase !== 'Deploying') event = e;
      },
    });
    return await until(`the status of ${request.requestId}`, async () => event);
  } finally {
    await consumer.disconnect();
  }
}

/** The Secret `<topic>-kafka` as files in a directory: what the Application mounts. */
async function credentialsOf(topic: string): Promise<{ dir: string; data: Record<string, string> }> {
  const secret = await core.readNamespacedSecret({ name: `${topic}-kafka`, namespace: TARGET_NS });
  const data = Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  const dir = mkdtempSync(join(tmpdir(), 'kidp-app-'));
  dirs.push(dir);
  for (const f of ['ca.crt', 'tls.crt', 'tls.key']) writeFileSync(join(dir, f), data[f] ?? '', { mode: 0o600 });
  return { dir, data };
}

/** A kafkajs client over `dir`'s certificate that remembers the Kafka error codes it was answered with. */
const kafkaErrorTypes: string[] = [];
function clientOf(dir: string): Kafka {
  return new KafkaClient({
    clientId: `tacc-${randomUUID().slice(0, 6)}`,
    brokers: [kafkaBootstrap()],
    ssl: true,
    socketFactory: tlsSocketFactory(new KafkaTls(dir)),
    connectionTimeout: 3_000,
    requestTimeout: 5_000,
    retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 500 },
    logLevel: logLevel.DEBUG,
    logCreator: () => ({ log }) => {
      const type = (log['error'] as { type?: string } | undefined)?.type;
      if (type) kafkaErrorTypes.push(type);
    },
  });
}

/** 'ok', or the error kafkajs gave with the Kafka error codes behind it. */
async function attempt(what: string, fn: () => Promise<unknown>): Promise<string> {
  const seen = kafkaErrorTypes.length;
  try {
    await fn();
    return 'ok';
  } catch (err) {
    const e = err as Error & { type?: string; originalError?: Error; errors?: Array<{ type?: string; message?: string }> };
    const types = [...new Set([...kafkaErrorTypes.slice(seen), ...(e.errors ?? []).map((x) => x.type ?? '')].filter(Boolean))];
    const text = `${e.name}: ${e.type ? `${e.type} ` : ''}${e.message}${e.originalError ? ` (${e.originalError.message})` : ''}${types.length ? ` [Kafka: ${types.join(', ')}]` : ''}`;
    errorsSeen[what] = text;
    return text;
  }
}

async function produce(k: Kafka, topic: string, value: string): Promise<void> {
  const p = k.producer();
  await p.connect();
  try {
    await p.send({ topic, acks: -1, messages: [{ key: 'k', value }] });
  } finally {
    await p.disconnect();
  }
}

/** Reads `topic` from the start in `groupId` until `value` shows up. */
async function consume(k: Kafka, topic: string, groupId: string, value: string): Promise<void> {
  const c = k.consumer({ groupId, retry: { retries: 1 } });
  let found = false;
  let crashed: Error | undefined;
  c.on(c.events.CRASH, ({ payload }) => {
    crashed = payload.error;
  });
  await c.connect();
  try {
    await c.subscribe({ topic, fromBeginning: true });
    await c.run({
      eachMessage: async ({ message }) => {
        if (message.value?.toString() === value) found = true;
      },
    });
    await until(`${value} on ${topic}`, async () => {
      if (crashed) throw Object.assign(new Error(crashed.message), { name: crashed.name, type: (crashed as { type?: string }).type, fatal: true });
      return found ? true : undefined;
    }, 15_000).catch((err: Error) => {
      throw (err.cause as Error | undefined) ?? err;
    });
  } finally {
    await c.disconnect();
  }
}

/** Every ACL Kafka holds for `principal`, as comparable strings. */
const nameOf = (values: object) => new Map(Object.entries(values).map(([k, v]) => [v as number, k]));
const resourceNames = nameOf(AclResourceTypes);
const operationNames = nameOf(AclOperationTypes);
const permissionNames = nameOf(AclPermissionTypes);
async function aclsOf(principal: string): Promise<string[]> {
  // A fresh admin each time: kafkajs' metadata refresh fails on a topic it had looked at and that is gone since.
  const a = testKafka('tacc-acls').admin();
  await a.connect();
  try {
    const r = await a.describeAcls({ resourceType: AclResourceTypes.ANY, resourcePatternType: ResourcePatternTypes.ANY, principal, operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY });
    return r.resources
      .flatMap((res) => res.acls.map((acl) => `${resourceNames.get(res.resourceType)}:${res.resourceName}${res.resourcePatternType === ResourcePatternTypes.PREFIXED ? '*' : ''} ${operationNames.get(acl.operation)} ${permissionNames.get(acl.permissionType)}`))
      .sort();
  } finally {
    await a.disconnect();
  }
}

/** A certificate for `subject` signed by the application issuer itself: what a thief of the issuer key could mint. */
function mintWithIssuer(subject: string): string {
  const issuer = kafkaCertDir('kidp-app-issuer');
  const dir = mkdtempSync(join(tmpdir(), 'kidp-mint-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', subject, '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'csr')], { stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-req', '-in', join(dir, 'csr'), '-CA', join(issuer, 'tls.crt'), '-CAkey', join(issuer, 'tls.key'), '-set_serial', '0x4242', '-days', '1', '-sha256', '-extfile', join(dir, 'ext'), '-out', join(dir, 'leaf.crt')], { stdio: 'ignore' });
  writeFileSync(join(dir, 'tls.crt'), readFileSync(join(dir, 'leaf.crt'), 'utf8') + readFileSync(join(issuer, 'tls.crt'), 'utf8'));
  writeFileSync(join(dir, 'ca.crt'), readFileSync(join(issuer, 'ca.crt')));
  return dir;
}

const shop = (topic: string, uid?: string) => topicRequest(topic, { kind: 'Application', name: 'shop' }, uid ? { uid } : {});
const ORDERS_UID = randomUUID();
const EVENTS_UID = randomUUID();
let shopDir: string;
let billingDir: string;

beforeAll(async () => {
  kubeConfig.loadFromFile(process.env.KUBECONFIG ?? '');
  core = kubeConfig.makeApiClient(CoreV1Api);
  adminKafka = testKafka('tacc-admin');
  admin = adminKafka.admin();
  await admin.connect();
  execFileSync('bash', [kafkaSh, 'cert', `kidp-broker-${IDENTITY}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  await setupKafkaAccess(createKafka({ brokers: [kafkaBootstrap()], clientId: 'tacc-setup', logger, tls: kafkaCertDir() }), { brokerIdentities: [IDENTITY] });
  for (const ns of [NS, OTHER_NS, TARGET_NS]) await kubectlOk(['create', 'namespace', ns]);
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: V, kind: 'DeploymentTarget', metadata: { name: TARGET }, spec: { provider: 'kubernetes', environment: 'development', namespace: TARGET_NS, broker: { identity: IDENTITY, transport: 'kafka', publicKey: brokerKeys.publicKeyPem } } }),
  });
  broker = await runReferenceBroker({
    identities: [IDENTITY],
    kafkaBrokers: [kafkaBootstrap()],
    kafkaTls: kafkaCertDir(`kidp-broker-${IDENTITY}`),
    applicationIssuer: kafkaCertDir('kidp-app-issuer'),
    platformPublicKeyPem: dispatchKeys.publicKeyPem,
    signingKeyPem: brokerKeys.privateKeyPem,
    placement: { namespaces: [TARGET_NS], platformNamespace: 'kidp-system' },
    targetKubeConfig: kubeConfig,
    logger,
  });
  await broker.joined;
}, 180_000);

afterAll(async () => {
  await broker?.stop();
  await admin?.disconnect();
  await kubectl(['delete', 'deploymenttarget', TARGET, '--ignore-not-found']);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  console.log(`topic access: refusals seen\n${Object.entries(errorsSeen).map(([k, v]) => `  ${k}: ${v}`).join('\n')}`);
}, 60_000);

describe("a Topic's owning Application", () => {
  it('gets a certificate for its own principal in <topic>-kafka, and with exactly its files produces and consumes its topic', async () => {
    const ready = await apply(shop('orders', ORDERS_UID));
    const topic = `${NS}.orders`;
    expect({ phase: ready.phase, message: ready.message, outputs: ready.outputs }).toEqual({
      phase: 'Ready',
      message: `Kafka topic ${topic} has 2 partitions, replication 1 (replication capped to 1: the cluster has 1 broker(s)); Application shop (User:kidp-app-${NS}.shop) may read and write it and use consumer groups ${NS}.shop/*; its credentials are in Secret ${TARGET_NS}/orders-kafka`,
      outputs: { connectionSecretRef: { name: 'orders-kafka', namespace: TARGET_NS } },
    });
    const { dir, data } = await credentialsOf('orders');
    shopDir = dir;
    const leaf = new X509Certificate(data['tls.crt'] ?? '');
    expect({
      keys: Object.keys(data).sort(),
      bootstrap: data['bootstrap'],
      topic: data['topic'],
      groupPrefix: data['group-prefix'],
      principal: new KafkaTls(dir).principal(),
      subject: leaf.subject,
      issuer: leaf.issuer,
      // The chain verifies against the Kafka CA alone, as Kafka checks it.
      verifies: execFileSync('openssl', ['verify', '-CAfile', join(dir, 'ca.crt'), '-untrusted', join(dir, 'tls.crt'), join(dir, 'tls.crt')], { encoding: 'utf8' }).trim(),
    }).toEqual({
      keys: ['bootstrap', 'ca.crt', 'group-prefix', 'principal', 'tls.crt', 'tls.key', 'topic'],
      bootstrap: kafkaBootstrap(),
      topic,
      groupPrefix: `${NS}.shop/`,
      principal: `User:kidp-app-${NS}.shop`,
      subject: `O=kidp-applications\nCN=kidp-app-${NS}.shop`,
      issuer: 'O=kidp-applications\nCN=kidp-app-issuer',
      verifies: `${join(dir, 'tls.crt')}: OK`,
    });
    const app = clientOf(dir);
    const value = `hello-${randomUUID()}`;
    expect(await attempt('shop produces its topic', () => produce(app, topic, value))).toBe('ok');
    expect(await attempt('shop consumes its topic in its group', () => consume(app, topic, `${NS}.shop/readers`, value))).toBe('ok');
    // A re-delivered request is a no-op: same certificate, same ACLs.
    const aclsBefore = await aclsOf(`User:kidp-app-${NS}.shop`);
    await apply({ ...shop('orders', ORDERS_UID), requestId: `${ORDERS_UID}-1-retry2` });
    expect({ cert: (await credentialsOf('orders')).data['tls.crt'], acls: await aclsOf(`User:kidp-app-${NS}.shop`) }).toEqual({ cert: data['tls.crt'], acls: aclsBefore });
    expect(aclsBefore).toEqual([`GROUP:${NS}.shop/* READ ALLOW`, `TOPIC:${topic} DESCRIBE ALLOW`, `TOPIC:${topic} READ ALLOW`, `TOPIC:${topic} WRITE ALLOW`]);
  }, TEST_MS);

  it("is refused on another Application's and another Team's topic, the protocol topic, foreign groups and admin; the other Application is refused on its topic", async () => {
    expect((await apply(topicRequest('payments', { kind: 'Application', name: 'billing' }))).phase).toBe('Ready');
    expect((await apply(topicRequest('ledger', { kind: 'Application', name: 'books' }, { namespace: OTHER_NS }))).phase).toBe('Ready');
    billingDir = (await credentialsOf('payments')).dir;
    const shopClient = clientOf(shopDir);
    const billingClient = clientOf(billingDir);
    const before = { requests: await ends(REQUESTS_TOPIC), payments: await ends(`${NS}.payments`), ledger: await ends(`${OTHER_NS}.ledger`), orders: await ends(`${NS}.orders`) };
    const cases: Array<[string, () => Promise<unknown>]> = [
      ["shop produces to billing's topic", () => produce(shopClient, `${NS}.payments`, 'x')],
      ["shop consumes billing's topic", () => consume(shopClient, `${NS}.payments`, `${NS}.shop/steal`, 'x')],
      ["shop produces to team B's topic", () => produce(shopClient, `${OTHER_NS}.ledger`, 'x')],
      ['shop produces to kidp.deployment-requests', () => produce(shopClient, REQUESTS_TOPIC, '{}')],
      ['shop consumes kidp.deployment-requests', () => consume(shopClient, REQUESTS_TOPIC, `${NS}.shop/steal`, 'x')],
      ['shop consumes its topic in a group outside its prefix', () => consume(shopClient, `${NS}.orders`, 'kidp-status-handler', 'x')],
      ["shop consumes its topic in billing's group prefix", () => consume(shopClient, `${NS}.orders`, `${NS}.billing/x`, 'x')],
      ['shop creates a topic', async () => {
        const a = shopClient.admin();
        await a.connect();
        try {
          await a.createTopics({ topics: [{ topic: `${NS}.shop-extra`, numPartitions: 1, replicationFactor: 1 }] });
        } finally {
          await a.disconnect();
        }
      }],
      ["billing produces to shop's topic", () => produce(billingClient, `${NS}.orders`, 'x')],
      ["billing consumes shop's topic", () => consume(billingClient, `${NS}.orders`, `${NS}.billing/steal`, 'x')],
    ];
    const outcomes: Record<string, string> = {};
    for (const [what, fn] of cases) {
      const r = await attempt(what, fn);
      outcomes[what] = /TOPIC_AUTHORIZATION_FAILED|Topic authorization failed/.test(r) ? 'TOPIC_AUTHORIZATION_FAILED' : /GROUP_AUTHORIZATION_FAILED/.test(r) ? 'GROUP_AUTHORIZATION_FAILED' : /CLUSTER_AUTHORIZATION_FAILED/.test(r) ? 'CLUSTER_AUTHORIZATION_FAILED' : r;
    }
    expect(outcomes).toEqual({
      "shop produces to billing's topic": 'TOPIC_AUTHORIZATION_FAILED',
      "shop consumes billing's topic": 'TOPIC_AUTHORIZATION_FAILED',
      "shop produces to team B's topic": 'TOPIC_AUTHORIZATION_FAILED',
      'shop produces to kidp.deployment-requests': 'TOPIC_AUTHORIZATION_FAILED',
      'shop consumes kidp.deployment-requests': 'TOPIC_AUTHORIZATION_FAILED',
      'shop consumes its topic in a group outside its prefix': 'GROUP_AUTHORIZATION_FAILED',
      "shop consumes its topic in billing's group prefix": 'GROUP_AUTHORIZATION_FAILED',
      'shop creates a topic': 'TOPIC_AUTHORIZATION_FAILED',
      "billing produces to shop's topic": 'TOPIC_AUTHORIZATION_FAILED',
      "billing consumes shop's topic": 'TOPIC_AUTHORIZATION_FAILED',
    });
    expect({ requests: await ends(REQUESTS_TOPIC), payments: await ends(`${NS}.payments`), ledger: await ends(`${OTHER_NS}.ledger`), orders: await ends(`${NS}.orders`), extra: (await admin.listTopics()).includes(`${NS}.shop-extra`) }).toEqual({ ...before, extra: false });
  }, TEST_MS);

  it('cannot be impersonated with the issuer: a platform subject fails the handshake, a constrained non-app subject is a principal no ACL names', async () => {
    const platformName = clientOf(mintWithIssuer('/CN=kidp-admin'));
    const constrainedAdmin = clientOf(mintWithIssuer('/O=kidp-applications/CN=kidp-admin'));
    const results = {
      handshake: await attempt('issuer-minted CN=kidp-admin lists topics', async () => {
        const a = platformName.admin();
        await a.connect();
        try {
          await a.listTopics();
        } finally {
          await a.disconnect();
        }
      }),
      produce: await attempt('issuer-minted CN=kidp-admin,O=kidp-applications produces a request', () => produce(constrainedAdmin, REQUESTS_TOPIC, '{}')),
    };
    expect({ handshakeRefused: results.handshake !== 'ok' && !/AUTHORIZATION/.test(results.handshake), produce: /TOPIC_AUTHORIZATION_FAILED|Topic authorization failed/.test(results.produce) }).toEqual({ handshakeRefused: true, produce: true });
  }, TEST_MS);

  it('loses exactly the ACLs its deleted Topic had (the group ACL while another of its Topics lives), and nothing the broker did not create', async () => {
    const principal = `User:kidp-app-${NS}.shop`;
    expect((await apply(shop('events', EVENTS_UID))).phase).toBe('Ready');
    // An ACL the operator gave shop by hand, on a topic of the operator's: not the broker's to remove.
    const shared = `${NS}.shared`;
    await admin.createTopics({ topics: [{ topic: shared, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    await admin.createAcls({ acl: [{ principal, host: '*', resourceType: AclResourceTypes.TOPIC, resourceName: shared, resourcePatternType: ResourcePatternTypes.LITERAL, operation: AclOperationTypes.READ, permissionType: AclPermissionTypes.ALLOW }] });
    const others = async () => ({ billing: await aclsOf(`User:kidp-app-${NS}.billing`), books: await aclsOf(`User:kidp-app-${OTHER_NS}.books`), broker: await aclsOf(brokerPrincipal(IDENTITY)), controllers: await aclsOf(CONTROLLERS_PRINCIPAL) });
    const othersBefore = await others();
    const deleted = await apply({ ...shop('orders', ORDERS_UID), requestId: `${ORDERS_UID}-1-delete`, action: 'delete' });
    expect({ phase: deleted.phase, message: deleted.message }).toEqual({ phase: 'Deleted', message: `deleted Kafka topic ${NS}.orders; removed 3 ACL(s) of ${principal}` });
    expect(await aclsOf(principal)).toEqual([`GROUP:${NS}.shop/* READ ALLOW`, `TOPIC:${NS}.events DESCRIBE ALLOW`, `TOPIC:${NS}.events READ ALLOW`, `TOPIC:${NS}.events WRITE ALLOW`, `TOPIC:${shared} READ ALLOW`]);
    expect(await others()).toEqual(othersBefore);
    expect(await core.readNamespacedSecret({ name: 'orders-kafka', namespace: TARGET_NS }).then(() => 'exists', () => 'gone')).toBe('gone');
    // The deleted Topic's certificate: its ACLs are gone with the topic.
    const r = await attempt("shop's certificate produces to its deleted topic", () => produce(clientOf(shopDir), `${NS}.orders`, 'x'));
    expect(r).toMatch(/TOPIC_AUTHORIZATION_FAILED|Topic authorization failed/);
    // The last Topic of shop takes the group ACL with it; the operator's ACL stays.
    await apply({ ...shop('events', EVENTS_UID), requestId: `${EVENTS_UID}-1-delete`, action: 'delete' });
    expect({ acls: await aclsOf(principal), others: await others(), topics: (await admin.listTopics()).filter((t) => t.startsWith(`${NS}.`)).sort() }).toEqual({
      acls: [`TOPIC:${shared} READ ALLOW`],
      others: othersBefore,
      topics: [`${NS}.payments`, shared],
    });
  }, TEST_MS);
});

async function ends(topic: string): Promise<number> {
  const a = testKafka('tacc-ends').admin();
  await a.connect();
  try {
    return (await a.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
  } finally {
    await a.disconnect();
  }
}
