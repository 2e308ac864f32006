// The `redis` provider (issue 15 item 2): a Cache becomes an ACL user on the shared Redis
// the DeploymentTarget names (spec.server), allowed only keys under its own prefix and a
// safe command set (plan.ts), with the operator credentials of the Secret it references.
//
// Ownership and idempotency: the hash `__kidp:caches` (a key no tenant prefix can match:
// namespaces never start with `_`) records, per user, the resource uid and the request id
// that last completed. A user of that name recorded for another uid, or present without a
// record (made outside KIDP), is never adopted; a request whose id is recorded is a no-op.
// Delete removes the user (ending its connections) and every key under its prefix.
import { randomBytes } from 'node:crypto';
import type { createClient } from 'redis';
import type { DeploymentRequest } from '../contract.js';
import { DeployFailedError } from '../errors.js';
import type { ProvisionContext, ProvisionOutcome, Provisioner } from '../provisioner.js';
import { PlanRefusal, aclRules, planCache, versionRefusal, type CachePlan } from './plan.js';

export const OWNERS_KEY = '__kidp:caches';
const PASSWORD_BYTES = 24;
const CONNECT_TIMEOUT_MS = 10_000;
/** Keys deleted per SCAN round on delete: bounded work per command on a shared server. */
const DELETE_BATCH = 500;

interface OwnerRecord {
  uid: string;
  source: string;
  requestId: string;
}

type Redis = ReturnType<typeof createClient>;

async function withAdmin<T>(request: DeploymentRequest, context: ProvisionContext, run: (client: Redis, server: { host: string; port: number }) => Promise<T>): Promise<T> {
  const server = context.target.server;
  if (!server) throw new DeployFailedError(request.requestId, `DeploymentTarget ${context.target.name} has no spec.server: the redis provider needs the server to provision into`, true);
  const secret = await context.readSecret(server.credentialsSecretRef);
  if (!secret['username'] || !secret['password']) {
    throw new DeployFailedError(request.requestId, `Secret ${server.credentialsSecretRef.namespace}/${server.credentialsSecretRef.name} (spec.server.credentialsSecretRef of ${context.target.name}) needs keys username and password`, true);
  }
  // Loaded on first use: everything importing brokers/ (the controllers) need not load it.
  const { createClient: create } = await import('redis');
  const client: Redis = create({ socket: { host: server.host, port: server.port, connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: false }, username: secret['username'], password: secret['password'], disableClientInfo: true });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    throw new DeployFailedError(request.requestId, `connecting to Redis at ${server.host}:${server.port}: ${(err as Error).message}`, false, { cause: err });
  }
  try {
    return await run(client, server);
  } catch (err) {
    if (err instanceof DeployFailedError) throw err;
    throw new DeployFailedError(request.requestId, `on Redis at ${server.host}:${server.port}: ${(err as Error).message}`, err instanceof PlanRefusal, { cause: err });
  } finally {
    client.destroy();
  }
}

async function record(client: Redis, user: string): Promise<OwnerRecord | undefined> {
  const raw = await client.hGet(OWNERS_KEY, user);
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as OwnerRecord;
  } catch {
    return undefined;
  }
}

async function userExists(client: Redis, user: string): Promise<boolean> {
  const users = (await client.sendCommand(['ACL', 'USERS'])) as string[];
  return users.includes(user);
}

function plan(request: DeploymentRequest): CachePlan {
  try {
    return planCache(request);
  } catch (err) {
    throw new DeployFailedError(request.requestId, `refused: ${(err as Error).message}`, true, { cause: err });
  }
}

/** The price class of an ACL user on a shared Redis (brokers/usage.ts); no size: the server's memory is shared, not allotted. */
export const REDIS_PRICE_CLASS = 'redis-shared';

export function redisProvisioner(): Provisioner {
  return {
    provider: 'redis',
    kinds: ['Cache'],

    async provision(request, context): Promise<ProvisionOutcome> {
      const p = plan(request);
      const password = context.connection?.['password'] || randomBytes(PASSWORD_BYTES).toString('base64url');
      return withAdmin(request, context, async (client, server) => {
        const info = await client.info('server');
        const serverVersion = /redis_version:([0-9.]+)/.exec(info)?.[1] ?? '0';
        const tooOld = versionRefusal(p.version, serverVersion);
        if (tooOld) throw new DeployFailedError(request.requestId, tooOld, true);
        const owner = await record(client, p.user);
        const exists = await userExists(client, p.user);
        if ((owner && owner.uid !== request.resource.uid) || (exists && !owner)) {
          throw new DeployFailedError(request.requestId, `Redis user ${p.user} already exists and belongs to ${owner ? `${owner.source} (uid ${owner.uid})` : 'something outside KIDP'}; it is not adopted`, true);
        }
        const connection = {
          engine: 'redis',
          host: server.host,
          port: String(server.port),
          user: p.user,
          username: p.user,
          password,
          keyPrefix: p.keyPrefix,
          uri: `redis://${encodeURIComponent(p.user)}:${encodeURIComponent(password)}@${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}`,
        };
        if (exists && owner?.requestId === request.requestId && context.connection?.['password']) {
          return { reason: 'AlreadyApplied', message: `request ${request.requestId} was applied already: Redis user ${p.user} unchanged`, connection, usage: { priceClass: REDIS_PRICE_CLASS } };
        }
        await client.sendCommand(['ACL', 'SETUSER', p.user, ...aclRules(p, password)]);
        const entry: OwnerRecord = { uid: request.resource.uid, source: `Cache/${request.resource.namespace}/${request.resource.name}`, requestId: request.requestId };
        await client.hSet(OWNERS_KEY, p.user, JSON.stringify(entry));
        // A server started with an ACL file keeps the user across restarts.
        await client.sendCommand(['ACL', 'SAVE']).catch(() => undefined);
        const memory = typeof request.resource.spec['memoryMB'] === 'number' ? `; memoryMB ${request.resource.spec['memoryMB']} and the eviction policy are the shared server's, not enforced per Cache` : '';
        return { reason: 'CacheProvisioned', message: `Redis user ${p.user} on ${server.host}:${server.port}, keys ${p.keyPrefix}* only${memory}`, connection, usage: { priceClass: REDIS_PRICE_CLASS } };
      });
    },

    async deprovision(request, context): Promise<ProvisionOutcome> {
      const p = plan({ ...request, resource: { ...request.resource, spec: { ...request.resource.spec, version: undefined } } });
      return withAdmin(request, context, async (client, server) => {
        const owner = await record(client, p.user);
        if (!owner || owner.uid !== request.resource.uid) return { reason: 'CacheRemoved', message: `nothing of this resource left on ${server.host}:${server.port}` };
        // The user first: its connections end, so nothing writes while the keys go.
        await client.sendCommand(['ACL', 'DELUSER', p.user]);
        let cursor = '0';
        let deleted = 0;
        do {
          const page = await client.scan(cursor, { MATCH: `${p.keyPrefix}*`, COUNT: DELETE_BATCH });
          cursor = String(page.cursor);
          if (page.keys.length > 0) deleted += await client.unlink(page.keys);
        } while (cursor !== '0');
        await client.hDel(OWNERS_KEY, p.user);
        await client.sendCommand(['ACL', 'SAVE']).catch(() => undefined);
        return { reason: 'CacheRemoved', message: `removed Redis user ${p.user} and ${deleted} key(s) under ${p.keyPrefix} on ${server.host}:${server.port}` };
      });
    },

    async close() {},
  };
}
