// What the `aws` provider asks RDS for, decided without a call (pure): the instance
// identifier, the engine, the database and master user names, and the tags that record who
// owns the instance. Everything a request names is checked here against RDS's own rules,
// so a name RDS would refuse (or read differently) never reaches the API.
import type { DeploymentRequest } from '../contract.js';

export class PlanRefusal extends Error {
  override name = 'PlanRefusal';
}

/** Tag keys on every instance the provider creates; the uid tag is the ownership record. */
export const TAG_UID = 'platform.kidp.io/uid';
export const TAG_REQUEST = 'platform.kidp.io/request-id';
export const TAG_SOURCE = 'platform.kidp.io/resource';
export const TAG_MANAGED_BY = 'platform.kidp.io/managed-by';

/** RDS's engine names for the Database engines it runs; MongoDB is not an RDS engine. */
const RDS_ENGINES: Readonly<Record<string, { engine: string; scheme: string }>> = {
  postgresql: { engine: 'postgres', scheme: 'postgresql' },
  mysql: { engine: 'mysql', scheme: 'mysql' },
};

/**
 * RDS's smallest gp2/gp3 volume for PostgreSQL and MySQL is 20 GiB; a smaller
 * spec.storageGB gets that, and the status message says so.
 */
export const MIN_STORAGE_GB = 20;
/** The master user the provider creates; RDS's reserved names (rdsadmin, admin for some engines) avoided. */
export const MASTER_USER = 'kidp_owner';
export const DEFAULT_INSTANCE_CLASS = 'db.t3.micro';

export interface InstancePlan {
  /** DBInstanceIdentifier: `<namespace>-<name>`, checked against RDS's identifier rules. */
  identifier: string;
  engine: string;
  engineVersion: string;
  scheme: string;
  /** DBName: the resource name with `-` as `_` (RDS database names are letters, digits, `_`). */
  database: string;
  allocatedStorage: number;
  multiAZ: boolean;
  tags: Array<{ Key: string; Value: string }>;
}

/**
 * RDS DB instance identifier rules (CreateDBInstance, DBInstanceIdentifier): 1 to 63 letters,
 * digits or hyphens; the first a letter; no hyphen at the end and no two in a row. RDS
 * lower-cases identifiers, so upper case is refused rather than silently folded.
 */
export function identifierProblem(identifier: string): string | undefined {
  if (identifier.length < 1 || identifier.length > 63) return `is ${identifier.length} characters; RDS allows 1 to 63`;
  if (!/^[a-z]/.test(identifier)) return 'must start with a letter';
  if (!/^[a-z0-9-]+$/.test(identifier)) return 'may hold only lower-case letters, digits and hyphens';
  if (identifier.endsWith('-')) return 'must not end with a hyphen';
  if (identifier.includes('--')) return 'must not hold two hyphens in a row';
  return undefined;
}

/** RDS database names (PostgreSQL and MySQL): a letter, then letters, digits or `_`; at most 63 (PostgreSQL) / 64 (MySQL). */
function databaseName(name: string): string {
  const db = name.replace(/-/g, '_');
  if (!/^[a-z][a-z0-9_]{0,62}$/.test(db)) throw new PlanRefusal(`resource name ${JSON.stringify(name)} cannot be an RDS database name (a letter, then letters, digits, _; at most 63)`);
  return db;
}

export function planInstance(request: DeploymentRequest): InstancePlan {
  const { namespace, name, uid, spec } = request.resource;
  const identifier = `${namespace}-${name}`;
  const problem = identifierProblem(identifier);
  if (problem) throw new PlanRefusal(`DB instance identifier ${JSON.stringify(identifier)} (<namespace>-<name>) ${problem}`);
  const engine = RDS_ENGINES[String(spec['engine'])];
  if (!engine) throw new PlanRefusal(`the aws provider runs Databases of engine ${Object.keys(RDS_ENGINES).join(' or ')} on RDS, not ${JSON.stringify(spec['engine'])}`);
  const version = spec['version'];
  if (typeof version !== 'string' || !/^[0-9]{1,3}(\.[0-9]{1,4}){0,2}$/.test(version)) throw new PlanRefusal(`spec.version ${JSON.stringify(version)} is not an engine version (15, 15.4, 8.0.35)`);
  const storage = spec['storageGB'];
  const storageGB = typeof storage === 'number' && Number.isInteger(storage) && storage > 0 ? storage : 10;
  return {
    identifier,
    engine: engine.engine,
    engineVersion: version,
    scheme: engine.scheme,
    database: databaseName(name),
    allocatedStorage: Math.max(storageGB, MIN_STORAGE_GB),
    multiAZ: spec['highAvailability'] === true,
    tags: [
      { Key: TAG_MANAGED_BY, Value: 'kidp' },
      { Key: TAG_UID, Value: uid },
      { Key: TAG_SOURCE, Value: `Database/${namespace}/${name}` },
      { Key: TAG_REQUEST, Value: request.requestId },
    ],
  };
}

/** The tag value for `key` in an RDS TagList. */
export function tagValue(tags: ReadonlyArray<{ Key?: string | undefined; Value?: string | undefined }> | undefined, key: string): string | undefined {
  return tags?.find((t) => t.Key === key)?.Value;
}

export function connectionUri(scheme: string, user: string, password: string, host: string, port: number, database: string): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return `${scheme}://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${h}:${port}/${encodeURIComponent(database)}`;
}

/** The tags of every resource the provider makes, as `{Key, Value}` pairs (RDS, ElastiCache). */
function ownerTags(request: DeploymentRequest): Array<{ Key: string; Value: string }> {
  const { kind, namespace, name, uid } = request.resource;
  return [
    { Key: TAG_MANAGED_BY, Value: 'kidp' },
    { Key: TAG_UID, Value: uid },
    { Key: TAG_SOURCE, Value: `${kind}/${namespace}/${name}` },
    { Key: TAG_REQUEST, Value: request.requestId },
  ];
}

/** ElastiCache's replication group id is the RDS identifier rule with at most 40 characters (CreateReplicationGroup, ReplicationGroupId). */
export const REPLICATION_GROUP_ID_MAX = 40;
export const DEFAULT_CACHE_NODE_TYPE = 'cache.t3.micro';

export interface ReplicationGroupPlan {
  /** ReplicationGroupId: `<namespace>-<name>`. */
  id: string;
  engineVersion?: string;
  /** spec.evictionPolicy; the default parameter group's (volatile-lru) applies: the provider sets no parameter group. */
  evictionPolicy?: string;
  tags: Array<{ Key: string; Value: string }>;
}

export function planReplicationGroup(request: DeploymentRequest): ReplicationGroupPlan {
  const { namespace, name, spec } = request.resource;
  const id = `${namespace}-${name}`;
  const problem = id.length > REPLICATION_GROUP_ID_MAX ? `is ${id.length} characters; ElastiCache allows 1 to ${REPLICATION_GROUP_ID_MAX}` : identifierProblem(id);
  if (problem) throw new PlanRefusal(`ElastiCache replication group id ${JSON.stringify(id)} (<namespace>-<name>) ${problem}`);
  // Memcached has no replication group, AUTH or encryption in transit on ElastiCache's classic clusters; only Redis here.
  if (spec['engine'] !== 'redis') throw new PlanRefusal(`the aws provider runs Caches of engine redis on ElastiCache, not ${JSON.stringify(spec['engine'])}`);
  const version = spec['version'];
  if (version !== undefined && (typeof version !== 'string' || !/^[0-9]{1,2}(\.[0-9]{1,3}){0,2}$/.test(version))) throw new PlanRefusal(`spec.version ${JSON.stringify(version)} is not a Redis engine version (7.1, 6.2)`);
  const eviction = spec['evictionPolicy'];
  return { id, ...(typeof version === 'string' ? { engineVersion: version } : {}), ...(typeof eviction === 'string' ? { evictionPolicy: eviction } : {}), tags: ownerTags(request) };
}

/** SQS keeps a message at most 14 days (MessageRetentionPeriod 60 to 1,209,600 s). */
export const SQS_MAX_RETENTION_HOURS = 336;
/** SQS queue names: 1 to 80 letters, digits, hyphens, underscores (CreateQueue, QueueName). */
export const QUEUE_NAME_MAX = 80;

export interface QueuePlan {
  /** QueueName: `<namespace>-<name>` with `.` as `_` (a Kubernetes name may hold dots, a queue name may not). */
  name: string;
  /** MessageRetentionPeriod, seconds, as SQS wants it: a string. */
  retentionSeconds: string;
  tags: Record<string, string>;
}

export function planQueue(request: DeploymentRequest): QueuePlan {
  const { namespace, name, spec } = request.resource;
  const queue = `${namespace}-${name}`.replace(/\./g, '_');
  if (queue.length > QUEUE_NAME_MAX || !/^[A-Za-z0-9_-]+$/.test(queue)) throw new PlanRefusal(`SQS queue name ${JSON.stringify(queue)} (<namespace>-<name>) must be 1 to ${QUEUE_NAME_MAX} letters, digits, - or _`);
  if (spec['cleanupPolicy'] !== undefined && spec['cleanupPolicy'] !== 'delete') throw new PlanRefusal(`spec.cleanupPolicy ${JSON.stringify(spec['cleanupPolicy'])}: an SQS queue cannot compact; only delete`);
  const hours = spec['retentionHours'] ?? 168;
  if (typeof hours !== 'number' || !Number.isInteger(hours) || hours < 1 || hours > SQS_MAX_RETENTION_HOURS) throw new PlanRefusal(`spec.retentionHours ${JSON.stringify(hours)}: SQS keeps messages 1 to ${SQS_MAX_RETENTION_HOURS} hours (14 days)`);
  return { name: queue, retentionSeconds: String(hours * 3600), tags: Object.fromEntries(ownerTags(request).map((t) => [t.Key, t.Value])) };
}
