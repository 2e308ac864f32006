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
