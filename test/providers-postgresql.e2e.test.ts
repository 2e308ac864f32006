// The `postgresql` provider end to end (issue 15 item 1) on the real apiserver, the real
// Kafka and the real PostgreSQL server test/env starts (Debian's package): Databases go
// through the real controllers (runControllers), the signed Kafka dispatcher, the broker
// runtime with the postgresql Provisioner, and the status consumer. The tests then connect
// to the server with exactly what the connection Secret says (node `pg`). No admission
// webhook runs here, so manifests set what it would default (spec.environment).
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import pg from 'pg';
import pino from 'pino';
import { kubectl, kubectlOk } from './kubectl.js';
import { kafkaCertDir } from './kafka-env.js';
import {
  BackupScheduler,
  BrokerMetrics,
  restoreDump,
  PROTOCOL_VERSION,
  createDispatcher,
  createStatusHandler,
  generateBrokerKeyPair,
  postgresqlProvisioner,
  runReferenceBroker,
  startStatusConsumer,
  type BrokerDispatcher,
  type DeploymentRequest,
  type ProvisionOutcome,
  type Provisioner,
  type RunningReferenceBroker,
} from '../brokers/index.js';
import { runControllers, type RunningControllers } from '../controllers/index.js';
import { poll } from './until.js';

const RUN = `${Date.now().toString(36)}${randomUUID().slice(0, 4)}`;
const V = 'platform.kidp.io/v1alpha1';
const NS_A = `pge-a-${RUN}`;
const NS_B = `pge-b-${RUN}`;
const SYSTEM_NS = `pge-system-${RUN}`;
const TARGET = `pge-${RUN}`;
/** Fixed across runs so the consumer groups resume at their offsets on a long-lived environment. */
const IDENTITY = 'kidp-postgresql-e2e';
const STATUS_GROUP = 'kidp-status-postgresql-e2e';
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
const metrics = new BrokerMetrics();
const backupDir = mkdtempSync(join(tmpdir(), 'kidp-pg-backups-'));
const backups = new BackupScheduler({ dir: backupDir, logger });

const server = {
  host: process.env.KIDP_POSTGRES_HOST ?? '127.0.0.1',
  port: Number(process.env.KIDP_POSTGRES_PORT),
  user: process.env.KIDP_POSTGRES_ADMIN_USER ?? 'kidp_admin',
  password: () => readFileSync(process.env.KIDP_POSTGRES_ADMIN_PASSWORD_FILE ?? '', 'utf8').trim(),
};

/** What the real provisioner answered, per request id: how the tests see a re-send was a no-op. */
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
    ...(real.resume ? { resume: real.resume.bind(real) } : {}),
    close: () => real.close(),
  };
}

type Obj = { metadata: { name: string; namespace: string; uid: string; generation: number; labels?: Record<string, string> }; spec: Record<string, unknown>; status?: { phase?: string; connectionSecretRef?: { name: string; namespace: string }; conditions?: Array<{ type: string; status: string; reason: string; message: string }> } };

const until = async <T,>(what: string, probe: () => Promise<T | undefined>, timeoutMs = STEP_TIMEOUT_MS): Promise<T> => (await poll(what, probe, { timeoutMs, intervalMs: 200 })).value;

async function getDb(namespace: string, name: string): Promise<Obj | undefined> {
  try {
    return (await custom.getNamespacedCustomObject({ group: 'platform.kidp.io', version: 'v1alpha1', namespace, plural: 'databases', name })) as Obj;
  } catch {
    return undefined;
  }
}

async function applyDb(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: V, kind: 'Database', metadata: { name, namespace }, spec: { owner: { kind: 'Team', name: namespace }, environment: 'staging', target: TARGET, engine: 'postgresql', version: '15', ...spec } }),
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

/** One query as the operator (the test's view of the server). */
async function asAdmin<T extends pg.QueryResultRow>(sql: string, params: unknown[] = [], database = 'postgres'): Promise<T[]> {
  const client = new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password(), database });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Connects with exactly the Secret's values. */
async function connectWith(c: Record<string, string>, overrides: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const client = new pg.Client({ host: c['host'], port: Number(c['port']), user: c['user'], password: c['password'], database: c['database'], connectionTimeoutMillis: 5_000, ...overrides });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    // A refused client may leave its socket open mid-authentication (pg refuses an empty
    // password only on its side), and the server then waits for it before a DROP DATABASE.
    await client.end().catch(() => undefined);
    throw err;
  }
  return client;
}

async function refusal(connect: () => Promise<pg.Client>): Promise<string> {
  try {
    const client = await connect();
    await client.end();
    return 'connected';
  } catch (err) {
    return (err as Error).message;
  }
}

function condition(obj: Obj | undefined, type: string) {
  const c = obj?.status?.conditions?.find((x) => x.type === type);
  return c ? { status: c.status, reason: c.reason, message: c.message } : undefined;
}

beforeAll(async () => {
  if (!process.env.KIDP_POSTGRES_PORT) throw new Error('KIDP_POSTGRES_PORT is unset: run through the e2e jest project (test/env starts PostgreSQL)');
  kubeConfig.loadFromFile(process.env.KUBECONFIG ?? '');
  custom = kubeConfig.makeApiClient(CustomObjectsApi);
  core = kubeConfig.makeApiClient(CoreV1Api);
  const bootstrap = process.env.KAFKA_BOOTSTRAP ?? '';
  for (const ns of [NS_A, NS_B, SYSTEM_NS]) await kubectlOk(['create', 'namespace', ns]);
  // The operator credentials, as a platform admin stores them for the DeploymentTarget.
  await core.createNamespacedSecret({ namespace: SYSTEM_NS, body: { metadata: { name: 'postgres-admin' }, stringData: { username: server.user, password: server.password() } } });
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: V,
      kind: 'DeploymentTarget',
      metadata: { name: TARGET },
      spec: {
        provider: 'postgresql',
        environment: 'staging',
        server: { host: server.host, port: server.port, credentialsSecretRef: { name: 'postgres-admin', namespace: SYSTEM_NS }, extensions: ['pg_trgm', 'citext'] },
        broker: { identity: IDENTITY, transport: 'kafka', publicKey: brokerKeys.publicKeyPem },
      },
    }),
  });
  const handler = createStatusHandler({ kubeConfig, logger });
  statusConsumer = await startStatusConsumer({ kafkaBrokers: [bootstrap], kafkaTls: kafkaCertDir(), handler, logger, groupId: STATUS_GROUP });
  broker = await startBroker(backups);
  dispatcher = createDispatcher({ kafkaBrokers: [bootstrap], kafkaTls: kafkaCertDir(), dispatchSigningKeyPem: dispatchKeys.privateKeyPem, logger });
  await broker.joined;
  controllers = await runControllers({ kubeConfig, dispatcher, identity: `pge-${RUN}`, leaseNamespace: 'default', leaseName: `kidp-controllers-pge-${RUN}`, leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500, logger });
}, 120_000);

/** The broker under test; a restart is a new one with a new scheduler, as a new process would have. */
function startBroker(scheduler: BackupScheduler): Promise<RunningReferenceBroker> {
  const bootstrap = process.env.KAFKA_BOOTSTRAP ?? '';
  return runReferenceBroker({
    provisioner: recording(postgresqlProvisioner({ backups: scheduler })),
    metrics,
    identities: [IDENTITY],
    kafkaBrokers: [bootstrap],
    kafkaTls: kafkaCertDir(),
    platformPublicKeyPem: dispatchKeys.publicKeyPem,
    // Connection Secrets land in each team's own namespace (the target names none).
    placement: { namespaces: ['pge-*'], platformNamespace: 'kidp-system' },
    targetKubeConfig: kubeConfig,
    signingKeyPem: brokerKeys.privateKeyPem,
    logger,
  });
}

afterAll(async () => {
  await controllers?.stop();
  await dispatcher?.close();
  await broker?.stop();
  await statusConsumer?.stop();
  await kubectl(['delete', 'deploymenttarget', TARGET, '--ignore-not-found']);
  rmSync(backupDir, { recursive: true, force: true });
}, 60_000);

describe('postgresql provider on the real apiserver, Kafka and PostgreSQL', () => {
  let orders: Record<string, string>;

  it('a Database becomes a database and login role; the Secret holds host, port, database, user, password and uri, and exactly those connect, write and read back', async () => {
    await applyDb(NS_A, 'orders', { connectionLimit: 5, extensions: ['pg_trgm'] });
    const ready = await phase(NS_A, 'orders', 'Ready');
    const name = `kidp_${NS_A.replace(/-/g, '_')}_orders`;
    expect({ ref: ready.status?.connectionSecretRef, Ready: condition(ready, 'Ready')?.status, Deployed: condition(ready, 'Deployed') }).toEqual({
      ref: { name: 'orders-connection', namespace: NS_A },
      Ready: 'True',
      Deployed: {
        status: 'True',
        reason: 'DatabaseProvisioned',
        message: `database ${name} and login role ${name} on ${server.host}:${server.port} (connection limit 5; extensions pg_trgm); only that role may connect (broker ${IDENTITY} on target ${TARGET}, request ${ready.metadata.uid}-1)`,
      },
    });
    // Usage (issue 15 item 6): the shared class, the database's size as the server reports it, hours since the Secret was made.
    const bytes = Number((await asAdmin<{ b: string }>('SELECT pg_database_size($1)::text AS b', [name]))[0]?.b);
    const sizeGiB = Math.round((bytes / 2 ** 30) * 1e4) / 1e4;
    const usage = (ready.status as { usage?: { priceClass: string; sizeGiB: number; hours: number; hourlyRate: number; cost: number } }).usage;
    expect({ ...usage, hoursSmall: (usage?.hours ?? -1) >= 0 && (usage?.hours ?? 1) < 0.1 }).toEqual({
      priceClass: 'postgresql-shared',
      sizeGiB,
      hours: usage?.hours,
      hourlyRate: Math.round((0.005 + 0.0002 * sizeGiB) * 1e6) / 1e6,
      cost: Math.round((usage?.hours ?? 0) * (usage?.hourlyRate ?? 0) * 1e6) / 1e6,
      hoursSmall: true,
    });
    orders = await secretData(NS_A, 'orders-connection');
    expect({ ...orders, password: orders['password']?.length }).toEqual({
      engine: 'postgresql',
      host: server.host,
      port: String(server.port),
      database: name,
      user: name,
      username: name,
      password: 32,
      uri: `postgresql://${name}:${orders['password']}@${server.host}:${server.port}/${name}`,
    });
    const client = await connectWith(orders);
    await client.query('CREATE TABLE payments (id serial PRIMARY KEY, amount_cents integer NOT NULL, note text)');
    await client.query('INSERT INTO payments (amount_cents, note) VALUES ($1, $2), ($3, $4)', [1250, 'first', 990, 'second']);
    const rows = (await client.query('SELECT amount_cents, note FROM payments ORDER BY id')).rows;
    const trgm = (await client.query("SELECT similarity('kidp', 'kidp') AS s")).rows[0] as { s: number };
    await client.end();
    expect({ rows, trgm: trgm.s }).toEqual({ rows: [{ amount_cents: 1250, note: 'first' }, { amount_cents: 990, note: 'second' }], trgm: 1 });
    // The uri alone works too.
    const viaUri = new pg.Client({ connectionString: orders['uri'] });
    await viaUri.connect();
    expect((await viaUri.query('SELECT count(*)::int AS n FROM payments')).rows).toEqual([{ n: 2 }]);
    await viaUri.end();
    // As the server sees it: the role's attributes, the database's owner and who may connect.
    expect(
      await asAdmin(
        `SELECT r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication, r.rolbypassrls, r.rolconnlimit, pg_get_userbyid(d.datdba) AS owner,
                has_database_privilege('public', d.datname, 'CONNECT') AS public_connect
           FROM pg_roles r, pg_database d WHERE r.rolname = $1 AND d.datname = $1`,
        [name],
      ),
    ).toEqual([{ rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolreplication: false, rolbypassrls: false, rolconnlimit: 5, owner: name, public_connect: false }]);
  }, TEST_TIMEOUT_MS);

  it("attack: another team's Database credentials cannot connect to or read this database; nor can a wrong password or the other role's own database see it", async () => {
    await applyDb(NS_B, 'ledger', {});
    await phase(NS_B, 'ledger', 'Ready');
    const ledger = await secretData(NS_B, 'ledger-connection');
    // B's own database works for B.
    const own = await connectWith(ledger);
    expect((await own.query('SELECT current_database() AS db')).rows).toEqual([{ db: ledger['database'] }]);
    // From inside its own database, A's table does not exist for B (databases do not share tables).
    expect(await own.query('SELECT * FROM payments').then(() => 'read', (err: Error) => err.message)).toBe('relation "payments" does not exist');
    await own.end();
    expect({
      otherTeamsRole: await refusal(() => connectWith({ ...ledger, database: orders['database'] ?? '' })),
      wrongPassword: await refusal(() => connectWith({ ...orders, password: `${orders['password']}x` })),
      noPassword: await refusal(() => connectWith({ ...orders, password: '' })),
      othersUri: await refusal(async () => {
        const c = new pg.Client({ connectionString: (ledger['uri'] ?? '').replace(/\/[^/]+$/, `/${orders['database']}`), connectionTimeoutMillis: 5_000 });
        await c.connect();
        return c;
      }),
    }).toEqual({
      otherTeamsRole: `permission denied for database "${orders['database']}"`,
      wrongPassword: `password authentication failed for user "${orders['user']}"`,
      noPassword: expect.stringMatching(/password|SASL/),
      othersUri: `permission denied for database "${orders['database']}"`,
    });
    // Nothing changed for A.
    const client = await connectWith(orders);
    expect((await client.query('SELECT count(*)::int AS n FROM payments')).rows).toEqual([{ n: 2 }]);
    await client.end();
  }, TEST_TIMEOUT_MS);

  it('a re-sent request (the same id, signed, over Kafka) is a no-op: same password, same database, data intact', async () => {
    const db = (await getDb(NS_A, 'orders')) as Obj;
    const before = await asAdmin<{ oid: number }>('SELECT oid FROM pg_database WHERE datname = $1', [orders['database']]);
    const secretBefore = await core.readNamespacedSecret({ name: 'orders-connection', namespace: NS_A });
    const requestId = `${db.metadata.uid}-${db.metadata.generation}`;
    expect((outcomes.get(requestId) as ProvisionOutcome | undefined)?.reason).toBe('DatabaseProvisioned');
    outcomes.delete(requestId);
    const request: DeploymentRequest = {
      apiVersion: PROTOCOL_VERSION,
      kind: 'DeploymentRequest',
      requestId,
      action: 'deploy',
      target: { name: TARGET, identity: IDENTITY, provider: 'postgresql', environment: 'staging' },
      resource: { kind: 'Database', namespace: NS_A, name: 'orders', uid: db.metadata.uid, generation: db.metadata.generation, labels: db.metadata.labels ?? {}, spec: db.spec },
      issuedAt: new Date().toISOString(),
    };
    await dispatcher.dispatch(request, { transport: 'kafka' });
    const again = await until('the re-sent request handled', async () => outcomes.get(requestId));
    expect(again).toEqual({ reason: 'AlreadyApplied', message: `request ${requestId} was applied already: database ${orders['database']} and role ${orders['user']} unchanged`, connection: orders, usage: { priceClass: 'postgresql-shared', sizeGiB: expect.any(Number) as unknown as number } });
    const secretAfter = await core.readNamespacedSecret({ name: 'orders-connection', namespace: NS_A });
    expect({
      oid: await asAdmin('SELECT oid FROM pg_database WHERE datname = $1', [orders['database']]),
      secretResourceVersion: secretAfter.metadata?.resourceVersion,
      phase: (await getDb(NS_A, 'orders'))?.status?.phase,
    }).toEqual({ oid: before, secretResourceVersion: secretBefore.metadata?.resourceVersion, phase: 'Ready' });
    const client = await connectWith(orders);
    expect((await client.query('SELECT count(*)::int AS n FROM payments')).rows).toEqual([{ n: 2 }]);
    await client.end();
  }, TEST_TIMEOUT_MS);

  it('spec the server cannot meet fails for good, with the reason: another major version, an extension off the allow-list', async () => {
    await applyDb(NS_A, 'too-new', { version: '16' });
    await applyDb(NS_A, 'untrusted', { extensions: ['plpython3u'] });
    const tooNew = await phase(NS_A, 'too-new', 'Failed');
    const untrusted = await phase(NS_A, 'untrusted', 'Failed');
    const serverVersion = (await asAdmin<{ v: string }>("SELECT current_setting('server_version') AS v"))[0]?.v.split(' ')[0];
    expect({ tooNew: condition(tooNew, 'Deployed')?.message, untrusted: condition(untrusted, 'Deployed')?.message }).toEqual({
      tooNew: expect.stringContaining(`spec.version 16 does not match the server's PostgreSQL ${serverVersion}: this target serves major version 15 only`),
      untrusted: expect.stringContaining("spec.extensions: plpython3u is not on this DeploymentTarget's allow-list (pg_trgm, citext)"),
    });
    expect(await asAdmin('SELECT datname FROM pg_database WHERE datname = ANY($1)', [[`kidp_${NS_A.replace(/-/g, '_')}_too_new`, `kidp_${NS_A.replace(/-/g, '_')}_untrusted`]])).toEqual([]);
  }, TEST_TIMEOUT_MS);

  it('attack: hostile names and extensions are refused by the schema at the apiserver, and by the broker when a signed request carries them; the server is unchanged', async () => {
    // Through the apiserver: the CRD's pattern refuses the value before anything is stored.
    const viaApi = await kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: V, kind: 'Database', metadata: { name: 'inject', namespace: NS_A }, spec: { owner: { kind: 'Team', name: NS_A }, environment: 'staging', target: TARGET, engine: 'postgresql', version: '15', extensions: ['pg_trgm"; DROP ROLE kidp_admin; --'] } }),
    });
    expect({ code: viaApi.code, stored: await getDb(NS_A, 'inject') }).toEqual({ code: 1, stored: undefined });
    expect(viaApi.stderr).toContain('spec.extensions[0]');
    // A request signed with the dispatch key (as a leaked key could sign it) for a real Database.
    await applyDb(NS_A, 'target-of-forgery', {});
    const victim = await phase(NS_A, 'target-of-forgery', 'Ready');
    const rolesBefore = await asAdmin<{ rolname: string }>('SELECT rolname FROM pg_roles ORDER BY rolname');
    const dbsBefore = await asAdmin<{ datname: string }>('SELECT datname FROM pg_database ORDER BY datname');
    const forged = (id: string, name: string, spec: Record<string, unknown>): DeploymentRequest => ({
      apiVersion: PROTOCOL_VERSION,
      kind: 'DeploymentRequest',
      requestId: id,
      action: 'deploy',
      target: { name: TARGET, identity: IDENTITY, provider: 'postgresql', environment: 'staging' },
      resource: { kind: 'Database', namespace: NS_A, name, uid: victim.metadata.uid, generation: victim.metadata.generation, labels: {}, spec: { ...victim.spec, ...spec } },
      issuedAt: new Date().toISOString(),
    });
    const attempts = [
      forged(`${victim.metadata.uid}-1-retry7`, 'target-of-forgery', { extensions: ['pg_trgm"; DROP ROLE kidp_admin; --'] }),
      forged(`${victim.metadata.uid}-1-retry8`, 'target-of-forgery', { extensions: ["citext' OR '1'='1"] }),
      forged(`${victim.metadata.uid}-1-retry9`, 'target-of-forgery', { version: "15'; DROP DATABASE postgres; --" }),
      forged(`${victim.metadata.uid}-1-retry10`, 'x"; DROP ROLE kidp_admin; --', {}),
    ];
    const expected = [
      'refused: spec.extensions: "pg_trgm\\"; DROP ROLE kidp_admin; --" is not an extension name',
      'refused: spec.extensions: "citext\' OR \'1\'=\'1" is not an extension name',
      'refused: spec.version "15\'; DROP DATABASE postgres; --" is not a PostgreSQL version (15, 15.4)',
    ];
    // One at a time: each one's refusal is what the victim's status then says.
    for (const [i, request] of attempts.slice(0, 3).entries()) {
      await dispatcher.dispatch(request, { transport: 'kafka' });
      const failed = await until(`forged request ${request.requestId} refused`, async () => {
        const o = await getDb(NS_A, 'target-of-forgery');
        return o?.status?.phase === 'Failed' && condition(o, 'Deployed')?.message.includes(request.requestId) ? o : undefined;
      });
      expect(condition(failed, 'Deployed')?.message).toContain(expected[i]);
    }
    // A hostile object name is refused by the runtime's confinement before any provider sees
    // it (no object of that name exists to carry the status, so the refusal is counted).
    const refusedCount = async () => Number(/kidp_broker_call_errors_total\{call="broker_apply",transport="Database",kind="refused"\} (\d+)/.exec(await metrics.registry.metrics())?.[1] ?? 0);
    const before = await refusedCount();
    const hostileName = attempts[3] as DeploymentRequest;
    await dispatcher.dispatch(hostileName, { transport: 'kafka' });
    await until('the hostile name refused', async () => ((await refusedCount()) > before ? true : undefined));
    expect(outcomes.has(hostileName.requestId)).toBe(false);
    const rolesAfter = await asAdmin<{ rolname: string }>('SELECT rolname FROM pg_roles ORDER BY rolname');
    const dbsAfter = await asAdmin<{ datname: string }>('SELECT datname FROM pg_database ORDER BY datname');
    const added = (after: Array<Record<string, string>>, before: Array<Record<string, string>>, key: string) => after.map((r) => r[key]).filter((n) => !before.some((b) => b[key] === n));
    expect({
      adminStillThere: rolesAfter.some((r) => r.rolname === server.user),
      postgresStillThere: dbsAfter.some((d) => d.datname === 'postgres'),
      rolesRemoved: rolesBefore.filter((b) => !rolesAfter.some((a) => a.rolname === b.rolname)),
      databasesRemoved: dbsBefore.filter((b) => !dbsAfter.some((a) => a.datname === b.datname)),
      added: [...added(rolesAfter, rolesBefore, 'rolname'), ...added(dbsAfter, dbsBefore, 'datname')],
    }).toEqual({ adminStillThere: true, postgresStillThere: true, rolesRemoved: [], databasesRemoved: [], added: [] });
  }, TEST_TIMEOUT_MS);

  it('spec.backup: the broker runs pg_dump on the schedule and reports the last backup in status; the dump restores into a fresh database', async () => {
    await applyDb(NS_A, 'backed-up', { backup: { enabled: true, schedule: '* * * * *', retentionDays: 3 } });
    await phase(NS_A, 'backed-up', 'Ready');
    const c = await secretData(NS_A, 'backed-up-connection');
    const client = await connectWith(c);
    await client.query('CREATE TABLE invoices (id integer PRIMARY KEY, total_cents integer NOT NULL)');
    await client.query('INSERT INTO invoices VALUES (1, 100), (2, 250)');
    const written = Date.now();
    // Every minute on the minute: the first backup that started after the rows were written.
    const backedUp = await until(
      'a backup reported after the rows were written',
      async () => {
        const o = (await getDb(NS_A, 'backed-up')) as (Obj & { status?: { backup?: { lastBackupTime: string; location: string } } }) | undefined;
        const b = o?.status?.backup;
        return b && Date.parse(b.lastBackupTime) > written ? { ...b, ready: condition(o, 'Ready') } : undefined;
      },
      80_000,
    );
    expect({ location: backedUp.location.startsWith(join(backupDir, c['database'] ?? '')), exists: existsSync(backedUp.location), ready: backedUp.ready?.message }).toEqual({
      location: true,
      exists: true,
      ready: expect.stringContaining(`backups * * * * * UTC, kept 3 days); only that role may connect; last backup ${backedUp.lastBackupTime}`),
    });
    // Written after the backup: not in the dump.
    await client.query('INSERT INTO invoices VALUES (3, 999)');
    await client.end();
    const fresh = `kidp_restore_${RUN}`;
    await asAdmin(`CREATE DATABASE ${fresh}`);
    try {
      await restoreDump({ server: { host: server.host, port: server.port, user: server.user, password: server.password() }, database: fresh, file: backedUp.location });
      expect(await asAdmin('SELECT id, total_cents FROM invoices ORDER BY id', [], fresh)).toEqual([{ id: 1, total_cents: 100 }, { id: 2, total_cents: 250 }]);
    } finally {
      await asAdmin(`DROP DATABASE ${fresh} WITH (FORCE)`);
    }
  }, 150_000);

  it('a restarted broker resumes the backup schedule with no request: a scheduled time missed while it was down is caught up at once, from the last backup in status', async () => {
    const before = (await getDb(NS_A, 'backed-up')) as Obj & { status?: { backup?: { lastBackupTime: string } } };
    const last = Date.parse(before.status?.backup?.lastBackupTime ?? '');
    await broker.stop();
    // Down over the next scheduled minute after the last backup (the schedule is every minute).
    const missed = (Math.floor(last / 60_000) + 1) * 60_000;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, missed - Date.now()) + 2_000));
    const requestsBefore = outcomes.size;
    const restartedAt = Date.now();
    broker = await startBroker(new BackupScheduler({ dir: backupDir, logger }));
    await broker.joined;
    const resumed = await until(
      'a backup reported by the restarted broker',
      async () => {
        const o = (await getDb(NS_A, 'backed-up')) as (Obj & { status?: { backup?: { lastBackupTime: string; location: string } } }) | undefined;
        const b = o?.status?.backup;
        return b && Date.parse(b.lastBackupTime) > last ? { ...b, ready: condition(o, 'Ready')?.message } : undefined;
      },
      30_000,
    );
    const at = Date.parse(resumed.lastBackupTime);
    expect({
      // Taken at the restart (catch-up), not at a later scheduled minute.
      caughtUp: at >= restartedAt && at - restartedAt < 10_000,
      notOnTheMinute: at % 60_000 > 1_000,
      exists: existsSync(resumed.location),
      message: resumed.ready,
      // Nothing was requested: the restart resumed the schedule from the Database as the apiserver holds it.
      requests: outcomes.size - requestsBefore,
    }).toEqual({ caughtUp: true, notOnTheMinute: true, exists: true, message: expect.stringContaining(`resumed after a broker restart); only that role may connect; last backup ${resumed.lastBackupTime}`), requests: 0 });
  }, 150_000);

  it('deleting the Database drops the role and the database after the finalizer, and removes the Secret', async () => {
    const database = orders['database'] ?? '';
    await kubectlOk(['delete', 'databases.platform.kidp.io', 'orders', '-n', NS_A, '--wait=false']);
    await until('Database orders gone (finalizer removed)', async () => ((await getDb(NS_A, 'orders')) === undefined ? true : undefined));
    expect({
      database: await asAdmin('SELECT datname FROM pg_database WHERE datname = $1', [database]),
      role: await asAdmin('SELECT rolname FROM pg_roles WHERE rolname = $1', [database]),
      secret: await core.readNamespacedSecret({ name: 'orders-connection', namespace: NS_A }).then(() => 'exists', () => 'gone'),
      login: await refusal(() => connectWith(orders)),
    }).toEqual({ database: [], role: [], secret: 'gone', login: `password authentication failed for user "${database}"` });
  }, TEST_TIMEOUT_MS);
});
