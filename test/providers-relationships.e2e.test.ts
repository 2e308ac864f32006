// Relationships end to end (issue 15 item 4) on the real apiserver, Kafka and PostgreSQL:
// the real controllers, the reference `kubernetes` broker (Services) and the `postgresql`
// broker (Databases), each behind its own DeploymentTarget. A Service's databaseSelector
// decides which Databases' connection Secrets its Deployment mounts; the tests follow label
// changes and a deleted Database, and resolve the mounted env the way the kubelet would to
// connect to PostgreSQL with it. (There are no nodes here: Pods never run.)
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AppsV1Api, CoreV1Api, KubeConfig, type V1EnvFromSource } from '@kubernetes/client-node';
import pg from 'pg';
import pino from 'pino';
import { kubectl, kubectlOk } from './kubectl.js';
import { kafkaCertDir } from './kafka-env.js';
import { createDispatcher, createStatusHandler, generateBrokerKeyPair, postgresqlProvisioner, runReferenceBroker, startStatusConsumer, type BrokerDispatcher, type RunningReferenceBroker } from '../brokers/index.js';
import { runControllers, type RunningControllers } from '../controllers/index.js';
import { poll } from './until.js';

const RUN = `${Date.now().toString(36)}${randomUUID().slice(0, 4)}`;
const V = 'platform.kidp.io/v1alpha1';
const NS = `rle-${RUN}`;
const SYSTEM_NS = `rle-system-${RUN}`;
const K8S_TARGET = `rle-k8s-${RUN}`;
const PG_TARGET = `rle-pg-${RUN}`;
const K8S_IDENTITY = 'kidp-relationships-e2e-k8s';
const PG_IDENTITY = 'kidp-relationships-e2e-pg';
const STATUS_GROUP = 'kidp-status-relationships-e2e';
/** The broker's re-check period here; production's is RELATIONSHIP_RESYNC_MS (15 s). */
const RESYNC_MS = 2_000;
/** Issue 15 item 4: the list follows label changes within a minute. */
const DRIFT_TARGET_MS = 60_000;
const TEST_TIMEOUT_MS = 150_000;

const logger = pino({ level: process.env.KIDP_TEST_LOG ?? 'silent' });
const kubeConfig = new KubeConfig();
let apps: AppsV1Api;
let core: CoreV1Api;
let dispatcher: BrokerDispatcher;
let k8sBroker: RunningReferenceBroker;
let pgBroker: RunningReferenceBroker;
let statusConsumer: { stop(): Promise<void> };
let controllers: RunningControllers;
const dispatchKeys = generateBrokerKeyPair();
const brokerKeys = generateBrokerKeyPair();
const pgAdmin = { user: process.env.KIDP_POSTGRES_ADMIN_USER ?? 'kidp_admin', password: () => readFileSync(process.env.KIDP_POSTGRES_ADMIN_PASSWORD_FILE ?? '', 'utf8').trim() };

const until = async <T,>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> => (await poll(what, probe, { timeoutMs, intervalMs: 250 })).value;
const apply = (obj: object) => kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(obj) });

function database(name: string, labels: Record<string, string>): object {
  return { apiVersion: V, kind: 'Database', metadata: { name, namespace: NS, labels }, spec: { owner: { kind: 'Team', name: NS }, environment: 'staging', target: PG_TARGET, engine: 'postgresql', version: '15' } };
}

async function envFrom(): Promise<V1EnvFromSource[] | undefined> {
  const d = await apps.readNamespacedDeployment({ name: 'web', namespace: NS }).catch(() => undefined);
  return d?.spec?.template.spec?.containers.find((c) => c.name === 'app')?.envFrom;
}

/** Waits until the Deployment mounts exactly `expected`; returns how long that took. */
async function mounts(expected: V1EnvFromSource[], what: string): Promise<number> {
  const started = Date.now();
  await until(what, async () => (JSON.stringify((await envFrom()) ?? []) === JSON.stringify(expected) ? true : undefined), DRIFT_TARGET_MS);
  return Date.now() - started;
}

const mount = (db: string) => ({ prefix: `${db.toUpperCase()}_`, secretRef: { name: `${db}-connection` } });

beforeAll(async () => {
  kubeConfig.loadFromFile(process.env.KUBECONFIG ?? '');
  apps = kubeConfig.makeApiClient(AppsV1Api);
  core = kubeConfig.makeApiClient(CoreV1Api);
  const bootstrap = process.env.KAFKA_BOOTSTRAP ?? '';
  for (const ns of [NS, SYSTEM_NS]) await kubectlOk(['create', 'namespace', ns]);
  await core.createNamespacedSecret({ namespace: SYSTEM_NS, body: { metadata: { name: 'postgres-admin' }, stringData: { username: pgAdmin.user, password: pgAdmin.password() } } });
  // Neither target names a namespace: each resource lands in its team's, so Deployment and Secrets meet.
  await apply({ apiVersion: V, kind: 'DeploymentTarget', metadata: { name: K8S_TARGET }, spec: { provider: 'kubernetes', environment: 'staging', broker: { identity: K8S_IDENTITY, transport: 'kafka', publicKey: brokerKeys.publicKeyPem } } });
  await apply({
    apiVersion: V,
    kind: 'DeploymentTarget',
    metadata: { name: PG_TARGET },
    spec: {
      provider: 'postgresql',
      environment: 'staging',
      server: { host: process.env.KIDP_POSTGRES_HOST, port: Number(process.env.KIDP_POSTGRES_PORT), credentialsSecretRef: { name: 'postgres-admin', namespace: SYSTEM_NS } },
      broker: { identity: PG_IDENTITY, transport: 'kafka', publicKey: brokerKeys.publicKeyPem },
    },
  });
  const handler = createStatusHandler({ kubeConfig, logger });
  statusConsumer = await startStatusConsumer({ kafkaBrokers: [bootstrap], kafkaTls: kafkaCertDir(), handler, logger, groupId: STATUS_GROUP });
  const common = { kafkaBrokers: [bootstrap], kafkaTls: kafkaCertDir(), platformPublicKeyPem: dispatchKeys.publicKeyPem, placement: { namespaces: ['rle-*'], platformNamespace: 'kidp-system' }, targetKubeConfig: kubeConfig, signingKeyPem: brokerKeys.privateKeyPem, logger };
  k8sBroker = await runReferenceBroker({ ...common, identities: [K8S_IDENTITY], relationshipResyncMs: RESYNC_MS });
  pgBroker = await runReferenceBroker({ ...common, identities: [PG_IDENTITY], provisioner: postgresqlProvisioner() });
  dispatcher = createDispatcher({ kafkaBrokers: [bootstrap], kafkaTls: kafkaCertDir(), dispatchSigningKeyPem: dispatchKeys.privateKeyPem, logger });
  await Promise.all([k8sBroker.joined, pgBroker.joined]);
  controllers = await runControllers({ kubeConfig, dispatcher, identity: `rle-${RUN}`, leaseNamespace: 'default', leaseName: `kidp-controllers-rle-${RUN}`, leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500, logger });
}, 120_000);

afterAll(async () => {
  await controllers?.stop();
  await dispatcher?.close();
  await k8sBroker?.stop();
  await pgBroker?.stop();
  await statusConsumer?.stop();
  await kubectl(['delete', 'databases.platform.kidp.io', '--all', '-n', NS, '--wait=false']);
  await kubectl(['delete', 'deploymenttarget', K8S_TARGET, PG_TARGET, '--ignore-not-found']);
}, 60_000);

describe('a Service mounts the connection Secrets of the Databases it selects', () => {
  it('mounts the matching Database, follows a label change within a minute, unmounts a deleted one; the mounted env connects', async () => {
    await apply(database('orders', { uses: 'shop' }));
    await apply(database('audit', {}));
    await apply({
      apiVersion: V,
      kind: 'Service',
      metadata: { name: 'web', namespace: NS },
      spec: { owner: { kind: 'Application', name: 'shop' }, environment: 'staging', target: K8S_TARGET, image: 'registry.kidp.io/shop/web:1.0.0', dependencies: { databaseSelector: { matchLabels: { uses: 'shop' } } } },
    });
    const first = await mounts([mount('orders')], 'orders mounted');

    // What a Pod would get: the Secret's keys under the prefix. Connect with them.
    const secret = await core.readNamespacedSecret({ name: 'orders-connection', namespace: NS });
    const env = Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [`ORDERS_${k.toUpperCase()}`, Buffer.from(v, 'base64').toString('utf8')]));
    const client = new pg.Client({ host: env['ORDERS_HOST'], port: Number(env['ORDERS_PORT']), user: env['ORDERS_USER'], password: env['ORDERS_PASSWORD'], database: env['ORDERS_DATABASE'] });
    await client.connect();
    const who = (await client.query('SELECT current_user AS u, current_database() AS d')).rows;
    await client.end();
    expect(who).toEqual([{ u: env['ORDERS_USER'], d: env['ORDERS_DATABASE'] }]);

    // A label change is no request for the Service: the broker's re-check picks it up.
    await until('audit Ready', async () => ((await kubectl(['get', 'databases.platform.kidp.io', 'audit', '-n', NS, '-o', 'jsonpath={.status.phase}'])).stdout === 'Ready' ? true : undefined), 60_000);
    await kubectlOk(['label', 'databases.platform.kidp.io', 'audit', '-n', NS, 'uses=shop']);
    const labelled = await mounts([mount('audit'), mount('orders')], 'audit mounted after its label changed');
    await kubectlOk(['label', 'databases.platform.kidp.io', 'orders', '-n', NS, 'uses-']);
    const unlabelled = await mounts([mount('audit')], 'orders unmounted after its label was removed');
    await kubectlOk(['label', 'databases.platform.kidp.io', 'orders', '-n', NS, 'uses=shop']);
    await mounts([mount('audit'), mount('orders')], 'orders mounted again');

    // A Database that disappears is unmounted.
    await kubectlOk(['delete', 'databases.platform.kidp.io', 'orders', '-n', NS, '--wait=false']);
    const deleted = await mounts([mount('audit')], 'orders unmounted after its deletion');
    logger.info({ firstMs: first, labelMs: labelled, unlabelMs: unlabelled, deleteMs: deleted }, 'relationship drift');
    expect(Math.max(labelled, unlabelled, deleted)).toBeLessThan(DRIFT_TARGET_MS);

    // The Service's own re-apply (a spec change) keeps the mounts: they have their own field manager.
    await kubectlOk(['patch', 'services.platform.kidp.io', 'web', '-n', NS, '--type=merge', '-p', JSON.stringify({ spec: { replicas: 2 } })]);
    await until('replicas 2 applied', async () => ((await apps.readNamespacedDeployment({ name: 'web', namespace: NS })).spec?.replicas === 2 ? true : undefined), 30_000);
    expect(await envFrom()).toEqual([mount('audit')]);
  }, TEST_TIMEOUT_MS);
});
