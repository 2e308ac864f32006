// The `postgresql` provider (issue 15 item 1): a Database becomes a database and a login
// role of the same name on the shared server the DeploymentTarget names (spec.server),
// created with the operator credentials of the Secret it references.
//
// Isolation: the role owns only its database, has no other attribute (no superuser,
// createdb, createrole, replication, bypassrls), and CONNECT on the database is revoked from
// PUBLIC, so another tenant's role can neither connect to nor read it. The operator is made
// a member of each role it creates (PostgreSQL 15 needs that to hand a database to a role
// and to drop it later), never the other way round.
//
// Ownership and idempotency: the database and the role carry a COMMENT with the resource
// uid and the request id that last completed. A database or role of that name made for
// another uid (or outside KIDP) is never adopted; a request whose id is already recorded is
// a no-op. The password lives in the connection Secret and is re-used on every re-apply.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { DeploymentRequest } from '../contract.js';
import { DeployFailedError } from '../errors.js';
import type { ProvisionContext, ProvisionOutcome, Provisioner, TargetServer } from '../provisioner.js';
import type { BackupScheduler } from './backup.js';
import { PlanRefusal, connectionUri, planDatabase, versionRefusal, type DatabasePlan } from './plan.js';

// pg is loaded on first use: everything importing brokers/ (the controllers) need not load it.
let pgModule: typeof pg | undefined;
async function loadPg(): Promise<typeof pg> {
  pgModule ??= (await import('pg')).default;
  return pgModule;
}
/** pg's quoting; every statement runs on a connection, so pg is loaded by then. */
function loaded(): typeof pg {
  if (!pgModule) throw new Error('pg is not loaded yet');
  return pgModule;
}
const ident = (name: string): string => loaded().escapeIdentifier(name);
const literal = (value: string): string => loaded().escapeLiteral(value);

/** 24 random bytes, base64url: 192 bits, nothing that needs quoting in a URI or SQL. */
const PASSWORD_BYTES = 24;
/** A server that does not answer a connection in this long is down: a transient failure. */
const CONNECT_TIMEOUT_MS = 10_000;
/**
 * A statement still running after this long is given up as a transient failure (retried by
 * the controllers), so one stuck DROP DATABASE (waiting for a client half-way through
 * authentication, say) cannot hold the resource's lane for good.
 */
const STATEMENT_TIMEOUT_MS = 30_000;
/** SQLSTATE classes that will fail the same way again: privileges, invalid names, syntax. */
/** 57014 (query_canceled, the statement timeout) is not among them. */
const PERMANENT_SQLSTATE = /^(42|28|3D|0A)/;

interface OwnerRecord {
  managedBy: 'kidp';
  uid: string;
  source: string;
  requestId?: string;
}

function parseRecord(comment: string | null | undefined): OwnerRecord | undefined {
  if (!comment) return undefined;
  try {
    const value = JSON.parse(comment) as Partial<OwnerRecord>;
    return value.managedBy === 'kidp' && typeof value.uid === 'string' ? (value as OwnerRecord) : undefined;
  } catch {
    return undefined;
  }
}

export interface ServerCredentials {
  host: string;
  port: number;
  user: string;
  password: string;
}

export interface PostgresqlProvisionerOptions {
  /** Runs the spec.backup schedules (backup.ts); without it a Database asking for backups fails for good. */
  backups?: BackupScheduler;
}

function fail(request: DeploymentRequest, what: string, err: unknown): DeployFailedError {
  if (err instanceof DeployFailedError) return err;
  const sqlstate = (err as { code?: unknown }).code;
  const permanent = err instanceof PlanRefusal || (typeof sqlstate === 'string' && PERMANENT_SQLSTATE.test(sqlstate));
  // The server's message never holds the password: it is sent as a literal only in
  // CREATE/ALTER ROLE, whose errors name the role, not the statement.
  return new DeployFailedError(request.requestId, `${what}: ${(err as Error).message}`, permanent, { cause: err });
}

async function credentials(request: DeploymentRequest, context: ProvisionContext): Promise<ServerCredentials> {
  const server: TargetServer | undefined = context.target.server;
  if (!server) throw new DeployFailedError(request.requestId, `DeploymentTarget ${context.target.name} has no spec.server: the postgresql provider needs the server to provision into`, true);
  const secret = await context.readSecret(server.credentialsSecretRef);
  const user = secret['username'];
  const password = secret['password'];
  if (!user || !password) {
    throw new DeployFailedError(request.requestId, `Secret ${server.credentialsSecretRef.namespace}/${server.credentialsSecretRef.name} (spec.server.credentialsSecretRef of ${context.target.name}) needs keys username and password`, true);
  }
  return { host: server.host, port: server.port, user, password };
}

async function connect(server: ServerCredentials, database = 'postgres'): Promise<pg.Client> {
  const { Client } = await loadPg();
  const client = new Client({ host: server.host, port: server.port, user: server.user, password: server.password, database, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, statement_timeout: STATEMENT_TIMEOUT_MS, application_name: 'kidp-broker-postgresql' });
  await client.connect();
  // A failed query must not leave an unhandled 'error' event behind.
  client.on('error', () => undefined);
  return client;
}

async function withClient<T>(server: ServerCredentials, database: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(server, database);
  try {
    return await run(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

interface Found {
  database?: { record: OwnerRecord | undefined };
  role?: { record: OwnerRecord | undefined };
  serverVersionNum: number;
}

async function inspect(client: pg.Client, plan: DatabasePlan): Promise<Found> {
  const version = await client.query<{ v: string }>('SELECT current_setting($1) AS v', ['server_version_num']);
  const db = await client.query<{ c: string | null }>("SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = $1", [plan.database]);
  const role = await client.query<{ c: string | null }>("SELECT shobj_description(oid, 'pg_authid') AS c FROM pg_roles WHERE rolname = $1", [plan.role]);
  return {
    serverVersionNum: Number(version.rows[0]?.v ?? 0),
    ...(db.rows[0] ? { database: { record: parseRecord(db.rows[0].c) } } : {}),
    ...(role.rows[0] ? { role: { record: parseRecord(role.rows[0].c) } } : {}),
  };
}

function ownershipRefusal(request: DeploymentRequest, what: string, name: string, found: { record: OwnerRecord | undefined } | undefined): void {
  if (!found || found.record?.uid === request.resource.uid) return;
  throw new DeployFailedError(
    request.requestId,
    `${what} ${name} already exists on the server and belongs to ${found.record ? `${found.record.source} (uid ${found.record.uid})` : 'something outside KIDP'}; it is not adopted`,
    true,
  );
}

/** The price class of a database on a shared server (brokers/usage.ts). */
export const POSTGRESQL_PRICE_CLASS = 'postgresql-shared';

/** Its usage measure: the shared class and the database's size on disk (pg_database_size). Its start is the connection Secret's creation. */
async function usageOf(server: ServerCredentials, database: string): Promise<ProvisionOutcome['usage']> {
  const bytes = await withClient(server, 'postgres', async (client) => (await client.query<{ b: string }>('SELECT pg_database_size($1)::text AS b', [database])).rows[0]?.b);
  return { priceClass: POSTGRESQL_PRICE_CLASS, sizeGiB: Number(bytes ?? 0) / 2 ** 30 };
}

export function postgresqlProvisioner(options: PostgresqlProvisionerOptions = {}): Provisioner {
  /** Schedules (or clears) the Database's backups; each one is reported with the provision outcome's words. */
  const scheduleBackups = (request: DeploymentRequest, context: ProvisionContext, plan: DatabasePlan, server: ServerCredentials, done: ProvisionOutcome, resumed?: { lastBackupTime?: string }): Promise<string | undefined> => {
    const backups = options.backups;
    if (!backups) return Promise.resolve(undefined);
    const backup = plan.backup;
    return backups.set(
      request.resource.uid,
      backup && {
        database: plan.database,
        server,
        schedule: backup.schedule,
        retentionDays: backup.retentionDays,
        report: (b) => context.reportLater({ key: `backup-${b.lastBackupTime}`, reason: done.reason, message: `${done.message}; last backup ${b.lastBackupTime}`, outputs: { backup: b } }),
      },
      resumed,
    );
  };
  return {
    provider: 'postgresql',
    kinds: ['Database'],

    async provision(request, context): Promise<ProvisionOutcome> {
      const server = await credentials(request, context);
      let plan: DatabasePlan;
      try {
        plan = planDatabase(request, context.target.server as TargetServer);
      } catch (err) {
        throw fail(request, 'refused', err);
      }
      const record: OwnerRecord = { managedBy: 'kidp', uid: request.resource.uid, source: `Database/${request.resource.namespace}/${request.resource.name}`, requestId: request.requestId };
      const password = context.connection?.['password'] || randomBytes(PASSWORD_BYTES).toString('base64url');
      const connection = {
        engine: 'postgresql',
        host: server.host,
        port: String(server.port),
        database: plan.database,
        user: plan.role,
        // The key the reference broker's Secrets use, so one env mapping fits both.
        username: plan.role,
        password,
        uri: connectionUri({ host: server.host, port: server.port, user: plan.role, password, database: plan.database }),
      };
      if (plan.backup && !options.backups) throw new DeployFailedError(request.requestId, 'spec.backup.enabled: this broker runs no backups (kidp broker run --backup-dir)', true);
      let outcome: ProvisionOutcome | undefined;
      try {
        outcome = await withClient(server, 'postgres', async (client) => {
          const found = await inspect(client, plan);
          const tooOld = versionRefusal(plan.version, found.serverVersionNum);
          if (tooOld) throw new DeployFailedError(request.requestId, tooOld, true);
          ownershipRefusal(request, 'database', plan.database, found.database);
          ownershipRefusal(request, 'role', plan.role, found.role);
          // Done before, and the Secret still holds the password: nothing to do.
          if (found.database?.record?.requestId === request.requestId && found.role?.record?.requestId === request.requestId && context.connection?.['password']) {
            return { reason: 'AlreadyApplied', message: `request ${request.requestId} was applied already: database ${plan.database} and role ${plan.role} unchanged`, connection };
          }
          const attributes = `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT ${plan.connectionLimit ?? -1} PASSWORD ${literal(password)}`;
          await client.query(found.role ? `ALTER ROLE ${ident(plan.role)} ${attributes}` : `CREATE ROLE ${ident(plan.role)} ${attributes}`);
          await client.query(`GRANT ${ident(plan.role)} TO ${ident(server.user)}`);
          if (!found.database) await client.query(`CREATE DATABASE ${ident(plan.database)} OWNER ${ident(plan.role)}`);
          else await client.query(`ALTER DATABASE ${ident(plan.database)} OWNER TO ${ident(plan.role)}`);
          await client.query(`REVOKE ALL ON DATABASE ${ident(plan.database)} FROM PUBLIC`);
          await client.query(`GRANT CONNECT, TEMPORARY ON DATABASE ${ident(plan.database)} TO ${ident(plan.role)}`);
          return undefined;
        });
        if (outcome) {
          void scheduleBackups(request, context, plan, server, outcome);
          return { ...outcome, usage: await usageOf(server, plan.database) };
        }
        // Extensions as the owning role, so they belong to the database's owner.
        await withClient(server, plan.database, async (client) => {
          await client.query(`SET ROLE ${ident(plan.role)}`);
          for (const ext of plan.extensions) await client.query(`CREATE EXTENSION IF NOT EXISTS ${ident(ext)}`);
          await client.query('RESET ROLE');
        });
        // Last: the record says the request is complete.
        await withClient(server, 'postgres', async (client) => {
          await client.query(`COMMENT ON ROLE ${ident(plan.role)} IS ${literal(JSON.stringify(record))}`);
          await client.query(`COMMENT ON DATABASE ${ident(plan.database)} IS ${literal(JSON.stringify(record))}`);
        });
      } catch (err) {
        throw fail(request, `provisioning database ${plan.database} on ${server.host}:${server.port}`, err);
      }
      const limits: string[] = [plan.connectionLimit !== undefined ? `connection limit ${plan.connectionLimit}` : undefined, plan.extensions.length ? `extensions ${plan.extensions.join(', ')}` : undefined].filter((x): x is string => x !== undefined);
      if (plan.backup) limits.push(`backups ${plan.backup.schedule} UTC, kept ${plan.backup.retentionDays} days`);
      const done: ProvisionOutcome = {
        reason: 'DatabaseProvisioned',
        message: `database ${plan.database} and login role ${plan.role} on ${server.host}:${server.port}${limits.length ? ` (${limits.join('; ')})` : ''}; only that role may connect`,
        connection,
      };
      void scheduleBackups(request, context, plan, server, done);
      return { ...done, usage: await usageOf(server, plan.database) };
    },

    // After a restart: the backup schedule of a Database this provider made (its record on the
    // server names this uid), the next backup derived from the last one status reports.
    async resume(request, context, reported) {
      if (!options.backups) return;
      let plan: DatabasePlan;
      try {
        plan = planDatabase(request, context.target.server as TargetServer);
      } catch {
        return;
      }
      if (!plan.backup) return;
      const server = await credentials(request, context);
      const found = await withClient(server, 'postgres', (client) => inspect(client, plan));
      // Only a database whose record names this uid: never another's, never one made outside KIDP.
      if (found.database?.record?.uid !== request.resource.uid) {
        context.logger.warn({ database: plan.database }, 'not resuming backups: the database is not this resource\'s');
        return;
      }
      const limits = `backups ${plan.backup.schedule} UTC, kept ${plan.backup.retentionDays} days`;
      const done: ProvisionOutcome = { reason: 'DatabaseProvisioned', message: `database ${plan.database} and login role ${plan.role} on ${server.host}:${server.port} (${limits}, resumed after a broker restart); only that role may connect` };
      await scheduleBackups(request, context, plan, server, done, { ...(reported.backup ? { lastBackupTime: reported.backup.lastBackupTime } : {}) });
    },

    async deprovision(request, context): Promise<ProvisionOutcome> {
      const server = await credentials(request, context);
      const plan = { database: '', role: '' };
      try {
        const named = planDatabase({ ...request, resource: { ...request.resource, spec: { ...request.resource.spec, extensions: [], backup: undefined } } }, context.target.server as TargetServer);
        Object.assign(plan, { database: named.database, role: named.role });
      } catch (err) {
        throw fail(request, 'refused', err);
      }
      options.backups?.set(request.resource.uid, undefined);
      try {
        return await withClient(server, 'postgres', async (client) => {
          const found = await inspect(client, { ...plan, version: { major: 0 }, extensions: [] });
          const removed: string[] = [];
          // Only what this resource's uid made; anything else of that name is left alone.
          if (found.database && found.database.record?.uid === request.resource.uid) {
            await client.query(`DROP DATABASE ${ident(plan.database)} WITH (FORCE)`);
            removed.push(`database ${plan.database}`);
          }
          if (found.role && found.role.record?.uid === request.resource.uid) {
            await client.query(`DROP ROLE ${ident(plan.role)}`);
            removed.push(`role ${plan.role}`);
          }
          return { reason: 'DatabaseDropped', message: removed.length ? `dropped ${removed.join(' and ')} on ${server.host}:${server.port}` : `nothing of this resource left on ${server.host}:${server.port}` };
        });
      } catch (err) {
        throw fail(request, `dropping database ${plan.database} on ${server.host}:${server.port}`, err);
      }
    },

    async close() {
      options.backups?.close();
    },
  };
}
