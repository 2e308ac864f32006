import { PROTOCOL_VERSION, type DeploymentRequest } from '../contract.js';
import { desiredObjects } from './manifests.js';
import { planTopic } from './topic.js';

function request(kind: DeploymentRequest['resource']['kind'], spec: Record<string, unknown>, targetNamespace?: string): DeploymentRequest {
  return {
    apiVersion: PROTOCOL_VERSION,
    kind: 'DeploymentRequest',
    requestId: 'u1-4',
    action: 'deploy',
    target: { name: 't1', identity: 'b1', provider: 'kubernetes', environment: 'production', ...(targetNamespace ? { namespace: targetNamespace } : {}) },
    resource: { kind, namespace: 'payments', name: 'ledger', uid: 'u1', generation: 4, labels: { 'platform.kidp.io/team': 'payments', other: 'dropped' }, spec },
    issuedAt: '2026-01-01T00:00:00Z',
  };
}

const meta = (name: string, namespace: string, kind: string) => ({
  name,
  namespace,
  labels: {
    'app.kubernetes.io/name': 'ledger',
    'app.kubernetes.io/instance': 'ledger',
    'app.kubernetes.io/managed-by': 'kidp-broker-kubernetes',
    'platform.kidp.io/kind': kind,
    'platform.kidp.io/team': 'payments',
  },
  annotations: { 'broker.kidp.io/request-id': 'u1-4', 'broker.kidp.io/resource-uid': 'u1', 'broker.kidp.io/source': `${kind}/payments/ledger` },
});
const selector = { 'app.kubernetes.io/instance': 'ledger', 'app.kubernetes.io/managed-by': 'kidp-broker-kubernetes' };

describe('desiredObjects', () => {
  it('turns a Service into a Deployment and a Service in the target namespace', () => {
    const spec = { image: 'r/x:1', replicas: 3, port: 9090, env: [{ name: 'A', value: 'b' }], resources: { limits: { cpu: '1' } } };
    expect(desiredObjects(request('Service', spec, 'work'), 'unused')).toEqual([
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: meta('ledger', 'work', 'Service'),
        spec: {
          replicas: 3,
          selector: { matchLabels: selector },
          template: {
            metadata: { labels: selector },
            spec: { containers: [{ name: 'app', image: 'r/x:1', ports: [{ name: 'main', containerPort: 9090 }], env: [{ name: 'A', value: 'b' }], resources: { limits: { cpu: '1' } } }] },
          },
        },
      },
      { apiVersion: 'v1', kind: 'Service', metadata: meta('ledger', 'work', 'Service'), spec: { type: 'ClusterIP', selector, ports: [{ name: 'main', port: 80, targetPort: 9090, protocol: 'TCP' }] } },
    ]);
  });

  it('turns a Database into a Secret, a StatefulSet with storage, and a Service, in the resource namespace by default', () => {
    const secretEnv = (name: string, key: string) => ({ name, valueFrom: { secretKeyRef: { name: 'ledger-connection', key } } });
    expect(desiredObjects(request('Database', { engine: 'postgresql', version: '15', storageGB: 20, highAvailability: true }), 'pw')).toEqual([
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: meta('ledger-connection', 'payments', 'Database'),
        type: 'Opaque',
        stringData: { engine: 'postgresql', host: 'ledger.payments.svc', port: '5432', password: 'pw', username: 'kidp', database: 'ledger' },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: meta('ledger', 'payments', 'Database'),
        spec: {
          serviceName: 'ledger',
          replicas: 3,
          selector: { matchLabels: selector },
          template: {
            metadata: { labels: selector },
            spec: {
              containers: [
                {
                  name: 'postgresql',
                  image: 'postgres:15',
                  ports: [{ name: 'main', containerPort: 5432 }],
                  env: [secretEnv('POSTGRES_USER', 'username'), secretEnv('POSTGRES_PASSWORD', 'password'), secretEnv('POSTGRES_DB', 'database')],
                  volumeMounts: [{ name: 'data', mountPath: '/var/lib/data' }],
                },
              ],
            },
          },
          volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '20Gi' } } } }],
          persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Retain' },
        },
      },
      { apiVersion: 'v1', kind: 'Service', metadata: meta('ledger', 'payments', 'Database'), spec: { type: 'ClusterIP', selector, ports: [{ name: 'main', port: 5432, targetPort: 5432, protocol: 'TCP' }] } },
    ]);
  });

  it('configures a redis Cache from memoryMB and evictionPolicy, with no volume', () => {
    const [secret, sts] = desiredObjects(request('Cache', { engine: 'redis', memoryMB: 512, evictionPolicy: 'volatile-lru' }), 'pw') as unknown as [
      { stringData: unknown },
      { spec: { template: { spec: { containers: unknown[] } } } },
    ];
    expect({ secret: secret.stringData, container: sts.spec.template.spec.containers[0] }).toEqual({
      secret: { engine: 'redis', host: 'ledger.payments.svc', port: '6379', password: 'pw' },
      container: {
        name: 'redis',
        image: 'redis:7',
        ports: [{ name: 'main', containerPort: 6379 }],
        env: [{ name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'ledger-connection', key: 'password' } } }],
        command: ['sh', '-c', 'exec redis-server --requirepass "$REDIS_PASSWORD" --maxmemory 512mb --maxmemory-policy volatile-lru'],
      },
    });
  });

  it('creates no Kubernetes objects for a Topic (it is a Kafka topic)', () => {
    expect(desiredObjects(request('Topic', { partitions: 3 }), 'pw')).toEqual([]);
  });
});

describe('planTopic', () => {
  it.each([
    ['defaults', {}, 1, { topic: 'payments.ledger', numPartitions: 3, replicationFactor: 1, capped: false, configEntries: [{ name: 'retention.ms', value: '604800000' }, { name: 'cleanup.policy', value: 'delete' }] }],
    ['replication capped to the broker count, min ISR with it', { partitions: 12, replicationFactor: 3, minInSyncReplicas: 2, retentionHours: 1, cleanupPolicy: 'compact' }, 1, {
      topic: 'payments.ledger',
      numPartitions: 12,
      replicationFactor: 1,
      capped: true,
      configEntries: [{ name: 'retention.ms', value: '3600000' }, { name: 'cleanup.policy', value: 'compact' }, { name: 'min.insync.replicas', value: '1' }],
    }],
    ['no cap when there are enough brokers', { replicationFactor: 3, minInSyncReplicas: 2 }, 5, {
      topic: 'payments.ledger',
      numPartitions: 3,
      replicationFactor: 3,
      capped: false,
      configEntries: [{ name: 'retention.ms', value: '604800000' }, { name: 'cleanup.policy', value: 'delete' }, { name: 'min.insync.replicas', value: '2' }],
    }],
  ])('%s', (_name, spec, brokers, expected) => {
    expect(planTopic(request('Topic', spec), brokers)).toEqual(expected);
  });
});
