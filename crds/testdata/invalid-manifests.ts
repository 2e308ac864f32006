// Manifests the apiserver must reject, with the field path its message must name. The
// same table runs offline through validateManifest (crds/validate.test.ts) and online
// through kubectl against the real apiserver (test/crds.e2e.test.ts), so both verdicts
// are compared row by row.
import type { KidpResource, Team, Application, Service, Database, Cache, Topic, Policy, PolicyException, DeploymentTarget } from '../types.js';

export interface InvalidRow {
  name: string;
  manifest: Record<string, unknown>;
  /** Field path the error must name, as the apiserver prints it. */
  path: string;
  /** The rule is an x-kubernetes-validations CEL rule rather than plain schema. */
  cel?: boolean;
}

const V = 'platform.kidp.io/v1alpha1';
const owner = { kind: 'Application', name: 'checkout' } as const;

export const team: Team = {
  apiVersion: V,
  kind: 'Team',
  metadata: { name: 'rowteam' },
  spec: { displayName: 'Row team', costCenter: 'CC-1000', members: [{ kind: 'User', name: 'bob@example.com' }] },
};
export const application: Application = {
  apiVersion: V,
  kind: 'Application',
  metadata: { name: 'rowapp', namespace: 'default' },
  spec: { owner: { kind: 'Team', name: 'rowteam' } },
};
export const service: Service = {
  apiVersion: V,
  kind: 'Service',
  metadata: { name: 'rowsvc', namespace: 'default' },
  spec: { owner, image: 'registry.kidp.io/team/api:1.0.0', replicas: 2 },
};
export const database: Database = {
  apiVersion: V,
  kind: 'Database',
  metadata: { name: 'rowdb', namespace: 'default' },
  spec: { owner, engine: 'postgresql', version: '16' },
};
export const cache: Cache = {
  apiVersion: V,
  kind: 'Cache',
  metadata: { name: 'rowcache', namespace: 'default' },
  spec: { owner, engine: 'redis', evictionPolicy: 'allkeys-lru' },
};
export const topic: Topic = {
  apiVersion: V,
  kind: 'Topic',
  metadata: { name: 'rowtopic', namespace: 'default' },
  spec: { owner, partitions: 3, replicationFactor: 3 },
};
export const policy: Policy = {
  apiVersion: V,
  kind: 'Policy',
  metadata: { name: 'rowpolicy' },
  spec: { mode: 'Audit', selector: { resourceTypes: ['Service'] }, rules: [{ name: 'r', expression: 'true' }] },
};
export const exception: PolicyException = {
  apiVersion: V,
  kind: 'PolicyException',
  metadata: { name: 'rowexception', namespace: 'default' },
  spec: { policyName: 'rowpolicy', expiresAt: '2030-01-01T00:00:00Z', reason: 'migration', match: { names: ['rowsvc'] } },
};
export const target: DeploymentTarget = {
  apiVersion: V,
  kind: 'DeploymentTarget',
  metadata: { name: 'rowtarget' },
  spec: { provider: 'kubernetes', environment: 'staging', broker: { identity: 'row-broker' } },
};

/** The valid base manifests; each row changes one thing. */
export const validRows: KidpResource[] = [team, application, service, database, cache, topic, policy, exception, target];

type Obj = Record<string, unknown>;
function change<T extends object>(base: T, edit: (copy: Obj) => void): Obj {
  const copy = structuredClone(base) as Obj;
  edit(copy);
  return copy;
}
const spec = (o: Obj) => o.spec as Obj;

export const invalidRows: InvalidRow[] = [
  { name: 'team cost center off pattern', path: 'spec.costCenter', manifest: change(team, (o) => (spec(o).costCenter = 'finance')) },
  { name: 'team without members', path: 'spec.members', manifest: change(team, (o) => delete spec(o).members) },
  { name: 'team with empty members', path: 'spec.members', manifest: change(team, (o) => (spec(o).members = [])) },
  { name: 'team member of unknown kind', path: 'spec.members[0].kind', manifest: change(team, (o) => (spec(o).members = [{ kind: 'Robot', name: 'r2' }])) },
  { name: 'application without owner', path: 'spec.owner', manifest: change(application, (o) => delete spec(o).owner) },
  { name: 'application owned by an application', path: 'spec.owner.kind', manifest: change(application, (o) => (spec(o).owner = { kind: 'Application', name: 'x' })) },
  { name: 'application with a bad name', path: 'metadata.name', manifest: change(application, (o) => ((o.metadata as Obj).name = 'Checkout_API')) },
  { name: 'service with negative replicas', path: 'spec.replicas', manifest: change(service, (o) => (spec(o).replicas = -1)) },
  { name: 'service replicas of the wrong type', path: 'spec.replicas', manifest: change(service, (o) => (spec(o).replicas = 'three')) },
  { name: 'service port out of range', path: 'spec.port', manifest: change(service, (o) => (spec(o).port = 70000)) },
  { name: 'service image that is no image reference', path: 'spec.image', manifest: change(service, (o) => (spec(o).image = 'Not An Image!')) },
  { name: 'service with an unknown field', path: 'spec.replica', manifest: change(service, (o) => (spec(o).replica = 3)) },
  { name: 'service owner without a name', path: 'spec.owner.name', manifest: change(service, (o) => (spec(o).owner = { kind: 'Application' })) },
  { name: 'database with negative size', path: 'spec.storageGB', manifest: change(database, (o) => (spec(o).storageGB = -5)) },
  { name: 'database of an unknown engine', path: 'spec.engine', manifest: change(database, (o) => (spec(o).engine = 'oracle')) },
  { name: 'database version that is not a version', path: 'spec.version', manifest: change(database, (o) => (spec(o).version = 'latest')) },
  { name: 'cache with too little memory', path: 'spec.memoryMB', manifest: change(cache, (o) => (spec(o).memoryMB = 8)) },
  { name: 'cache with an unknown eviction policy', path: 'spec.evictionPolicy', manifest: change(cache, (o) => (spec(o).evictionPolicy = 'lru')) },
  { name: 'topic with zero partitions', path: 'spec.partitions', manifest: change(topic, (o) => (spec(o).partitions = 0)) },
  { name: 'topic replicated nine times', path: 'spec.replicationFactor', manifest: change(topic, (o) => (spec(o).replicationFactor = 9)) },
  { name: 'policy in an unknown mode', path: 'spec.mode', manifest: change(policy, (o) => (spec(o).mode = 'Block')) },
  { name: 'policy without rules', path: 'spec.rules', manifest: change(policy, (o) => (spec(o).rules = [])) },
  { name: 'policy rule with an uppercase name', path: 'spec.rules[0].name', manifest: change(policy, (o) => (spec(o).rules = [{ name: 'Rule_1', expression: 'true' }])) },
  { name: 'exception without expiry', path: 'spec.expiresAt', manifest: change(exception, (o) => delete spec(o).expiresAt) },
  { name: 'exception expiry that is no timestamp', path: 'spec.expiresAt', manifest: change(exception, (o) => (spec(o).expiresAt = 'next tuesday')) },
  { name: 'target of an unknown provider', path: 'spec.provider', manifest: change(target, (o) => (spec(o).provider = 'openstack')) },
  { name: 'aws target without spec.aws (region alone)', path: 'spec.aws', cel: true, manifest: change(target, (o) => Object.assign(spec(o), { provider: 'aws', region: 'us-east-1' })) },
  {
    name: 'aws target whose endpoint is no URL',
    path: 'spec.aws.endpoint',
    manifest: change(target, (o) => Object.assign(spec(o), { provider: 'aws', region: 'us-east-1', aws: { endpoint: 'file:///etc/passwd', credentialsSecretRef: { name: 'c', namespace: 'kidp-system' } } })),
  },
  {
    name: 'webhook target without a URL',
    path: 'spec.broker.webhookURL',
    cel: true,
    manifest: change(target, (o) => (spec(o).broker = { identity: 'b', transport: 'webhook' })),
  },
  { name: 'topic min ISR above replication', path: 'spec.minInSyncReplicas', cel: true, manifest: change(topic, (o) => (spec(o).minInSyncReplicas = 4)) },
  {
    name: 'database backup without schedule',
    path: 'spec.backup.schedule',
    cel: true,
    manifest: change(database, (o) => (spec(o).backup = { enabled: true })),
  },
  {
    name: 'memcached with a redis-only eviction policy',
    path: 'spec.evictionPolicy',
    cel: true,
    manifest: change(cache, (o) => Object.assign(spec(o), { engine: 'memcached', evictionPolicy: 'volatile-ttl' })),
  },
];
