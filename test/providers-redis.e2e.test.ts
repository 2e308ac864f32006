// The `redis` provider end to end (issue 15 item 2) on the real apiserver, the real Kafka
// and the real redis-server test/env starts (Debian's package, ACLs only): Caches go through
// the real controllers, the signed Kafka dispatcher, the broker runtime with the redis
// Provisioner, and the status consumer; the tests then connect with exactly what the
// connection Secret says (node `redis`) and try to reach past it. No admission webhook runs
// here, so manifests set what it would default (spec.environment).
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { createClient } from 'redis';
import { kubectl, kubectlOk } from './kubectl.js';
import { kafkaCertDir } from './kafka-env.js';
import { createDispatcher, createStatusHandler, generateBrokerKeyPair, redisProvisioner, runReferenceBroker, startStatusConsumer, type BrokerDispatcher, type RunningReferenceBroker } from '../brokers/index.js';
import { runControllers, type RunningControllers } from '../controllers/index.js';
import { poll } from './until.js';

const RUN = `${Date.now().toString(36)}${randomUUID().slice(0, 4)}`;
const V = 'platform.kidp.io/v1alpha1';
const NS_A = `rde-a-${RUN}`;
const NS_B = `rde-b-${RUN}`;
const SYSTEM_NS = `rde-system-${RUN}`;
const TARGET = `rde-${RUN}`;
/** Fixed across runs so the consumer groups resume at their offsets on a long-lived environment. */
const IDENTITY = 'kidp-redis-e2e';
const STATUS_GROUP = 'kidp-status-redis-e2e';
const STEP_TIMEOUT_MS = 45_000;
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

const server = {
  host: process.env.KIDP_REDIS_HOST ?? '127.0.0.1',
  port: Number(process.env.KIDP_REDIS_PORT),
  user: process.env.KIDP_REDIS_ADMIN_USER ?? 'kidp-admin',
  password: () => readFileSync(process.env.KIDP_REDIS_ADMIN_PASSWORD_FILE ?? '', 'utf8').trim(),
};

type Obj = { metadata: { name: string; uid: string }; status?: { phase?: string; connectionSecretRef?: { name: string; namespace: string }; conditions?: Array<{ type: string; status: string; reason: string; message: string }> } };
type Redis = ReturnType<typeof createClient>;
const clients: Redis[] = [];

const until = async <T,>(what: string, probe: () => Promise<T | undefined>, timeoutMs = STEP_TIMEOUT_MS): Promise<T> => (await poll(what, probe, { timeoutMs, intervalMs: 200 })).value;

async function getCache(namespace: string, name: string): Promise<Obj | undefined> {
  try {
    return (await custom.getNamespacedCustomObject({ group: 'platform.kidp.io', version: 'v1alpha1', namespace, plural: 'caches', name })) as Obj;
  } catch {
    return undefined;
  }
}

async function readyCache(namespace: string, name: string): Promise<Obj> {
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: V, kind: 'Cache', metadata: { name, namespace }, spec: { owner: { kind: 'Team', name: namespace }, environment: 'staging', target: TARGET, engine: 'redis', version: '7' } }),
  });
  return until(`Cache ${namespace}/${name} Ready`, async () => {
    const o = await getCache(namespace, name);
    return o?.status?.phase === 'Ready' ? o : undefined;
  });
}

async function secretData(namespace: string, name: string): Promise<Record<string, string>> {
  const s = await core.readNamespacedSecret({ name, namespace });
  return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

async function connect(options: { username?: string; password?: string }): Promise<Redis> {
  const client: Redis = createClient({ socket: { host: server.host, port: server.port, reconnectStrategy: false }, disableClientInfo: true, ...options });
  client.on('error', () => undefined);
  clients.push(client);
  await client.connect();
  return client;
}

const admin = () => connect({ username: server.user, password: server.password() });

/** The reply, or the server's refusal (NOPERM ..., WRONGPASS ...). */
async function attempt(client: Redis, command: string[]): Promise<unknown> {
  try {
    return await client.sendCommand(command);
  } catch (err) {
    return (err as Error).message;
  }
}

beforeAll(async () => {
  if (!process.env.KIDP_REDIS_PORT) throw new Error('KIDP_REDIS_PORT is unset: run through the e2e jest project (test/env starts Redis)');
  kubeConfig.loadFromFile(process.env.KUBECONFIG ?? '');
  custom = kubeConfig.makeApiClient(CustomObjectsApi);
  core = kubeConfig.makeApiClient(CoreV1Api);
  const bootstrap = process.env.KAFKA_BOOTSTRAP ?? '';
  for (const ns of [NS_A, NS_B, SYSTEM_NS]) await kubectlOk(['create', 'namespace', ns]);
  await core.createNamespacedSecret({ namespace: SYSTEM_NS, body: { metadata: { name: 'redis-admin' }, stringData: { username: server.user, password: server.password() } } });
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: V,
      kind: 'DeploymentTarget',
      metadata: { name: TARGET },
      spec: { provider: 'redis', environment: 'staging', server: { host: server.host, port: server.port, credentialsSecretRef: { name: 'redis-admin', namespace: SYSTEM_NS } }, broker: { identity: IDENTITY, transport: 'kafka', publicKey: brokerKeys.publicKeyPem } },
    }),
  });
  const handler = createStatusHandler({ kubeConfig, logger });
  statusConsumer = await startStatusConsumer({ kafkaBrokers: [bootstrap], kafkaTls: kafkaCertDir(), handler, logger, groupId: STATUS_GROUP });
  broker = await runReferenceBroker({
    provisioner: redisProvisioner(),
    identities: [IDENTITY],
    kafkaBrokers: [bootstrap],
    kafkaTls: kafkaCertDir(),
    platformPublicKeyPem: dispatchKeys.publicKeyPem,
    placement: { namespaces: ['rde-*'], platformNamespace: 'kidp-system' },
    targetKubeConfig: kubeConfig,
    signingKeyPem: brokerKeys.privateKeyPem,
    logger,
  });
  dispatcher = createDispatcher({ kafkaBrokers: [bootstrap], kafkaTls: kafkaCertDir(), dispatchSigningKeyPem: dispatchKeys.privateKeyPem, logger });
  await broker.joined;
  controllers = await runControllers({ kubeConfig, dispatcher, identity: `rde-${RUN}`, leaseNamespace: 'default', leaseName: `kidp-controllers-rde-${RUN}`, leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500, logger });
}, 120_000);

afterAll(async () => {
  for (const c of clients) if (c.isOpen) c.destroy();
  await controllers?.stop();
  await dispatcher?.close();
  await broker?.stop();
  await statusConsumer?.stop();
  await kubectl(['delete', 'deploymenttarget', TARGET, '--ignore-not-found']);
}, 60_000);

describe('redis provider on the real apiserver, Kafka and Redis', () => {
  let sessions: Record<string, string>;
  let carts: Record<string, string>;

  it("a Cache gets an ACL user and a Secret; with exactly the Secret's values its own prefix works", async () => {
    const ready = await readyCache(NS_A, 'sessions');
    sessions = await secretData(NS_A, 'sessions-connection');
    const user = `${NS_A}/sessions`;
    expect({ ref: ready.status?.connectionSecretRef, secret: { ...sessions, password: sessions['password']?.length } }).toEqual({
      ref: { name: 'sessions-connection', namespace: NS_A },
      secret: {
        engine: 'redis',
        host: server.host,
        port: String(server.port),
        user,
        username: user,
        password: 32,
        keyPrefix: `${user}:`,
        uri: `redis://${encodeURIComponent(user)}:${sessions['password']}@${server.host}:${server.port}`,
      },
    });
    const client = await connect({ username: sessions['user'], password: sessions['password'] });
    const key = `${sessions['keyPrefix']}cart:42`;
    await client.hSet(key, { item: 'book', qty: '2' });
    await client.expire(key, 3600);
    await client.set(`${sessions['keyPrefix']}counter`, '1');
    await client.incr(`${sessions['keyPrefix']}counter`);
    const results = await client.multi().get(`${sessions['keyPrefix']}counter`).hGetAll(key).exec();
    expect(results).toEqual(['2', { item: 'book', qty: '2' }]);
    // The uri alone works too.
    const viaUri: Redis = createClient({ url: sessions['uri'], disableClientInfo: true, socket: { reconnectStrategy: false } });
    viaUri.on('error', () => undefined);
    clients.push(viaUri);
    await viaUri.connect();
    expect(await viaUri.get(`${sessions['keyPrefix']}counter`)).toBe('2');
    // As the server holds it: the prefix and the rules, no password in clear.
    const [rules] = ((await (await admin()).sendCommand(['ACL', 'LIST'])) as string[]).filter((l) => l.startsWith(`user ${user} `));
    expect(rules).toContain(`~${user}:*`);
    expect(rules).not.toContain(sessions['password']);
  }, TEST_TIMEOUT_MS);

  it("attack: another Cache's prefix, admin commands and key listing are refused; wrong or no credentials get nothing", async () => {
    await readyCache(NS_B, 'carts');
    carts = await secretData(NS_B, 'carts-connection');
    const b = await connect({ username: carts['user'], password: carts['password'] });
    await b.set(`${carts['keyPrefix']}own`, 'mine');
    const victim = `${sessions['keyPrefix']}cart:42`;
    const got = {
      readOther: await attempt(b, ['HGETALL', victim]),
      writeOther: await attempt(b, ['SET', `${sessions['keyPrefix']}counter`, '999']),
      deleteOther: await attempt(b, ['DEL', victim]),
      renameIntoOther: await attempt(b, ['RENAME', `${carts['keyPrefix']}own`, `${sessions['keyPrefix']}stolen`]),
      copyOut: await attempt(b, ['COPY', victim, `${carts['keyPrefix']}copy`]),
      unprefixed: await attempt(b, ['SET', 'global', 'x']),
      keys: await attempt(b, ['KEYS', '*']),
      scan: await attempt(b, ['SCAN', '0']),
      randomkey: await attempt(b, ['RANDOMKEY']),
      flushall: await attempt(b, ['FLUSHALL']),
      flushdb: await attempt(b, ['FLUSHDB']),
      config: await attempt(b, ['CONFIG', 'SET', 'requirepass', 'x']),
      acl: await attempt(b, ['ACL', 'SETUSER', carts['user'] ?? '', '+@all', '~*']),
      aclList: await attempt(b, ['ACL', 'LIST']),
      clientList: await attempt(b, ['CLIENT', 'LIST']),
      monitor: await attempt(b, ['MONITOR']),
      evalScript: await attempt(b, ['EVAL', `return redis.call('GET', KEYS[1])`, '1', victim]),
      replicaof: await attempt(b, ['REPLICAOF', 'NO', 'ONE']),
      swapdb: await attempt(b, ['SWAPDB', '0', '1']),
      ownStillWorks: await attempt(b, ['GET', `${carts['keyPrefix']}own`]),
    };
    expect(got).toEqual({
      readOther: expect.stringMatching(/^NOPERM .*key/i),
      writeOther: expect.stringMatching(/^NOPERM .*key/i),
      deleteOther: expect.stringMatching(/^NOPERM .*key/i),
      renameIntoOther: expect.stringMatching(/^NOPERM .*key/i),
      copyOut: expect.stringMatching(/^NOPERM .*key/i),
      unprefixed: expect.stringMatching(/^NOPERM .*key/i),
      keys: expect.stringMatching(/^NOPERM .*'keys' command/),
      scan: expect.stringMatching(/^NOPERM .*'scan' command/),
      randomkey: expect.stringMatching(/^NOPERM .*'randomkey' command/),
      flushall: expect.stringMatching(/^NOPERM .*'flushall' command/),
      flushdb: expect.stringMatching(/^NOPERM .*'flushdb' command/),
      config: expect.stringMatching(/^NOPERM .*'config\|set' command/),
      acl: expect.stringMatching(/^NOPERM .*'acl\|setuser' command/),
      aclList: expect.stringMatching(/^NOPERM .*'acl\|list' command/),
      clientList: expect.stringMatching(/^NOPERM .*'client\|list' command/),
      monitor: expect.stringMatching(/^NOPERM .*'monitor' command/),
      evalScript: expect.stringMatching(/^NOPERM .*'eval' command/),
      replicaof: expect.stringMatching(/^NOPERM .*'replicaof' command/),
      swapdb: expect.stringMatching(/^NOPERM .*'swapdb' command/),
      ownStillWorks: 'mine',
    });
    const refusedLogin = async (options: { username?: string; password?: string }) => connect(options).then(() => 'connected', (err: Error) => err.message);
    expect({
      wrongPassword: await refusedLogin({ username: sessions['user'], password: `${sessions['password']}x` }),
      othersPassword: await refusedLogin({ username: sessions['user'], password: carts['password'] }),
      noCredentials: await refusedLogin({}),
      defaultUser: await refusedLogin({ username: 'default', password: 'anything' }),
    }).toEqual({
      wrongPassword: expect.stringMatching(/^WRONGPASS/),
      othersPassword: expect.stringMatching(/^WRONGPASS/),
      noCredentials: expect.stringMatching(/^NOAUTH/),
      defaultUser: expect.stringMatching(/^WRONGPASS/),
    });
    // Nothing of A changed.
    const a = await connect({ username: sessions['user'], password: sessions['password'] });
    expect({ counter: await a.get(`${sessions['keyPrefix']}counter`), cart: await a.hGetAll(`${sessions['keyPrefix']}cart:42`) }).toEqual({ counter: '2', cart: { item: 'book', qty: '2' } });
    // The key pattern as the server holds it: the prefix, and nothing else.
    const [line] = ((await (await admin()).sendCommand(['ACL', 'LIST'])) as string[]).filter((l) => l.startsWith(`user ${carts['user']} `));
    const keyPatterns = line?.split(' ').filter((w) => w.startsWith('~') || w === 'allkeys');
    // (The server normalises the command rules; what they allow is what the attempts above showed.)
    expect({ keyPatterns, channels: line?.includes('resetchannels'), allCommands: line?.includes('+@all') }).toEqual({ keyPatterns: [`~${carts['keyPrefix']}*`], channels: true, allCommands: false });
  }, TEST_TIMEOUT_MS);

  it('deleting the Cache removes its user (its open connections end) and its keys, and nothing of another Cache', async () => {
    const open = await connect({ username: sessions['user'], password: sessions['password'] });
    expect(await open.get(`${sessions['keyPrefix']}counter`)).toBe('2');
    await kubectlOk(['delete', 'caches.platform.kidp.io', 'sessions', '-n', NS_A, '--wait=false']);
    await until('Cache sessions gone (finalizer removed)', async () => ((await getCache(NS_A, 'sessions')) === undefined ? true : undefined));
    const a = await admin();
    const left: string[] = [];
    for await (const keys of a.scanIterator({ MATCH: `${sessions['keyPrefix']}*` })) left.push(...keys);
    expect({
      users: ((await a.sendCommand(['ACL', 'USERS'])) as string[]).filter((u) => u === sessions['user'] || u === carts['user']),
      keysLeft: left,
      login: await connect({ username: sessions['user'], password: sessions['password'] }).then(() => 'connected', (err: Error) => err.message),
      openConnection: await attempt(open, ['GET', `${sessions['keyPrefix']}counter`]),
      others: await a.get(`${carts['keyPrefix']}own`),
      secret: await core.readNamespacedSecret({ name: 'sessions-connection', namespace: NS_A }).then(() => 'exists', () => 'gone'),
    }).toEqual({
      users: [carts['user']],
      keysLeft: [],
      login: expect.stringMatching(/^WRONGPASS/),
      openConnection: expect.stringMatching(/closed|Socket|not open/i),
      others: 'mine',
      secret: 'gone',
    });
  }, TEST_TIMEOUT_MS);
});
