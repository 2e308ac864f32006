// What the reference `kubernetes` broker creates for a request, as plain objects (pure, so
// tests compare whole manifests). Service → Deployment + Service; Database or Cache →
// StatefulSet + Service + connection Secret. Every object carries the request id and the
// source uid, which is how re-delivery is recognised and how delete finds what we made.
import type { DeploymentRequest } from '../contract.js';

export const ANNOTATION_REQUEST_ID = 'broker.kidp.io/request-id';
export const ANNOTATION_RESOURCE_UID = 'broker.kidp.io/resource-uid';
export const ANNOTATION_SOURCE = 'broker.kidp.io/source';
export const FIELD_MANAGER = 'kidp-broker-kubernetes';
/** The Service's databaseSelector (JSON matchLabels) on its Deployment, for relationships.ts. */
export const ANNOTATION_DATABASE_SELECTOR = 'broker.kidp.io/database-selector';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string>; annotations: Record<string, string> };
  [key: string]: unknown;
}

/** Where the objects land: the target's namespace, else the resource's own. */
export function targetNamespace(request: DeploymentRequest): string {
  return request.target.namespace ?? request.resource.namespace;
}

export function connectionSecretName(request: DeploymentRequest): string {
  return `${request.resource.name}-connection`;
}

interface Engine {
  image: string;
  port: number;
  user?: string;
  env?: (secret: string) => Array<Record<string, unknown>>;
  args?: string[];
}

function secretEnv(secret: string, name: string, key: string) {
  return { name, valueFrom: { secretKeyRef: { name: secret, key } } };
}

/** Images and ports per engine; versions come from the spec (schema-validated upstream). */
function engineFor(request: DeploymentRequest): Engine {
  const spec = request.resource.spec;
  const version = typeof spec['version'] === 'string' ? spec['version'] : undefined;
  switch (spec['engine']) {
    case 'postgresql':
      return { image: `postgres:${version ?? '16'}`, port: 5432, user: 'kidp', env: (s) => [secretEnv(s, 'POSTGRES_USER', 'username'), secretEnv(s, 'POSTGRES_PASSWORD', 'password'), secretEnv(s, 'POSTGRES_DB', 'database')] };
    case 'mysql':
      return { image: `mysql:${version ?? '8'}`, port: 3306, user: 'kidp', env: (s) => [secretEnv(s, 'MYSQL_USER', 'username'), secretEnv(s, 'MYSQL_PASSWORD', 'password'), secretEnv(s, 'MYSQL_ROOT_PASSWORD', 'password'), secretEnv(s, 'MYSQL_DATABASE', 'database')] };
    case 'mongodb':
      return { image: `mongo:${version ?? '7'}`, port: 27017, user: 'kidp', env: (s) => [secretEnv(s, 'MONGO_INITDB_ROOT_USERNAME', 'username'), secretEnv(s, 'MONGO_INITDB_ROOT_PASSWORD', 'password')] };
    case 'redis': {
      const memory = typeof spec['memoryMB'] === 'number' ? spec['memoryMB'] : 256;
      const eviction = typeof spec['evictionPolicy'] === 'string' ? spec['evictionPolicy'] : 'allkeys-lru';
      return { image: `redis:${version ?? '7'}`, port: 6379, env: (s) => [secretEnv(s, 'REDIS_PASSWORD', 'password')], args: ['sh', '-c', `exec redis-server --requirepass "$REDIS_PASSWORD" --maxmemory ${memory}mb --maxmemory-policy ${eviction}`] };
    }
    case 'memcached': {
      const memory = typeof spec['memoryMB'] === 'number' ? spec['memoryMB'] : 256;
      return { image: `memcached:${version ?? '1.6'}`, port: 11211, args: ['memcached', '-m', String(memory)] };
    }
    default:
      throw new Error(`unknown engine ${JSON.stringify(spec['engine'])}`);
  }
}

/** Labels and the request/uid/source annotations every object a broker makes for a resource carries. */
export function resourceMeta(request: DeploymentRequest, name: string): K8sObject['metadata'] {
  const r = request.resource;
  return {
    name,
    namespace: targetNamespace(request),
    labels: {
      'app.kubernetes.io/name': r.name,
      'app.kubernetes.io/instance': r.name,
      'app.kubernetes.io/managed-by': FIELD_MANAGER,
      'platform.kidp.io/kind': r.kind,
      ...Object.fromEntries(Object.entries(r.labels).filter(([k]) => k.startsWith('platform.kidp.io/'))),
    },
    annotations: {
      [ANNOTATION_REQUEST_ID]: request.requestId,
      [ANNOTATION_RESOURCE_UID]: r.uid,
      [ANNOTATION_SOURCE]: `${r.kind}/${r.namespace}/${r.name}`,
    },
  };
}

function selector(request: DeploymentRequest): Record<string, string> {
  return { 'app.kubernetes.io/instance': request.resource.name, 'app.kubernetes.io/managed-by': FIELD_MANAGER };
}

function service(request: DeploymentRequest, port: number, targetPort: number): K8sObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: resourceMeta(request, request.resource.name),
    spec: { type: 'ClusterIP', selector: selector(request), ports: [{ name: 'main', port, targetPort, protocol: 'TCP' }] },
  };
}

/** The connection Secret's data (clear text; the caller base64-encodes via stringData). */
export function connectionData(request: DeploymentRequest, password: string): Record<string, string> {
  const engine = engineFor(request);
  const host = `${request.resource.name}.${targetNamespace(request)}.svc`;
  const data: Record<string, string> = { engine: String(request.resource.spec['engine']), host, port: String(engine.port), password };
  if (engine.user) {
    data['username'] = engine.user;
    data['database'] = request.resource.name.replace(/[^a-z0-9]/g, '_');
  }
  return data;
}

export function desiredObjects(request: DeploymentRequest, password: string): K8sObject[] {
  const r = request.resource;
  const spec = r.spec;
  if (r.kind === 'Service') {
    const port = typeof spec['port'] === 'number' ? spec['port'] : 8080;
    const container: Record<string, unknown> = { name: 'app', image: spec['image'], ports: [{ name: 'main', containerPort: port }] };
    if (Array.isArray(spec['env'])) container['env'] = spec['env'];
    if (spec['resources']) container['resources'] = spec['resources'];
    if (spec['securityContext']) container['securityContext'] = spec['securityContext'];
    const autoscaling = spec['autoscaling'] as { minReplicas?: number } | undefined;
    const replicas = typeof spec['replicas'] === 'number' ? spec['replicas'] : (autoscaling?.minReplicas ?? 1);
    const metadata = resourceMeta(request, r.name);
    // The resync of relationships.ts reads it back: no request carries the selector then.
    const databaseSelector = (spec['dependencies'] as { databaseSelector?: { matchLabels?: Record<string, string> } } | undefined)?.databaseSelector;
    if (databaseSelector) metadata.annotations[ANNOTATION_DATABASE_SELECTOR] = JSON.stringify(databaseSelector.matchLabels ?? {});
    return [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata,
        spec: { replicas, selector: { matchLabels: selector(request) }, template: { metadata: { labels: selector(request) }, spec: { containers: [container] } } },
      },
      service(request, 80, port),
    ];
  }
  if (r.kind === 'Database' || r.kind === 'Cache') {
    const engine = engineFor(request);
    const secretName = connectionSecretName(request);
    const container: Record<string, unknown> = { name: String(spec['engine']), image: engine.image, ports: [{ name: 'main', containerPort: engine.port }] };
    if (engine.env) container['env'] = engine.env(secretName);
    if (engine.args) container['command'] = engine.args;
    const statefulSpec: Record<string, unknown> = {
      serviceName: r.name,
      replicas: spec['highAvailability'] === true ? 3 : 1,
      selector: { matchLabels: selector(request) },
      template: { metadata: { labels: selector(request) }, spec: { containers: [container] } },
    };
    if (r.kind === 'Database') {
      const storage = typeof spec['storageGB'] === 'number' ? spec['storageGB'] : 10;
      container['volumeMounts'] = [{ name: 'data', mountPath: '/var/lib/data' }];
      statefulSpec['volumeClaimTemplates'] = [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: `${storage}Gi` } } } }];
      // Deleting the Database deletes its data too: the request says so, nothing else keeps it.
      statefulSpec['persistentVolumeClaimRetentionPolicy'] = { whenDeleted: 'Delete', whenScaled: 'Retain' };
    }
    return [
      { apiVersion: 'v1', kind: 'Secret', metadata: resourceMeta(request, secretName), type: 'Opaque', stringData: connectionData(request, password) },
      { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: resourceMeta(request, r.name), spec: statefulSpec },
      service(request, engine.port, engine.port),
    ];
  }
  return [];
}
