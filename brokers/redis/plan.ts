// What the `redis` provider grants a Cache, decided without touching the server (pure):
// its ACL user, its key prefix, and the ACL rules. The rules are the security boundary
// between tenants of one shared Redis, so they are one list here, table-tested, and read
// back from the server in the e2e test.
import { createHash } from 'node:crypto';
import type { DeploymentRequest } from '../contract.js';

export class PlanRefusal extends Error {
  override name = 'PlanRefusal';
}

export interface CachePlan {
  /** `<namespace>/<name>`: namespaces hold no `/`, so two Caches never share a user. */
  user: string;
  /** `<namespace>/<name>:`; every key the user may touch starts with it. */
  keyPrefix: string;
  version?: { major: number; minor?: number };
}

/**
 * Reads and writes of ordinary data types, transactions and connection commands, on keys
 * under the prefix only; then everything that reaches past one's own keys taken away:
 * @dangerous (KEYS, FLUSHALL, FLUSHDB, CONFIG, DEBUG, SORT, MIGRATE, ...), @admin (ACL, CLIENT
 * LIST/KILL, MONITOR, ...) and the commands that name keys without taking key arguments
 * (SCAN, RANDOMKEY and DBSIZE would show other tenants' key names or counts). No pub/sub
 * (PUBSUB CHANNELS lists every channel) and no scripting.
 */
export const CACHE_COMMAND_RULES: readonly string[] = ['-@all', '+@read', '+@write', '+@transaction', '+@connection', '-@dangerous', '-@admin', '-scan', '-randomkey', '-dbsize', '-keys'];

/** The ACL SETUSER arguments for `plan`, the password given as its SHA-256 only. */
export function aclRules(plan: CachePlan, password: string): string[] {
  const hash = createHash('sha256').update(password).digest('hex');
  return ['reset', 'on', `#${hash}`, 'resetkeys', `~${plan.keyPrefix}*`, 'resetchannels', ...CACHE_COMMAND_RULES];
}

/** Glob specials Redis' ~pattern and SCAN MATCH would interpret; Kubernetes names hold none, and a request that does is refused. */
const GLOB_SPECIALS = /[*?[\]\\\s]/;

export function planCache(request: DeploymentRequest): CachePlan {
  const spec = request.resource.spec;
  const { namespace, name } = request.resource;
  if (spec['engine'] !== 'redis') throw new PlanRefusal(`the redis provider provisions engine redis, not ${JSON.stringify(spec['engine'])}`);
  if (GLOB_SPECIALS.test(namespace) || GLOB_SPECIALS.test(name) || namespace.includes('/')) throw new PlanRefusal(`resource ${JSON.stringify(`${namespace}/${name}`)} cannot name a key prefix`);
  const version = spec['version'];
  let parsed: CachePlan['version'];
  if (version !== undefined) {
    if (typeof version !== 'string' || !/^[0-9]{1,3}(\.[0-9]{1,4}){0,2}$/.test(version)) throw new PlanRefusal(`spec.version ${JSON.stringify(version)} is not a Redis version (7, 7.0)`);
    const [major, minor] = version.split('.').map(Number);
    parsed = { major: major ?? 0, ...(minor !== undefined ? { minor } : {}) };
  }
  return { user: `${namespace}/${name}`, keyPrefix: `${namespace}/${name}:`, ...(parsed ? { version: parsed } : {}) };
}

/** A Cache asking for M(.m) fits a server M.n with n >= m. */
export function versionRefusal(wanted: CachePlan['version'], serverVersion: string): string | undefined {
  if (!wanted) return undefined;
  const [major = 0, minor = 0] = serverVersion.split('.').map(Number);
  const text = `${wanted.major}${wanted.minor !== undefined ? `.${wanted.minor}` : ''}`;
  if (wanted.major !== major) return `spec.version ${text} does not match the server's Redis ${serverVersion}: this target serves major version ${major} only`;
  if (wanted.minor !== undefined && wanted.minor > minor) return `spec.version ${text} is newer than the server's Redis ${serverVersion}`;
  return undefined;
}
