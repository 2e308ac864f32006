// The `aws` provider's Caches (issue 15 item 5): a Cache becomes an ElastiCache for Redis
// replication group `<namespace>-<name>` (one node, of the target's spec.aws.cacheNodeType),
// with an AUTH token the broker generates, encryption in transit (required for AUTH) and at
// rest. A replication group rather than a bare cache cluster: only a replication group takes
// an AUTH token with in-transit encryption and can later gain replicas without a new endpoint.
//
// Ownership, idempotency and waiting as for RDS (rds.ts): tagged with the uid and the request
// id, never adopting a group tagged for another uid or untagged, AlreadyApplied for a re-sent
// request whose id is the group's tag (with the token still in the Secret), polling until
// `available`. Delete is done when ElastiCache has taken the deletion (status `deleting`) or no
// longer knows the group: it keeps a deleting group for minutes, its data is already out of
// reach, and the uid tag stays on it, so nothing adopts it meanwhile.
//
// Tested against moto's server mode (an AWS API emulator), not against AWS: see README.md.
import { randomBytes } from 'node:crypto';
import type { ElastiCacheClient, ReplicationGroup, Tag } from '@aws-sdk/client-elasticache';
import type { DeploymentRequest } from '../contract.js';
import { DeployFailedError } from '../errors.js';
import type { ProvisionContext, ProvisionOutcome } from '../provisioner.js';
import type { KindProvisioner } from './kind-provisioner.js';
import { DEFAULT_CACHE_NODE_TYPE, PlanRefusal, TAG_REQUEST, TAG_UID, planReplicationGroup, tagValue, type ReplicationGroupPlan } from './plan.js';
import { clientSettings, fail, poller, type AwsProvisionerOptions } from './session.js';

type Sdk = typeof import('@aws-sdk/client-elasticache');
let sdkModule: Sdk | undefined;
async function loadSdk(): Promise<Sdk> {
  sdkModule ??= await import('@aws-sdk/client-elasticache');
  return sdkModule;
}

/** 24 random bytes, base64url: 32 characters, within AUTH's 16 to 128 printable characters and none of the ones it refuses (@ " /). */
const TOKEN_BYTES = 24;
/** The user an AUTH token authenticates as (Redis 6+). */
const AUTH_USER = 'default';

interface Session {
  client: ElastiCacheClient;
  sdk: Sdk;
  region: string;
  nodeType: string;
}

function plan(request: DeploymentRequest): ReplicationGroupPlan {
  try {
    return planReplicationGroup(request);
  } catch (err) {
    throw new DeployFailedError(request.requestId, `refused: ${(err as Error).message}`, err instanceof PlanRefusal, { cause: err });
  }
}

/** The primary endpoint of a cluster-mode-disabled group (one node group). */
function endpointOf(group: ReplicationGroup): { host: string; port: number } | undefined {
  const primary = group.NodeGroups?.[0]?.PrimaryEndpoint;
  return primary?.Address && primary.Port ? { host: primary.Address, port: primary.Port } : undefined;
}

export function elastiCacheCaches(options: AwsProvisionerOptions): KindProvisioner {
  const sessions = new Set<ElastiCacheClient>();
  const poll = poller(options);

  async function withSession<T>(request: DeploymentRequest, context: ProvisionContext, run: (s: Session) => Promise<T>): Promise<T> {
    const settings = await clientSettings(request, context, options);
    const sdk = await loadSdk();
    const client = new sdk.ElastiCacheClient(settings.config);
    sessions.add(client);
    try {
      return await run({ client, sdk, region: settings.region, nodeType: settings.aws.cacheNodeType ?? DEFAULT_CACHE_NODE_TYPE });
    } finally {
      client.destroy();
      sessions.delete(client);
    }
  }

  async function describe(s: Session, request: DeploymentRequest, id: string): Promise<ReplicationGroup | undefined> {
    try {
      return (await s.client.send(new s.sdk.DescribeReplicationGroupsCommand({ ReplicationGroupId: id }))).ReplicationGroups?.[0];
    } catch (err) {
      if (err instanceof s.sdk.ReplicationGroupNotFoundFault) return undefined;
      return fail(request, `DescribeReplicationGroups ${id}`, err);
    }
  }

  /** ElastiCache's describe carries no tags: ListTagsForResource on the group's ARN. */
  async function tagsOf(s: Session, request: DeploymentRequest, group: ReplicationGroup): Promise<Tag[]> {
    if (!group.ARN) throw new DeployFailedError(request.requestId, `ElastiCache describes replication group ${group.ReplicationGroupId} without an ARN; its owner cannot be checked, so it is not touched`, false);
    try {
      return (await s.client.send(new s.sdk.ListTagsForResourceCommand({ ResourceName: group.ARN }))).TagList ?? [];
    } catch (err) {
      return fail(request, `ListTagsForResource ${group.ReplicationGroupId}`, err);
    }
  }

  function connectionOf(group: ReplicationGroup, token: string, p: ReplicationGroupPlan): Record<string, string> {
    const endpoint = endpointOf(group) ?? { host: '', port: 0 };
    const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
    return {
      engine: 'redis',
      host: endpoint.host,
      port: String(endpoint.port),
      user: AUTH_USER,
      username: AUTH_USER,
      password: token,
      tls: 'true',
      uri: `rediss://${AUTH_USER}:${encodeURIComponent(token)}@${host}:${endpoint.port}`,
      replicationGroup: p.id,
    };
  }

  const usageOf = (group: ReplicationGroup, nodeType: string): ProvisionOutcome['usage'] => {
    const created = group.ReplicationGroupCreateTime;
    return { priceClass: group.CacheNodeType ?? nodeType, ...(created instanceof Date && Number.isFinite(created.getTime()) ? { since: created.toISOString() } : {}) };
  };

  return {
    async provision(request, context) {
      const p = plan(request);
      const stored = context.connection?.['password'];
      return withSession(request, context, async (s) => {
        let group = await describe(s, request, p.id);
        let token = stored ?? randomBytes(TOKEN_BYTES).toString('base64url');
        let action: string;
        if (!group) {
          try {
            group = (
              await s.client.send(
                new s.sdk.CreateReplicationGroupCommand({
                  ReplicationGroupId: p.id,
                  ReplicationGroupDescription: `KIDP Cache ${request.resource.namespace}/${request.resource.name}`,
                  Engine: 'redis',
                  ...(p.engineVersion ? { EngineVersion: p.engineVersion } : {}),
                  CacheNodeType: s.nodeType,
                  NumCacheClusters: 1,
                  AuthToken: token,
                  TransitEncryptionEnabled: true,
                  AtRestEncryptionEnabled: true,
                  Tags: p.tags,
                }),
              )
            ).ReplicationGroup;
            action = 'created';
          } catch (err) {
            if (!(err instanceof s.sdk.ReplicationGroupAlreadyExistsFault)) fail(request, `CreateReplicationGroup ${p.id}`, err);
            group = await describe(s, request, p.id);
            if (!group) throw new DeployFailedError(request.requestId, `ElastiCache said replication group ${p.id} exists but does not describe it; retried`, false);
            await checkOwner(s, request, group);
            action = 'resumed';
          }
        } else {
          // A group being deleted is judged before its owner: a new Cache of the same name waits for the old one to go.
          if (group.Status === 'deleting') throw new DeployFailedError(request.requestId, `ElastiCache replication group ${p.id} is being deleted; retried once it is gone`, false);
          const tags = await checkOwner(s, request, group);
          if (tagValue(tags, TAG_REQUEST) === request.requestId && stored && group.Status === 'available') {
            return { reason: 'AlreadyApplied', message: `request ${request.requestId} was applied already: ElastiCache replication group ${p.id} unchanged`, connection: connectionOf(group, stored, p), usage: usageOf(group, s.nodeType) };
          }
          const changes = {
            ...(group.CacheNodeType && group.CacheNodeType !== s.nodeType ? { CacheNodeType: s.nodeType } : {}),
            // A lost Secret: the old token is unknown, so a new one replaces it (ROTATE keeps the old valid until SET).
            ...(stored ? {} : { AuthToken: (token = randomBytes(TOKEN_BYTES).toString('base64url')), AuthTokenUpdateStrategy: 'SET' as const }),
          };
          if (Object.keys(changes).length > 0) {
            try {
              await s.client.send(new s.sdk.ModifyReplicationGroupCommand({ ReplicationGroupId: p.id, ApplyImmediately: true, ...changes }));
            } catch (err) {
              fail(request, `ModifyReplicationGroup ${p.id}`, err);
            }
          }
          action = Object.keys(changes).length > 0 ? `modified (${Object.keys(changes).filter((k) => k !== 'AuthTokenUpdateStrategy').map((k) => (k === 'AuthToken' ? 'new AUTH token' : k)).join(', ')})` : 'unchanged';
        }
        const ready = await poll.until(request, `ElastiCache replication group ${p.id} is not available`, async () => {
          const current = await describe(s, request, p.id);
          return current?.Status === 'available' && endpointOf(current) ? current : undefined;
        }, context);
        if (ready.ARN) {
          try {
            await s.client.send(new s.sdk.AddTagsToResourceCommand({ ResourceName: ready.ARN, Tags: [{ Key: TAG_REQUEST, Value: request.requestId }] }));
          } catch (err) {
            fail(request, `AddTagsToResource ${p.id}`, err);
          }
        }
        const endpoint = endpointOf(ready);
        const notes = [p.evictionPolicy && p.evictionPolicy !== 'volatile-lru' ? `spec.evictionPolicy ${p.evictionPolicy} not applied (the default parameter group's volatile-lru is)` : undefined, request.resource.spec['memoryMB'] !== undefined ? `memory is the node type's, not spec.memoryMB` : undefined].filter((x): x is string => x !== undefined);
        return {
          reason: 'CacheProvisioned',
          message: `ElastiCache replication group ${p.id} (redis ${ready.NodeGroups?.[0]?.NodeGroupMembers?.length ?? 1} node, ${ready.CacheNodeType ?? s.nodeType}, AUTH, TLS) in ${s.region}, ${action}, available at ${endpoint?.host}:${endpoint?.port}${notes.length ? `; ${notes.join('; ')}` : ''}`,
          connection: connectionOf(ready, token, p),
          usage: usageOf(ready, s.nodeType),
        };
      });
    },

    async deprovision(request, context) {
      const p = plan(request);
      return withSession(request, context, async (s) => {
        const group = await describe(s, request, p.id);
        if (!group) return { reason: 'CacheRemoved', message: `no ElastiCache replication group ${p.id} in ${s.region}: nothing left` };
        const owner = tagValue(await tagsOf(s, request, group), TAG_UID);
        if (owner !== request.resource.uid) return { reason: 'CacheRemoved', message: `ElastiCache replication group ${p.id} in ${s.region} is not this resource's (uid tag ${owner ?? 'absent'}); left alone` };
        if (group.Status !== 'deleting') {
          try {
            // No final snapshot: deleting the Cache is the request to delete its data.
            await s.client.send(new s.sdk.DeleteReplicationGroupCommand({ ReplicationGroupId: p.id, RetainPrimaryCluster: false }));
          } catch (err) {
            if (!(err instanceof s.sdk.ReplicationGroupNotFoundFault)) fail(request, `DeleteReplicationGroup ${p.id}`, err);
          }
        }
        const state = await poll.until(request, `ElastiCache replication group ${p.id} is not deleting`, async () => {
          const current = await describe(s, request, p.id);
          return !current ? 'gone' : current.Status === 'deleting' ? 'deleting' : undefined;
        }, context);
        return { reason: 'CacheRemoved', message: state === 'gone' ? `deleted ElastiCache replication group ${p.id} in ${s.region}` : `ElastiCache is deleting replication group ${p.id} in ${s.region} (no final snapshot)` };
      });
    },

    async close() {
      for (const client of sessions) client.destroy();
      sessions.clear();
    },
  };

  /** Refuses a group this resource does not own: another uid's, or one made outside KIDP. */
  async function checkOwner(s: Session, request: DeploymentRequest, group: ReplicationGroup): Promise<Tag[]> {
    const tags = await tagsOf(s, request, group);
    const owner = tagValue(tags, TAG_UID);
    if (owner !== request.resource.uid) {
      throw new DeployFailedError(request.requestId, `ElastiCache replication group ${group.ReplicationGroupId} in ${s.region} already exists and belongs to ${owner ? `another resource (uid ${owner})` : 'something outside KIDP (no KIDP uid tag)'}; it is not adopted`, true);
    }
    return tags;
  }
}
