// The `aws` provider's Databases (issue 15 item 5): a Database becomes an RDS DB instance, through the
// official AWS SDK for JavaScript v3, in the region and account the DeploymentTarget names
// (spec.region, spec.aws: endpoint, credentials Secret). Nothing about where or as whom comes
// from the request: the request only names the resource, and its names are checked against
// RDS's rules (plan.ts) before any call.
//
// Ownership and idempotency: every instance is created with tags naming the resource uid and
// the request id. An instance of that identifier tagged for another uid, or untagged (made
// outside KIDP), is never adopted and never deleted. A request whose id is the instance's
// tag, with the password still in the connection Secret, is a no-op.
//
// Waiting: the Provisioner interface has one outcome per request, so provision polls
// DescribeDBInstances until the instance is `available` (backoff between polls, a deadline);
// past the deadline the request fails as transient and the controllers' retry resumes the
// wait on the instance it finds tagged with its uid. Deprovision waits until RDS no longer
// knows the instance.
//
// Tested against moto's server mode (an AWS API emulator), not against AWS: see README.md.
import { randomBytes } from 'node:crypto';
import type { DBInstance, RDSClient, Tag } from '@aws-sdk/client-rds';
import type { DeploymentRequest } from '../contract.js';
import { DeployFailedError } from '../errors.js';
import type { ProvisionContext, ProvisionOutcome, TargetAws } from '../provisioner.js';
import { DEFAULT_INSTANCE_CLASS, MASTER_USER, MIN_STORAGE_GB, PlanRefusal, TAG_REQUEST, TAG_UID, connectionUri, planInstance, tagValue, type InstancePlan } from './plan.js';
import { clientSettings, fail, poller, type AwsProvisionerOptions } from './session.js';
import type { KindProvisioner } from './kind-provisioner.js';

type Rds = typeof import('@aws-sdk/client-rds');
// Loaded on first use: everything importing brokers/ (the controllers) need not load the SDK.
let rdsModule: Rds | undefined;
async function loadRds(): Promise<Rds> {
  rdsModule ??= await import('@aws-sdk/client-rds');
  return rdsModule;
}

/** 24 random bytes, base64url: 32 characters, none of the ones RDS refuses in a master password (/ @ " space). */
const PASSWORD_BYTES = 24;
interface Session {
  client: RDSClient;
  rds: Rds;
  aws: TargetAws;
  region: string;
}

function plan(request: DeploymentRequest): InstancePlan {
  try {
    return planInstance(request);
  } catch (err) {
    throw new DeployFailedError(request.requestId, `refused: ${(err as Error).message}`, err instanceof PlanRefusal, { cause: err });
  }
}

/** The usage measure of an instance: its class (the price class), its storage, and RDS's own creation time. */
function usageOf(instance: DBInstance, instanceClass: string): ProvisionOutcome['usage'] {
  const created = instance.InstanceCreateTime;
  return {
    priceClass: instance.DBInstanceClass ?? instanceClass,
    ...(instance.AllocatedStorage !== undefined ? { sizeGiB: instance.AllocatedStorage } : {}),
    ...(created instanceof Date && Number.isFinite(created.getTime()) ? { since: created.toISOString() } : {}),
  };
}

export function rdsDatabases(options: AwsProvisionerOptions): KindProvisioner {
  const sessions = new Set<RDSClient>();
  const poll = poller(options);

  async function session(request: DeploymentRequest, context: ProvisionContext): Promise<Session> {
    const settings = await clientSettings(request, context, options);
    const rds = await loadRds();
    const client = new rds.RDSClient(settings.config);
    sessions.add(client);
    return { client, rds, aws: settings.aws, region: settings.region };
  }

  async function withSession<T>(request: DeploymentRequest, context: ProvisionContext, run: (s: Session) => Promise<T>): Promise<T> {
    const s = await session(request, context);
    try {
      return await run(s);
    } finally {
      s.client.destroy();
      sessions.delete(s.client);
    }
  }

  async function describe(s: Session, request: DeploymentRequest, identifier: string): Promise<DBInstance | undefined> {
    try {
      const out = await s.client.send(new s.rds.DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }));
      return out.DBInstances?.[0];
    } catch (err) {
      if (err instanceof s.rds.DBInstanceNotFoundFault) return undefined;
      return fail(request, `DescribeDBInstances ${identifier}`, err);
    }
  }

  /** The instance's tags: DescribeDBInstances carries them (TagList); ListTagsForResource when it does not. */
  async function tagsOf(s: Session, request: DeploymentRequest, instance: DBInstance): Promise<Tag[]> {
    if (instance.TagList && instance.TagList.length > 0) return instance.TagList;
    if (!instance.DBInstanceArn) return [];
    try {
      return (await s.client.send(new s.rds.ListTagsForResourceCommand({ ResourceName: instance.DBInstanceArn }))).TagList ?? [];
    } catch (err) {
      return fail(request, `ListTagsForResource ${instance.DBInstanceIdentifier}`, err);
    }
  }

  /** Refuses an instance this resource does not own: another uid's, or one made outside KIDP. */
  async function checkOwner(s: Session, request: DeploymentRequest, instance: DBInstance): Promise<Tag[]> {
    const tags = await tagsOf(s, request, instance);
    const owner = tagValue(tags, TAG_UID);
    if (owner !== request.resource.uid) {
      throw new DeployFailedError(request.requestId, `RDS instance ${instance.DBInstanceIdentifier} in ${s.region} already exists and belongs to ${owner ? `another resource (uid ${owner})` : 'something outside KIDP (no KIDP uid tag)'}; it is not adopted`, true);
    }
    return tags;
  }

  /** Polls until `done` says the instance is where it should be; backoff between polls, a deadline for the request. */
  function waitFor(request: DeploymentRequest, identifier: string, what: string, done: () => Promise<DBInstance | 'gone' | undefined>, context: ProvisionContext): Promise<DBInstance | 'gone'> {
    return poll.until(request, `RDS instance ${identifier} is not ${what}`, done, context);
  }

  function connectionOf(p: InstancePlan, instance: DBInstance, password: string): Record<string, string> {
    const host = instance.Endpoint?.Address ?? '';
    const port = instance.Endpoint?.Port ?? 0;
    const user = instance.MasterUsername ?? MASTER_USER;
    const database = instance.DBName ?? p.database;
    return { engine: p.scheme, host, port: String(port), database, user, username: user, password, uri: connectionUri(p.scheme, user, password, host, port, database), instance: p.identifier };
  }

  return {
    async provision(request, context): Promise<ProvisionOutcome> {
      const p = plan(request);
      const stored = context.connection?.['password'];
      return withSession(request, context, async (s) => {
        const instanceClass = s.aws.dbInstanceClass ?? DEFAULT_INSTANCE_CLASS;
        let instance = await describe(s, request, p.identifier);
        let password = stored ?? randomBytes(PASSWORD_BYTES).toString('base64url');
        let action: string;
        if (!instance) {
          try {
            instance = (
              await s.client.send(
                new s.rds.CreateDBInstanceCommand({
                  DBInstanceIdentifier: p.identifier,
                  DBInstanceClass: instanceClass,
                  Engine: p.engine,
                  EngineVersion: p.engineVersion,
                  DBName: p.database,
                  MasterUsername: MASTER_USER,
                  MasterUserPassword: password,
                  AllocatedStorage: p.allocatedStorage,
                  MultiAZ: p.multiAZ,
                  PubliclyAccessible: false,
                  StorageEncrypted: true,
                  Tags: p.tags,
                }),
              )
            ).DBInstance;
            action = 'created';
          } catch (err) {
            // Another attempt of this request (or another resource) got there first: judge what is there.
            if (!(err instanceof s.rds.DBInstanceAlreadyExistsFault)) fail(request, `CreateDBInstance ${p.identifier}`, err);
            instance = await describe(s, request, p.identifier);
            if (!instance) throw new DeployFailedError(request.requestId, `RDS said instance ${p.identifier} exists but does not describe it; retried`, false);
            await checkOwner(s, request, instance);
            action = 'resumed';
          }
        } else {
          const tags = await checkOwner(s, request, instance);
          if (instance.DBInstanceStatus === 'deleting') throw new DeployFailedError(request.requestId, `RDS instance ${p.identifier} is being deleted; retried once it is gone`, false);
          if (instance.Engine && instance.Engine !== p.engine) throw new DeployFailedError(request.requestId, `RDS instance ${p.identifier} runs ${instance.Engine}; an instance cannot change engine (spec.engine ${String(request.resource.spec['engine'])})`, true);
          if (tagValue(tags, TAG_REQUEST) === request.requestId && stored && instance.DBInstanceStatus === 'available') {
            return { reason: 'AlreadyApplied', message: `request ${request.requestId} was applied already: RDS instance ${p.identifier} unchanged`, connection: connectionOf(p, instance, stored), usage: usageOf(instance, instanceClass) };
          }
          // A later generation, or the same one whose Secret was lost: bring the instance to the spec, and the password to what the Secret will hold.
          const changes = {
            ...(instance.AllocatedStorage !== undefined && instance.AllocatedStorage < p.allocatedStorage ? { AllocatedStorage: p.allocatedStorage } : {}),
            ...(instance.MultiAZ !== undefined && instance.MultiAZ !== p.multiAZ ? { MultiAZ: p.multiAZ } : {}),
            ...(stored ? {} : { MasterUserPassword: (password = randomBytes(PASSWORD_BYTES).toString('base64url')) }),
          };
          if (Object.keys(changes).length > 0) {
            try {
              await s.client.send(new s.rds.ModifyDBInstanceCommand({ DBInstanceIdentifier: p.identifier, ApplyImmediately: true, ...changes }));
            } catch (err) {
              fail(request, `ModifyDBInstance ${p.identifier}`, err);
            }
          }
          action = Object.keys(changes).length > 0 ? `modified (${Object.keys(changes).map((k) => (k === 'MasterUserPassword' ? 'new master password' : k)).join(', ')})` : 'unchanged';
        }
        const ready = await waitFor(request, p.identifier, 'available', async () => {
          const current = await describe(s, request, p.identifier);
          return current?.DBInstanceStatus === 'available' && current.Endpoint?.Address ? current : undefined;
        }, context);
        if (ready === 'gone') throw new DeployFailedError(request.requestId, `RDS instance ${p.identifier} disappeared while waiting`, false);
        // Recorded last: a request is applied once its instance is available.
        if (ready.DBInstanceArn) {
          try {
            await s.client.send(new s.rds.AddTagsToResourceCommand({ ResourceName: ready.DBInstanceArn, Tags: [{ Key: TAG_REQUEST, Value: request.requestId }] }));
          } catch (err) {
            fail(request, `AddTagsToResource ${p.identifier}`, err);
          }
        }
        const storageNote = p.allocatedStorage > Number(request.resource.spec['storageGB'] ?? 0) ? `; ${p.allocatedStorage} GiB (RDS's minimum is ${MIN_STORAGE_GB})` : `; ${p.allocatedStorage} GiB`;
        return {
          reason: 'DatabaseProvisioned',
          message: `RDS instance ${p.identifier} (${p.engine} ${ready.EngineVersion ?? p.engineVersion}, ${instanceClass}${storageNote}${p.multiAZ ? ', Multi-AZ' : ''}) in ${s.region}, ${action}, available at ${ready.Endpoint?.Address}:${ready.Endpoint?.Port}`,
          connection: connectionOf(p, ready, password),
          usage: usageOf(ready, instanceClass),
        };
      });
    },

    async deprovision(request, context): Promise<ProvisionOutcome> {
      const p = plan(request);
      return withSession(request, context, async (s) => {
        const instance = await describe(s, request, p.identifier);
        if (!instance) return { reason: 'DatabaseRemoved', message: `no RDS instance ${p.identifier} in ${s.region}: nothing left` };
        const owner = tagValue(await tagsOf(s, request, instance), TAG_UID);
        // Never another's: an instance of this name that is not tagged for this uid is left alone.
        if (owner !== request.resource.uid) return { reason: 'DatabaseRemoved', message: `RDS instance ${p.identifier} in ${s.region} is not this resource's (uid tag ${owner ?? 'absent'}); left alone` };
        if (instance.DBInstanceStatus !== 'deleting') {
          try {
            // No final snapshot: deleting the Database resource is the request to delete its data.
            await s.client.send(new s.rds.DeleteDBInstanceCommand({ DBInstanceIdentifier: p.identifier, SkipFinalSnapshot: true, DeleteAutomatedBackups: true }));
          } catch (err) {
            if (!(err instanceof s.rds.DBInstanceNotFoundFault)) fail(request, `DeleteDBInstance ${p.identifier}`, err);
          }
        }
        await waitFor(request, p.identifier, 'deleted', async () => ((await describe(s, request, p.identifier)) ? undefined : 'gone'), context);
        return { reason: 'DatabaseRemoved', message: `deleted RDS instance ${p.identifier} in ${s.region} (no final snapshot)` };
      });
    },

    async close() {
      for (const client of sessions) client.destroy();
      sessions.clear();
    },
  };
}
