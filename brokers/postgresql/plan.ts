// What the `postgresql` provider will do for a Database, decided without touching the
// server (pure, so the refusals are table-tested): the names, the version check, the
// extension allow-list. Every name reaching SQL comes from here and is still quoted there.
import { createHash } from 'node:crypto';
import type { DeploymentRequest } from '../contract.js';
import type { TargetServer } from '../provisioner.js';

/** PostgreSQL truncates identifiers past NAMEDATALEN - 1 bytes; names are kept under it. */
export const MAX_IDENTIFIER_BYTES = 63;
/** What an identifier may hold here: lower-case letters, digits and `_`, nothing to quote. */
const SAFE_IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
/** Extension names as PostgreSQL ships them (uuid-ossp has a hyphen). */
const SAFE_EXTENSION = /^[a-z0-9][-a-z0-9_]*$/;

export interface DatabasePlan {
  /** The database and its login role share one name. */
  database: string;
  role: string;
  /** Requested major (and minor, when given) version. */
  version: { major: number; minor?: number };
  connectionLimit?: number;
  extensions: string[];
  backup?: { schedule: string; retentionDays: number };
}

/** The rule of ownership a request must pass; thrown as a permanent DeployFailedError by the caller. */
export class PlanRefusal extends Error {
  override name = 'PlanRefusal';
}

/**
 * `kidp_<namespace>_<name>` with `-` and `.` as `_`; when that is too long, cut and suffixed
 * with 8 hex digits of a hash of namespace/name, so two long names never share a database.
 */
export function databaseName(namespace: string, name: string): string {
  const plain = `kidp_${namespace}_${name}`.replace(/[-.]/g, '_');
  if (Buffer.byteLength(plain) <= MAX_IDENTIFIER_BYTES && SAFE_IDENTIFIER.test(plain)) return plain;
  const hash = createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 8);
  const cut = plain.replace(/[^a-z0-9_]/g, '_').slice(0, MAX_IDENTIFIER_BYTES - 9);
  return `${cut}_${hash}`;
}

/** `15`, `15.4` or `15.4.1`: major and minor (PostgreSQL 10+ has two-part versions). */
export function parseVersion(version: unknown): { major: number; minor?: number } {
  if (typeof version !== 'string' || !/^[0-9]{1,3}(\.[0-9]{1,4}){0,2}$/.test(version)) throw new PlanRefusal(`spec.version ${JSON.stringify(version)} is not a PostgreSQL version (15, 15.4)`);
  const [major, minor] = version.split('.').map(Number);
  return { major: major ?? 0, ...(minor !== undefined ? { minor } : {}) };
}

/**
 * A Database asking for version M(.m) fits a server M.n with n >= m: same major (the
 * on-disk format and SQL surface), at least the minor asked for.
 */
export function versionRefusal(wanted: { major: number; minor?: number }, serverVersionNum: number): string | undefined {
  const major = Math.floor(serverVersionNum / 10_000);
  const minor = serverVersionNum % 10_000;
  const wantedText = `${wanted.major}${wanted.minor !== undefined ? `.${wanted.minor}` : ''}`;
  if (wanted.major !== major) return `spec.version ${wantedText} does not match the server's PostgreSQL ${major}.${minor}: this target serves major version ${major} only`;
  if (wanted.minor !== undefined && wanted.minor > minor) return `spec.version ${wantedText} is newer than the server's PostgreSQL ${major}.${minor}`;
  return undefined;
}

/** metav1 object names (DNS-1123 subdomain) and namespaces (label): what the apiserver admits. */
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function planDatabase(request: DeploymentRequest, server: TargetServer): DatabasePlan {
  const spec = request.resource.spec;
  const { namespace, name: objectName } = request.resource;
  // The apiserver never stores such names; a request carrying one was not written from a stored object.
  if (!NAMESPACE_NAME.test(namespace) || namespace.length > 63) throw new PlanRefusal(`resource namespace ${JSON.stringify(namespace)} is not a Kubernetes namespace name`);
  if (!OBJECT_NAME.test(objectName) || objectName.length > 253) throw new PlanRefusal(`resource name ${JSON.stringify(objectName)} is not a Kubernetes object name`);
  if (spec['engine'] !== 'postgresql') throw new PlanRefusal(`the postgresql provider provisions engine postgresql, not ${JSON.stringify(spec['engine'])}`);
  const name = databaseName(request.resource.namespace, request.resource.name);
  const allowed = server.extensions ?? [];
  const extensions: string[] = [];
  const asked = spec['extensions'] ?? [];
  if (!Array.isArray(asked)) throw new PlanRefusal('spec.extensions must be a list');
  for (const ext of asked) {
    if (typeof ext !== 'string' || !SAFE_EXTENSION.test(ext) || ext.length > MAX_IDENTIFIER_BYTES) throw new PlanRefusal(`spec.extensions: ${JSON.stringify(ext)} is not an extension name`);
    if (!allowed.includes(ext)) throw new PlanRefusal(`spec.extensions: ${ext} is not on this DeploymentTarget's allow-list (${allowed.join(', ') || 'none'}); ask the platform team to allow it`);
    if (!extensions.includes(ext)) extensions.push(ext);
  }
  const limit = spec['connectionLimit'];
  if (limit !== undefined && (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > 10_000)) throw new PlanRefusal(`spec.connectionLimit ${JSON.stringify(limit)} must be an integer from 1 to 10000`);
  const backup = spec['backup'] as { enabled?: unknown; schedule?: unknown; retentionDays?: unknown } | undefined;
  let backupPlan: DatabasePlan['backup'];
  if (backup?.enabled === true) {
    if (typeof backup.schedule !== 'string') throw new PlanRefusal('spec.backup.schedule is required when backups are enabled');
    backupPlan = { schedule: backup.schedule, retentionDays: typeof backup.retentionDays === 'number' ? backup.retentionDays : 7 };
  }
  return {
    database: name,
    role: name,
    version: parseVersion(spec['version']),
    ...(limit !== undefined ? { connectionLimit: limit as number } : {}),
    extensions,
    ...(backupPlan ? { backup: backupPlan } : {}),
  };
}

/** `postgresql://user:password@host:port/database`, each part percent-encoded. */
export function connectionUri(c: { host: string; port: number; user: string; password: string; database: string }): string {
  const host = c.host.includes(':') ? `[${c.host}]` : c.host;
  return `postgresql://${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}@${host}:${c.port}/${encodeURIComponent(c.database)}`;
}
