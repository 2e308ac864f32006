// The `aws` provider end to end (issue 15 item 5) on the real apiserver, the real Kafka and
// moto's server mode, the AWS API emulator test/env starts (moto/moto.sh): Databases go
// through the real controllers, the signed Kafka dispatcher, the broker runtime with the aws
// Provisioner (the official AWS SDK v3 over HTTP to moto) and the status consumer. The test
// then reads back from the emulator, with its own SDK client, what the broker did. moto is an
// emulator, not AWS: no instance runs, so nothing here connects to a database (see
// brokers/aws/README.md). No admission webhook runs here, so manifests set what it would
// default (spec.environment).
import { randomUUID } from 'node:crypto';
import { CreateDBInstanceCommand, DeleteDBInstanceCommand, DescribeDBInstancesCommand, RDSClient, type DBInstance } from '@aws-sdk/client-rds';
import { CreateReplicationGroupCommand, DeleteReplicationGroupCommand, DescribeReplicationGroupsCommand, ElastiCacheClient, ListTagsForResourceCommand as ListCacheTagsCommand, type ReplicationGroup } from '@aws-sdk/client-elasticache';
import { CreateQueueCommand, DeleteQueueCommand, GetQueueAttributesCommand, GetQueueUrlCommand, ListQueueTagsCommand, ReceiveMessageCommand, SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { kubectl, kubectlOk } from './kubectl.js';
import { kafkaCertDir, testKafka } from './kafka-env.js';
import { SIGNATURE_HEADER, signStatusMessage } from '../brokers/message-signing.js';
import {
  AWS_TAG_REQUEST,
  AWS_TAG_UID,
  PROTOCOL_VERSION,
  STATUS_TOPIC,
  awsProvisioner,
  createDispatcher,
  createStatusHandler,
  generateBrokerKeyPair,
  runReferenceBroker,
  startStatusConsumer,
  type BrokerDispatcher,
  type DeploymentRequest,
  type StatusEvent,
  type ProvisionOutcome,
  type Provisioner,
  type RunningReferenceBroker,
} from '../brokers/index.js';
import { runControllers, type RunningControllers } from '../controllers/index.js';
import { poll } from './until.js';

const RUN = `${Date.now().toString(36)}${randomUUID().slice(0, 4)}`;
const V = 'platform.kidp.io/v1alpha1';
const NS_A = `awe-a-${RUN}`;
const SYSTEM_NS = `awe-system-${RUN}`;
const TARGET = `awe-${RUN}`;
/** Fixed across runs so the consumer groups resume at their offsets on a long-lived environment. */
const IDENTITY = 'kidp-aws-e2e';
const STATUS_GROUP = 'kidp-status-aws-e2e';
const STEP_TIMEOUT_MS = 45_000;
const USAGE_INTERVAL_MS = 3_000;
/** The Team owning NS_A, whose status.cost the usage lands in. */
const TEAM = `awe-team-${RUN}`;
const TEST_TIMEOUT_MS = 120_000;

const logger = pino({ level: process.env.KIDP_TEST_LOG ?? 'silent' });
const kubeConfig = new KubeConfig();
let custom: CustomObjectsApi;
let core: CoreV1Api;
let dispatcher: BrokerDispatcher;
let broker: RunningReferenceBroker;
let statusConsumer: { stop(): Promise<void> };
let controllers: RunningControllers;
const dispatchKeys = generateBrokerKeyPair();
const brokerKeys = generateBrokerKeyPair();

const aws = {
  endpoint: process.env.KIDP_AWS_ENDPOINT ?? '',
  region: process.env.KIDP_AWS_REGION ?? 'us-east-1',
  accessKeyId: process.env.KIDP_AWS_ACCESS_KEY_ID ?? '',
  secretAccessKey: process.env.KIDP_AWS_SECRET_ACCESS_KEY ?? '',
};
let rds: RDSClient;
let elasticache: ElastiCacheClient;
let sqs: SQSClient;

/** What the real provisioner answered, per request id: how the test sees a re-send was a no-op. */
const outcomes = new Map<string, ProvisionOutcome | Error>();
function recording(real: Provisioner): Provisioner {
  const record = async (id: string, run: () => Promise<ProvisionOutcome>) => {
    try {
      const outcome = await run();
      outcomes.set(id, outcome);
      return outcome;
    } catch (err) {
      outcomes.set(id, err as Error);
      throw err;
    }
  };
  return {
    provider: real.provider,
    kinds: real.kinds,
    provision: (request, context) => record(request.requestId, () => real.provision(request, context)),
    deprovision: (request, context) => record(request.requestId, () => real.deprovision(request, context)),
    close: () => real.close(),
  };
}

type Obj = { metadata: { name: string; namespace: string; uid: string; generation: number; labels?: Record<string, string> }; spec: Record<string, unknown>; status?: { phase?: string; connectionSecretRef?: { name: string; namespace: string }; conditions?: Array<{ type: string; status: string; reason: string; message: string }> } };

const until = async <T,>(what: string, probe: () => Promise<T | undefined>, timeoutMs = STEP_TIMEOUT_MS): Promise<T> => (await poll(what, probe, { timeoutMs, intervalMs: 200 })).value;
const condition = (o: Obj | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);

async function getDb(namespace: string, name: string): Promise<Obj | undefined> {
  try {
    return (await custom.getNamespacedCustomObject({ group: 'platform.kidp.io', version: 'v1alpha1', namespace, plural: 'databases', name })) as Obj;
  } catch {
    return undefined;
  }
}

async function applyDb(namespace: string, name: string, spec: Record<string, unknown> = {}): Promise<void> {
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: V, kind: 'Database', metadata: { name, namespace }, spec: { owner: { kind: 'Team', name: namespace }, environment: 'staging', target: TARGET, engine: 'postgresql', version: '15', storageGB: 30, ...spec } }),
  });
}

async function phase(namespace: string, name: string, wanted: string): Promise<Obj> {
  return until(`Database ${namespace}/${name} phase ${wanted}`, async () => {
    const o = await getDb(namespace, name);
    return o?.status?.phase === wanted ? o : undefined;
  });
}

async function secretData(namespace: string, name: string): Promise<Record<string, string>> {
  const s = await core.readNamespacedSecret({ name, namespace });
  return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

/** The instance as the emulator describes it, or the error name it answers. */
async function describeInstance(identifier: string): Promise<DBInstance | string> {
  try {
    return (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }))).DBInstances?.[0] ?? 'empty';
  } catch (err) {
    return (err as Error).name;
  }
}

const tags = (i: DBInstance | string) => (typeof i === 'string' ? {} : Object.fromEntries((i.TagList ?? []).map((t) => [t.Key, t.Value])));

beforeAll(async () => {
  if (!aws.endpoint) throw new Error('KIDP_AWS_ENDPOINT is unset: run through the e2e jest project (test/env starts moto)');
  kubeConfig.loadFromFile(process.env.KUBECONFIG ?? '');
  custom = kubeConfig.makeApiClient(CustomObjectsApi);
  core = kubeConfig.makeApiClient(CoreV1Api);
  const sdkConfig = { region: aws.region, endpoint: aws.endpoint, credentials: { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey } };
  rds = new RDSClient(sdkConfig);
  elasticache = new ElastiCacheClient(sdkConfig);
  sqs = new SQSClient(sdkConfig);
  const bootstrap = process.env.KAFKA_BOOTSTRAP ?? '';
  for (const ns of [NS_A, SYSTEM_NS]) await kubectlOk(['create', 'namespace', ns]);
  await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: V, kind: 'Team', metadata: { name: TEAM }, spec: { displayName: 'AWS e2e', costCenter: 'CC-4242', members: [{ kind: 'Group', name: 'awe-developers' }], namespaces: [NS_A] } }) });
  await core.createNamespacedSecret({ namespace: SYSTEM_NS, body: { metadata: { name: 'aws-credentials' }, stringData: { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey } } });
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: V,
      kind: 'DeploymentTarget',
      metadata: { name: TARGET },
      spec: { provider: 'aws', environment: 'staging', region: aws.region, aws: { endpoint: aws.endpoint, credentialsSecretRef: { name: 'aws-credentials', namespace: SYSTEM_NS } }, broker: { identity: IDENTITY, transport: 'kafka', publicKey: brokerKeys.publicKeyPem } },
    }),
  });
  const handler = createStatusHandler({ kubeConfig, logger });
  statusConsumer = await startStatusConsumer({ kafkaBrokers: [bootstrap], kafkaTls: kafkaCertDir(), handler, logger, groupId: STATUS_GROUP });
  broker = await runReferenceBroker({
    provisioner: recording(awsProvisioner({ pollFirstMs: 200, pollCapMs: 1_000 })),
    // Usage re-reported every 3 s instead of hourly, so the test sees the hours move.
    usageReportIntervalMs: USAGE_INTERVAL_MS,
    identities: [IDENTITY],
    kafkaBrokers: [bootstrap],
    kafkaTls: kafkaCertDir(),
    platformPublicKeyPem: dispatchKeys.publicKeyPem,
    placement: { namespaces: ['awe-*'], platformNamespace: 'kidp-system' },
    targetKubeConfig: kubeConfig,
    signingKeyPem: brokerKeys.privateKeyPem,
    logger,
  });
  dispatcher = createDispatcher({ kafkaBrokers: [bootstrap], kafkaTls: kafkaCertDir(), dispatchSigningKeyPem: dispatchKeys.privateKeyPem, logger });
  await broker.joined;
  controllers = await runControllers({ kubeConfig, dispatcher, identity: `awe-${RUN}`, leaseNamespace: 'default', leaseName: `kidp-controllers-awe-${RUN}`, leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500, logger });
}, 120_000);

afterAll(async () => {
  await controllers?.stop();
  await dispatcher?.close();
  await broker?.stop();
  await statusConsumer?.stop();
  await kubectl(['delete', 'deploymenttarget', TARGET, '--ignore-not-found']);
  await kubectl(['delete', 'teams.platform.kidp.io', TEAM, '--ignore-not-found', '--wait=false']);
  // The instance made outside KIDP, which the broker must have left alone.
  await rds?.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: `${NS_A}-foreign`, SkipFinalSnapshot: true })).catch(() => undefined);
  await elasticache?.send(new DeleteReplicationGroupCommand({ ReplicationGroupId: `${NS_A}-foreign` })).catch(() => undefined);
  await sqs?.send(new GetQueueUrlCommand({ QueueName: `${NS_A}-foreign` })).then((q) => sqs.send(new DeleteQueueCommand({ QueueUrl: q.QueueUrl }))).catch(() => undefined);
  rds?.destroy();
  elasticache?.destroy();
  sqs?.destroy();
}, 60_000);

describe('aws provider (RDS through the AWS SDK v3) on the real apiserver, Kafka and moto', () => {
  let orders: Record<string, string>;
  let created: DBInstance;

  it('a Database becomes an RDS instance tagged with its uid; Ready with a Secret from the endpoint RDS reports', async () => {
    await applyDb(NS_A, 'orders');
    const ready = await phase(NS_A, 'orders', 'Ready');
    orders = await secretData(NS_A, 'orders-connection');
    const identifier = `${NS_A}-orders`;
    const instance = await describeInstance(identifier);
    if (typeof instance === 'string') throw new Error(`DescribeDBInstances ${identifier}: ${instance}`);
    created = instance;
    const host = instance.Endpoint?.Address ?? '';
    const port = instance.Endpoint?.Port ?? 0;
    expect({
      ref: ready.status?.connectionSecretRef,
      message: condition(ready, 'Ready')?.message,
      secret: { ...orders, password: orders['password']?.length },
      instance: { status: instance.DBInstanceStatus, engine: instance.Engine, version: instance.EngineVersion, db: instance.DBName, user: instance.MasterUsername, storage: instance.AllocatedStorage, publiclyAccessible: instance.PubliclyAccessible, encrypted: instance.StorageEncrypted },
      tags: tags(instance),
    }).toEqual({
      ref: { name: 'orders-connection', namespace: NS_A },
      message: expect.stringContaining(`RDS instance ${identifier} (postgres 15, db.t3.micro; 30 GiB) in ${aws.region}, created, available at ${host}:${port}`),
      secret: {
        engine: 'postgresql',
        host,
        port: String(port),
        database: 'orders',
        user: 'kidp_owner',
        username: 'kidp_owner',
        password: 32,
        instance: identifier,
        uri: `postgresql://kidp_owner:${orders['password']}@${host}:${port}/orders`,
      },
      instance: { status: 'available', engine: 'postgres', version: '15', db: 'orders', user: 'kidp_owner', storage: 30, publiclyAccessible: false, encrypted: true },
      tags: {
        'platform.kidp.io/managed-by': 'kidp',
        [AWS_TAG_UID]: ready.metadata.uid,
        'platform.kidp.io/resource': `Database/${NS_A}/orders`,
        [AWS_TAG_REQUEST]: `${ready.metadata.uid}-${ready.metadata.generation}`,
      },
    });
    expect(host.length).toBeGreaterThan(0);
  }, TEST_TIMEOUT_MS);

  it('a re-sent request (the same id, signed, over Kafka) is a no-op: same instance, same password, Secret untouched', async () => {
    const db = (await getDb(NS_A, 'orders')) as Obj;
    const requestId = `${db.metadata.uid}-${db.metadata.generation}`;
    expect((outcomes.get(requestId) as ProvisionOutcome | undefined)?.reason).toBe('DatabaseProvisioned');
    outcomes.delete(requestId);
    const secretBefore = await core.readNamespacedSecret({ name: 'orders-connection', namespace: NS_A });
    const request: DeploymentRequest = {
      apiVersion: PROTOCOL_VERSION,
      kind: 'DeploymentRequest',
      requestId,
      action: 'deploy',
      target: { name: TARGET, identity: IDENTITY, provider: 'aws', environment: 'staging' },
      resource: { kind: 'Database', namespace: NS_A, name: 'orders', uid: db.metadata.uid, generation: db.metadata.generation, labels: db.metadata.labels ?? {}, spec: db.spec },
      issuedAt: new Date().toISOString(),
    };
    await dispatcher.dispatch(request, { transport: 'kafka' });
    const again = await until('the re-sent request handled', async () => outcomes.get(requestId));
    expect(again).toEqual({ reason: 'AlreadyApplied', message: `request ${requestId} was applied already: RDS instance ${NS_A}-orders unchanged`, connection: orders, usage: { priceClass: 'db.t3.micro', sizeGiB: 30, since: created.InstanceCreateTime?.toISOString() } });
    const after = await describeInstance(`${NS_A}-orders`);
    const secretAfter = await core.readNamespacedSecret({ name: 'orders-connection', namespace: NS_A });
    expect({
      createTime: typeof after === 'string' ? after : after.InstanceCreateTime,
      arn: typeof after === 'string' ? after : after.DBInstanceArn,
      secretResourceVersion: secretAfter.metadata?.resourceVersion,
      phase: (await getDb(NS_A, 'orders'))?.status?.phase,
    }).toEqual({ createTime: created.InstanceCreateTime, arn: created.DBInstanceArn, secretResourceVersion: secretBefore.metadata?.resourceVersion, phase: 'Ready' });
  }, TEST_TIMEOUT_MS);

  it("usage (issue 15 item 6): the broker reports the instance's class, storage and hours since RDS created it; the Database's status.usage and its Team's status.cost show them, and move with the hourly (here 3 s) re-report", async () => {
    const since = created.InstanceCreateTime?.getTime() ?? 0;
    // db.t3.micro at the default table's 0.018 USD/h plus 30 GiB at 0.000158 USD/GiB-h.
    const hourlyRate = 0.02274;
    const db = await until('Database orders with usage', async () => {
      const o = (await getDb(NS_A, 'orders')) as (Obj & { status?: { usage?: { priceClass: string; sizeGiB?: number; hours: number; hourlyRate: number; cost: number } } }) | undefined;
      return o?.status?.usage ? o : undefined;
    });
    const usage = db.status?.usage;
    const maxHours = (Date.now() - since) / 3_600_000;
    expect({ ...usage, hoursInRange: (usage?.hours ?? -1) >= 0 && (usage?.hours ?? Infinity) <= maxHours + 0.0001, costIsProduct: Math.abs((usage?.cost ?? -1) - (usage?.hours ?? 0) * hourlyRate) < 1e-6 }).toEqual({
      priceClass: 'db.t3.micro', sizeGiB: 30, hours: usage?.hours, hourlyRate, cost: usage?.cost, hoursInRange: true, costIsProduct: true,
    });
    type Cost = { currency: string; total: number; computedAt: string; byCostCenter: Array<{ costCenter: string; total: number; resources: number }>; resources: Array<{ kind: string; namespace: string; name: string; priceClass: string; hours: number; cost: number }> };
    const getCost = async () => ((await custom.getClusterCustomObject({ group: 'platform.kidp.io', version: 'v1alpha1', plural: 'teams', name: TEAM })) as { status?: { cost?: Cost } }).status?.cost;
    const first = await until('Team cost with orders', async () => {
      const cost = await getCost();
      return cost?.resources.some((r) => r.name === 'orders') ? cost : undefined;
    });
    const row = first.resources.find((r) => r.name === 'orders');
    expect({ ...first, computedAt: Number.isFinite(Date.parse(first.computedAt)) }).toEqual({
      currency: 'USD',
      total: row?.cost,
      computedAt: true,
      byCostCenter: [{ costCenter: 'CC-4242', total: row?.cost, resources: 1 }],
      resources: [{ kind: 'Database', namespace: NS_A, name: 'orders', priceClass: 'db.t3.micro', hours: row?.hours, cost: row?.cost }],
    });
    // The next re-reports carry more hours: the Database's usage and the Team's figures follow.
    const later = await until('Team cost with more hours', async () => {
      const cost = await getCost();
      const r = cost?.resources.find((x) => x.name === 'orders');
      return r && row && r.hours > row.hours ? cost : undefined;
    }, 30_000);
    const laterRow = later.resources.find((r) => r.name === 'orders');
    expect({ grew: (laterRow?.cost ?? 0) > (row?.cost ?? 0), total: later.total, computedAtMoved: later.computedAt > first.computedAt }).toEqual({ grew: true, total: laterRow?.cost, computedAtMoved: true });
  }, TEST_TIMEOUT_MS);

  it("attack: status events signed with the target's own broker key but carrying hostile usage (a huge cost, a cost that is not hours × rate, an extra field) change nothing: the Database's usage and the Team's cost stay as the broker's honest reports say", async () => {
    const db = (await getDb(NS_A, 'orders')) as Obj;
    const resource = { kind: 'Database', namespace: NS_A, name: 'orders', uid: db.metadata.uid, generation: db.metadata.generation };
    const requestId = `${db.metadata.uid}-${db.metadata.generation}`;
    const honest = { priceClass: 'db.t3.micro', sizeGiB: 30, hours: 1, hourlyRate: 0.02274, cost: 0.02274 };
    const hostile: Array<Record<string, unknown>> = [
      { ...honest, hours: 800_000, hourlyRate: 10_000, cost: 8e9 * 1.5 },
      { ...honest, cost: 500 },
      { ...honest, cost: 0.02274, discount: -500 },
      { ...honest, hours: -1, cost: -0.02274 },
    ];
    const producer = testKafka('awe-hostile').producer();
    await producer.connect();
    const sentAt = Date.now();
    try {
      for (const [i, usage] of hostile.entries()) {
        const event = { apiVersion: PROTOCOL_VERSION, kind: 'StatusEvent', eventId: `${requestId}:Ready:usage-forged-${i}`, requestId, target: TARGET, broker: IDENTITY, resource, phase: 'Ready', reason: 'DatabaseProvisioned', message: 'forged', outputs: { usage }, reportedAt: new Date().toISOString() };
        const body = Buffer.from(JSON.stringify(event));
        await producer.send({ topic: STATUS_TOPIC, acks: -1, messages: [{ key: db.metadata.uid, value: body, headers: { [SIGNATURE_HEADER]: await signStatusMessage({ privateKeyPem: brokerKeys.privateKeyPem, event: event as unknown as StatusEvent, body }) } }] });
      }
    } finally {
      await producer.disconnect();
    }
    // The broker's next honest report, later on the same partition (keyed by uid): by then the forged ones were handled.
    type Usage = { priceClass: string; hours: number; hourlyRate: number; cost: number };
    const after = await until('an honest usage report after the forged ones', async () => {
      const o = (await getDb(NS_A, 'orders')) as (Obj & { status?: { lastStatusEventId?: string; usage?: Usage; recentEventIds?: string[] } }) | undefined;
      const at = Number(/:usage-(\d+)$/.exec(o?.status?.lastStatusEventId ?? '')?.[1] ?? 0);
      return at > sentAt ? o : undefined;
    }, 20_000);
    const team = (await custom.getClusterCustomObject({ group: 'platform.kidp.io', version: 'v1alpha1', plural: 'teams', name: TEAM })) as { status?: { cost?: { total: number } } };
    const usage = after.status?.usage;
    expect({
      usage: { priceClass: usage?.priceClass, hourlyRate: usage?.hourlyRate, costIsProduct: Math.abs((usage?.cost ?? -1) - (usage?.hours ?? 0) * (usage?.hourlyRate ?? 0)) < 1e-6, cheap: (usage?.cost ?? 1) < 1 },
      teamCheap: (team.status?.cost?.total ?? 1) < 1,
      forgedRecorded: (after.status?.recentEventIds ?? []).filter((id) => id.includes('forged')),
      message: condition(after, 'Ready')?.message.includes('forged'),
    }).toEqual({ usage: { priceClass: 'db.t3.micro', hourlyRate: 0.02274, costIsProduct: true, cheap: true }, teamCheap: true, forgedRecorded: [], message: false });
  }, TEST_TIMEOUT_MS);

  it('a new generation is applied with ModifyDBInstance (storage grows); a lost Secret gets a new master password', async () => {
    await applyDb(NS_A, 'orders', { storageGB: 50 });
    const grown = await until('generation 2 Ready', async () => {
      const o = await getDb(NS_A, 'orders');
      return o?.metadata.generation === 2 && o.status?.phase === 'Ready' && condition(o, 'Ready')?.message.includes('50 GiB') ? o : undefined;
    });
    const after = await describeInstance(`${NS_A}-orders`);
    expect({ message: condition(grown, 'Ready')?.message, storage: typeof after === 'string' ? after : after.AllocatedStorage, requestTag: tags(after)[AWS_TAG_REQUEST], password: (await secretData(NS_A, 'orders-connection'))['password'] }).toEqual({
      message: expect.stringContaining('modified (AllocatedStorage)'),
      storage: 50,
      requestTag: `${grown.metadata.uid}-2`,
      password: orders['password'],
    });
    // The Secret lost (deleted by hand): the re-sent request cannot know the password, so it sets a new one.
    await core.deleteNamespacedSecret({ name: 'orders-connection', namespace: NS_A });
    const requestId = `${grown.metadata.uid}-2`;
    outcomes.delete(requestId);
    await dispatcher.dispatch({ apiVersion: PROTOCOL_VERSION, kind: 'DeploymentRequest', requestId, action: 'deploy', target: { name: TARGET, identity: IDENTITY, provider: 'aws', environment: 'staging' }, resource: { kind: 'Database', namespace: NS_A, name: 'orders', uid: grown.metadata.uid, generation: 2, labels: grown.metadata.labels ?? {}, spec: grown.spec }, issuedAt: new Date().toISOString() }, { transport: 'kafka' });
    const again = (await until('the re-sent request handled', async () => outcomes.get(requestId))) as ProvisionOutcome;
    const secret = await until('the Secret written again', async () => secretData(NS_A, 'orders-connection').catch(() => undefined));
    expect({ message: again.message, newPassword: secret['password'] !== orders['password'] && secret['password']?.length === 32, same: secret['password'] === again.connection?.['password'] }).toEqual({
      message: expect.stringContaining('modified (new master password)'),
      newPassword: true,
      same: true,
    });
  }, TEST_TIMEOUT_MS);

  it('attack: an instance of the same identifier made outside KIDP is not adopted; the Database fails for good and the instance is untouched, also after the Database is deleted', async () => {
    const identifier = `${NS_A}-foreign`;
    await rds.send(new CreateDBInstanceCommand({ DBInstanceIdentifier: identifier, DBInstanceClass: 'db.t3.micro', Engine: 'postgres', EngineVersion: '15', DBName: 'theirs', MasterUsername: 'owner', MasterUserPassword: 'their-own-password-1', AllocatedStorage: 20 }));
    await applyDb(NS_A, 'foreign');
    const failed = await phase(NS_A, 'foreign', 'Failed');
    expect(condition(failed, 'Deployed')?.message).toContain(`RDS instance ${identifier} in ${aws.region} already exists and belongs to something outside KIDP (no KIDP uid tag); it is not adopted`);
    await kubectlOk(['delete', 'databases.platform.kidp.io', 'foreign', '-n', NS_A, '--wait=false']);
    await until('Database foreign gone (finalizer removed)', async () => ((await getDb(NS_A, 'foreign')) === undefined ? true : undefined));
    const still = await describeInstance(identifier);
    expect({ status: typeof still === 'string' ? still : still.DBInstanceStatus, db: typeof still === 'string' ? still : still.DBName, tags: tags(still), secret: await core.readNamespacedSecret({ name: 'foreign-connection', namespace: NS_A }).then(() => 'exists', () => 'none') }).toEqual({ status: 'available', db: 'theirs', tags: {}, secret: 'none' });
  }, TEST_TIMEOUT_MS);

  it('attack: a Database whose name RDS could not take as an identifier is refused before any AWS call', async () => {
    // 63 is the apiserver's limit for the name too, but <namespace>-<name> is longer than RDS's 63.
    const name = `x${'o'.repeat(60)}`;
    await applyDb(NS_A, name);
    const failed = await phase(NS_A, name, 'Failed');
    expect({ message: condition(failed, 'Deployed')?.message, instance: await describeInstance(`${NS_A}-${name}`.slice(0, 63)) }).toEqual({
      message: expect.stringContaining(`refused: DB instance identifier "${NS_A}-${name}" (<namespace>-<name>) is ${NS_A.length + 1 + name.length} characters; RDS allows 1 to 63`),
      instance: 'DBInstanceNotFoundFault',
    });
    await kubectlOk(['delete', 'databases.platform.kidp.io', name, '-n', NS_A, '--wait=false']);
  }, TEST_TIMEOUT_MS);

  it('deleting the Database deletes the RDS instance (waited until gone) after the finalizer, and removes the Secret', async () => {
    await kubectlOk(['delete', 'databases.platform.kidp.io', 'orders', '-n', NS_A, '--wait=false']);
    await until('Database orders gone (finalizer removed)', async () => ((await getDb(NS_A, 'orders')) === undefined ? true : undefined));
    expect({
      instance: await describeInstance(`${NS_A}-orders`),
      secret: await core.readNamespacedSecret({ name: 'orders-connection', namespace: NS_A }).then(() => 'exists', () => 'gone'),
    }).toEqual({ instance: 'DBInstanceNotFoundFault', secret: 'gone' });
    // A removed resource costs the team nothing more: its row leaves Team.status.cost.
    const cost = await until('Team cost without orders', async () => {
      const team = (await custom.getClusterCustomObject({ group: 'platform.kidp.io', version: 'v1alpha1', plural: 'teams', name: TEAM })) as { status?: { cost?: { total: number; resources: Array<{ name: string }> } } };
      return team.status?.cost && !team.status.cost.resources.some((r) => r.name === 'orders') ? team.status.cost : undefined;
    });
    expect(cost.resources.map((r) => r.name)).toEqual([]);
    // Nothing reports usage any more: the Team is not written again (no write per reconcile or per resync of its resources).
    const rv = async () => ((await custom.getClusterCustomObject({ group: 'platform.kidp.io', version: 'v1alpha1', plural: 'teams', name: TEAM })) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    const before = await rv();
    await new Promise((resolve) => setTimeout(resolve, 3 * USAGE_INTERVAL_MS));
    expect(await rv()).toBe(before);
  }, TEST_TIMEOUT_MS);
});

async function getObj(plural: 'caches' | 'topics', namespace: string, name: string): Promise<Obj | undefined> {
  try {
    return (await custom.getNamespacedCustomObject({ group: 'platform.kidp.io', version: 'v1alpha1', namespace, plural, name })) as Obj;
  } catch {
    return undefined;
  }
}

async function applyKind(kind: 'Cache' | 'Topic', namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: V, kind, metadata: { name, namespace }, spec: { owner: { kind: 'Team', name: namespace }, environment: 'staging', target: TARGET, ...spec } }) });
}

async function objPhase(plural: 'caches' | 'topics', namespace: string, name: string, wanted: string, generation?: number): Promise<Obj> {
  return until(`${plural} ${namespace}/${name} phase ${wanted}`, async () => {
    const o = await getObj(plural, namespace, name);
    // With a generation: the phase the broker reported for that generation, not the one before.
    const observed = (o?.status as { observedGeneration?: number } | undefined)?.observedGeneration;
    return o?.status?.phase === wanted && (generation === undefined || (o.metadata.generation === generation && observed === generation)) ? o : undefined;
  });
}

async function describeGroup(id: string): Promise<ReplicationGroup | string> {
  try {
    return (await elasticache.send(new DescribeReplicationGroupsCommand({ ReplicationGroupId: id }))).ReplicationGroups?.[0] ?? 'empty';
  } catch (err) {
    return (err as Error).name;
  }
}

async function groupTags(group: ReplicationGroup | string): Promise<Record<string, string | undefined>> {
  if (typeof group === 'string' || !group.ARN) return {};
  return Object.fromEntries(((await elasticache.send(new ListCacheTagsCommand({ ResourceName: group.ARN }))).TagList ?? []).map((t) => [t.Key, t.Value]));
}

/** The queue as SQS answers for it: url, retention and tags, or the error name. */
async function describeQueue(name: string): Promise<{ url: string; retention?: string; tags: Record<string, string> } | string> {
  try {
    const url = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl ?? '';
    const attributes = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['MessageRetentionPeriod'] }))).Attributes ?? {};
    return { url, retention: attributes['MessageRetentionPeriod'], tags: (await sqs.send(new ListQueueTagsCommand({ QueueUrl: url }))).Tags ?? {} };
  } catch (err) {
    return (err as Error).name;
  }
}

const resend = async (kind: 'Cache' | 'Topic', o: Obj, requestId = `${o.metadata.uid}-${o.metadata.generation}`): Promise<ProvisionOutcome | Error> => {
  outcomes.delete(requestId);
  await dispatcher.dispatch({ apiVersion: PROTOCOL_VERSION, kind: 'DeploymentRequest', requestId, action: 'deploy', target: { name: TARGET, identity: IDENTITY, provider: 'aws', environment: 'staging' }, resource: { kind, namespace: o.metadata.namespace, name: o.metadata.name, uid: o.metadata.uid, generation: o.metadata.generation, labels: o.metadata.labels ?? {}, spec: o.spec }, issuedAt: new Date().toISOString() }, { transport: 'kafka' });
  return until(`the re-sent ${kind} request handled`, async () => outcomes.get(requestId));
};

describe('aws provider: a Cache is an ElastiCache for Redis replication group (AWS SDK v3, against moto)', () => {
  let sessions: Record<string, string>;
  let created: ReplicationGroup;

  it('a Cache becomes a replication group tagged with its uid, with an AUTH token and TLS; Ready with a Secret from the primary endpoint', async () => {
    await applyKind('Cache', NS_A, 'sessions', { engine: 'redis', version: '7.1' });
    const ready = await objPhase('caches', NS_A, 'sessions', 'Ready');
    sessions = await secretData(NS_A, 'sessions-connection');
    const id = `${NS_A}-sessions`;
    const group = await describeGroup(id);
    if (typeof group === 'string') throw new Error(`DescribeReplicationGroups ${id}: ${group}`);
    created = group;
    const primary = group.NodeGroups?.[0]?.PrimaryEndpoint;
    expect({
      ref: ready.status?.connectionSecretRef,
      message: condition(ready, 'Ready')?.message,
      usage: (ready.status as { usage?: { priceClass: string } }).usage?.priceClass,
      secret: { ...sessions, password: sessions['password']?.length },
      group: { status: group.Status, nodeType: group.CacheNodeType, auth: group.AuthTokenEnabled, tls: group.TransitEncryptionEnabled, atRest: group.AtRestEncryptionEnabled, members: group.MemberClusters?.length },
      tags: await groupTags(group),
    }).toEqual({
      ref: { name: 'sessions-connection', namespace: NS_A },
      message: expect.stringContaining(`ElastiCache replication group ${id} (redis 1 node, cache.t3.micro, AUTH, TLS) in ${aws.region}, created, available at ${primary?.Address}:${primary?.Port}; memory is the node type's, not spec.memoryMB`),
      usage: 'cache.t3.micro',
      secret: { engine: 'redis', host: primary?.Address, port: String(primary?.Port), user: 'default', username: 'default', password: 32, tls: 'true', uri: `rediss://default:${sessions['password']}@${primary?.Address}:${primary?.Port}`, replicationGroup: id },
      group: { status: 'available', nodeType: 'cache.t3.micro', auth: true, tls: true, atRest: true, members: 1 },
      tags: { 'platform.kidp.io/managed-by': 'kidp', [AWS_TAG_UID]: ready.metadata.uid, 'platform.kidp.io/resource': `Cache/${NS_A}/sessions`, [AWS_TAG_REQUEST]: `${ready.metadata.uid}-1` },
    });
  }, TEST_TIMEOUT_MS);

  it('a re-sent request is a no-op (same group, same token, Secret untouched); a lost Secret gets a new AUTH token (ModifyReplicationGroup)', async () => {
    const cache = (await getObj('caches', NS_A, 'sessions')) as Obj;
    const secretBefore = await core.readNamespacedSecret({ name: 'sessions-connection', namespace: NS_A });
    const again = await resend('Cache', cache);
    const after = await describeGroup(`${NS_A}-sessions`);
    expect({
      reason: (again as ProvisionOutcome).reason,
      connection: (again as ProvisionOutcome).connection,
      createTime: typeof after === 'string' ? after : after.ReplicationGroupCreateTime,
      secretResourceVersion: (await core.readNamespacedSecret({ name: 'sessions-connection', namespace: NS_A })).metadata?.resourceVersion,
    }).toEqual({ reason: 'AlreadyApplied', connection: sessions, createTime: created.ReplicationGroupCreateTime, secretResourceVersion: secretBefore.metadata?.resourceVersion });
    await core.deleteNamespacedSecret({ name: 'sessions-connection', namespace: NS_A });
    const rotated = (await resend('Cache', cache)) as ProvisionOutcome;
    const secret = await until('the Secret written again', async () => secretData(NS_A, 'sessions-connection').catch(() => undefined));
    expect({ message: rotated.message, fresh: secret['password'] !== sessions['password'] && secret['password']?.length === 32, same: secret['password'] === rotated.connection?.['password'] }).toEqual({
      message: expect.stringContaining('modified (new AUTH token)'),
      fresh: true,
      same: true,
    });
  }, TEST_TIMEOUT_MS);

  it('attack: a replication group of the same id made outside KIDP is not adopted; the Cache fails for good and the group is untouched, also after the Cache is deleted', async () => {
    const id = `${NS_A}-foreign`;
    await elasticache.send(new CreateReplicationGroupCommand({ ReplicationGroupId: id, ReplicationGroupDescription: 'theirs', Engine: 'redis', CacheNodeType: 'cache.m5.large', NumCacheClusters: 1 }));
    await applyKind('Cache', NS_A, 'foreign', { engine: 'redis' });
    const failed = await objPhase('caches', NS_A, 'foreign', 'Failed');
    expect(condition(failed, 'Deployed')?.message).toContain(`ElastiCache replication group ${id} in ${aws.region} already exists and belongs to something outside KIDP (no KIDP uid tag); it is not adopted`);
    await kubectlOk(['delete', 'caches.platform.kidp.io', 'foreign', '-n', NS_A, '--wait=false']);
    await until('Cache foreign gone (finalizer removed)', async () => ((await getObj('caches', NS_A, 'foreign')) === undefined ? true : undefined));
    const still = await describeGroup(id);
    expect({ status: typeof still === 'string' ? still : still.Status, nodeType: typeof still === 'string' ? still : still.CacheNodeType, auth: typeof still === 'string' ? still : still.AuthTokenEnabled, tags: await groupTags(still) }).toEqual({ status: 'available', nodeType: 'cache.m5.large', auth: false, tags: {} });
  }, TEST_TIMEOUT_MS);

  it('attack: an id ElastiCache could not take (over 40 characters) and memcached are refused before any AWS call', async () => {
    const long = 'x'.repeat(40 - NS_A.length);
    await applyKind('Cache', NS_A, long, { engine: 'redis' });
    await applyKind('Cache', NS_A, 'mc', { engine: 'memcached' });
    const [tooLong, memcached] = [await objPhase('caches', NS_A, long, 'Failed'), await objPhase('caches', NS_A, 'mc', 'Failed')];
    expect({ long: condition(tooLong, 'Deployed')?.message, mc: condition(memcached, 'Deployed')?.message, groups: [await describeGroup(`${NS_A}-${long}`), await describeGroup(`${NS_A}-mc`)] }).toEqual({
      long: expect.stringContaining(`refused: ElastiCache replication group id "${NS_A}-${long}" (<namespace>-<name>) is 41 characters; ElastiCache allows 1 to 40`),
      mc: expect.stringContaining('refused: the aws provider runs Caches of engine redis on ElastiCache, not "memcached"'),
      groups: ['ReplicationGroupNotFoundFault', 'ReplicationGroupNotFoundFault'],
    });
    for (const n of [long, 'mc']) await kubectlOk(['delete', 'caches.platform.kidp.io', n, '-n', NS_A, '--wait=false']);
  }, TEST_TIMEOUT_MS);

  it('deleting the Cache deletes the replication group (ElastiCache takes it: deleting; moto never finishes) after the finalizer, and removes the Secret', async () => {
    await kubectlOk(['delete', 'caches.platform.kidp.io', 'sessions', '-n', NS_A, '--wait=false']);
    await until('Cache sessions gone (finalizer removed)', async () => ((await getObj('caches', NS_A, 'sessions')) === undefined ? true : undefined));
    const group = await describeGroup(`${NS_A}-sessions`);
    expect({ status: typeof group === 'string' ? group : group.Status, secret: await core.readNamespacedSecret({ name: 'sessions-connection', namespace: NS_A }).then(() => 'exists', () => 'gone') }).toEqual({ status: 'deleting', secret: 'gone' });
  }, TEST_TIMEOUT_MS);
});

describe('aws provider: a Topic is an SQS queue (AWS SDK v3, against moto)', () => {
  let events: Record<string, string>;

  it('a Topic becomes a queue tagged with its uid, retentionHours as MessageRetentionPeriod; the Secret names it, and a message sent to it is received', async () => {
    await applyKind('Topic', NS_A, 'events', { partitions: 3, replicationFactor: 1, retentionHours: 48 });
    const ready = await objPhase('topics', NS_A, 'events', 'Ready');
    events = await secretData(NS_A, 'events-connection');
    const queue = await describeQueue(`${NS_A}-events`);
    if (typeof queue === 'string') throw new Error(`GetQueueUrl: ${queue}`);
    await sqs.send(new SendMessageCommand({ QueueUrl: events['queueUrl'], MessageBody: 'order 42 paid' }));
    const received = (await sqs.send(new ReceiveMessageCommand({ QueueUrl: events['queueUrl'], MaxNumberOfMessages: 1, WaitTimeSeconds: 1 }))).Messages?.map((m) => m.Body);
    expect({ message: condition(ready, 'Ready')?.message, usage: (ready.status as { usage?: { priceClass: string; hourlyRate: number } }).usage, secret: events, retention: queue.retention, tags: queue.tags, received }).toEqual({
      message: expect.stringContaining(`SQS queue ${NS_A}-events in ${aws.region} (retention 48 h), created, at ${queue.url}; partitions, replicationFactor do not apply to SQS`),
      usage: expect.objectContaining({ priceClass: 'sqs-standard', hourlyRate: 0 }),
      secret: { engine: 'sqs', queueUrl: queue.url, queueArn: expect.stringContaining(`:${NS_A}-events`) as unknown as string, region: aws.region },
      retention: String(48 * 3600),
      tags: { 'platform.kidp.io/managed-by': 'kidp', [AWS_TAG_UID]: ready.metadata.uid, 'platform.kidp.io/resource': `Topic/${NS_A}/events`, [AWS_TAG_REQUEST]: `${ready.metadata.uid}-1` },
      received: ['order 42 paid'],
    });
  }, TEST_TIMEOUT_MS);

  it('a re-sent request is a no-op; a new generation changes the retention (SetQueueAttributes) on the same queue', async () => {
    const topic = (await getObj('topics', NS_A, 'events')) as Obj;
    const again = (await resend('Topic', topic)) as ProvisionOutcome;
    expect({ reason: again.reason, connection: again.connection }).toEqual({ reason: 'AlreadyApplied', connection: events });
    await applyKind('Topic', NS_A, 'events', { partitions: 3, replicationFactor: 1, retentionHours: 72 });
    const grown = await objPhase('topics', NS_A, 'events', 'Ready', 2);
    const queue = await describeQueue(`${NS_A}-events`);
    expect({ message: condition(grown, 'Ready')?.message, retention: typeof queue === 'string' ? queue : queue.retention, url: typeof queue === 'string' ? queue : queue.url, request: typeof queue === 'string' ? queue : queue.tags[AWS_TAG_REQUEST] }).toEqual({
      message: expect.stringContaining('(retention 72 h), modified (MessageRetentionPeriod)'),
      retention: String(72 * 3600),
      url: events['queueUrl'],
      request: `${grown.metadata.uid}-2`,
    });
  }, TEST_TIMEOUT_MS);

  it('attack: a queue of the same name made outside KIDP is not adopted, not re-tagged, and survives the Topic; compaction and a retention past 14 days are refused before any call', async () => {
    const name = `${NS_A}-foreign`;
    await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: { MessageRetentionPeriod: String(168 * 3600) }, tags: { owner: 'someone-else' } }));
    await applyKind('Topic', NS_A, 'foreign', {});
    await applyKind('Topic', NS_A, 'compacted', { cleanupPolicy: 'compact' });
    await applyKind('Topic', NS_A, 'forever', { retentionHours: 24 * 30 });
    const failed = await objPhase('topics', NS_A, 'foreign', 'Failed');
    const [compacted, forever] = [await objPhase('topics', NS_A, 'compacted', 'Failed'), await objPhase('topics', NS_A, 'forever', 'Failed')];
    await kubectlOk(['delete', 'topics.platform.kidp.io', 'foreign', 'compacted', 'forever', '-n', NS_A, '--wait=false']);
    await until('Topic foreign gone (finalizer removed)', async () => ((await getObj('topics', NS_A, 'foreign')) === undefined ? true : undefined));
    expect({
      foreign: condition(failed, 'Deployed')?.message,
      compacted: condition(compacted, 'Deployed')?.message,
      forever: condition(forever, 'Deployed')?.message,
      still: await describeQueue(name),
      none: [await describeQueue(`${NS_A}-compacted`), await describeQueue(`${NS_A}-forever`)],
    }).toEqual({
      foreign: expect.stringContaining(`SQS queue ${name} in ${aws.region} already exists and belongs to something outside KIDP (no KIDP uid tag); it is not adopted`),
      compacted: expect.stringContaining('refused: spec.cleanupPolicy "compact": an SQS queue cannot compact; only delete'),
      forever: expect.stringContaining('refused: spec.retentionHours 720: SQS keeps messages 1 to 336 hours (14 days)'),
      still: { url: expect.stringContaining(name) as unknown as string, retention: String(168 * 3600), tags: { owner: 'someone-else' } },
      none: ['QueueDoesNotExist', 'QueueDoesNotExist'],
    });
  }, TEST_TIMEOUT_MS);

  it('deleting the Topic deletes the queue (waited until SQS no longer knows it) after the finalizer, and removes the Secret', async () => {
    await kubectlOk(['delete', 'topics.platform.kidp.io', 'events', '-n', NS_A, '--wait=false']);
    await until('Topic events gone (finalizer removed)', async () => ((await getObj('topics', NS_A, 'events')) === undefined ? true : undefined));
    expect({ queue: await describeQueue(`${NS_A}-events`), secret: await core.readNamespacedSecret({ name: 'events-connection', namespace: NS_A }).then(() => 'exists', () => 'gone') }).toEqual({ queue: 'QueueDoesNotExist', secret: 'gone' });
  }, TEST_TIMEOUT_MS);
});
