// What the admission benchmark evaluates: the built-in policies plus generated ones up to
// 50, and realistic AdmissionReviews for a Deployment (~5 KB), a Pod and a Database.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { Policy } from '../../crds/types.js';

export const POLICY_COUNT = 50;

export function builtInPolicies(root: string): Policy[] {
  const dir = join(root, 'policies');
  return readdirSync(dir)
    .filter((d) => existsSync(join(dir, d, 'policy.yaml')))
    .sort()
    .map((d) => parse(readFileSync(join(dir, d, 'policy.yaml'), 'utf8')) as Policy);
}

const GENERATED_RULES: Record<string, { name: string; expression: string }[]> = {
  'Deployment.apps': [
    { name: 'replicas-bounded', expression: 'object.spec.?replicas.orValue(1) <= 50' },
    { name: 'team-label', expression: "has(object.metadata.labels) && 'platform.kidp.io/team' in object.metadata.labels" },
    { name: 'images-pinned', expression: "object.spec.template.spec.containers.all(c, c.image.contains(':') && !c.image.endsWith(':latest'))" },
    { name: 'registry', expression: "object.spec.template.spec.containers.all(c, c.image.matches('^registry\\\\.kidp\\\\.io/'))" },
    { name: 'memory-limits', expression: "object.spec.template.spec.containers.all(c, has(c.resources.limits) && 'memory' in c.resources.limits)" },
    { name: 'probes', expression: 'object.spec.template.spec.containers.all(c, has(c.readinessProbe))' },
  ],
  Pod: [
    { name: 'no-host-network', expression: '!object.spec.?hostNetwork.orValue(false)' },
    { name: 'no-host-pid', expression: '!object.spec.?hostPID.orValue(false)' },
    { name: 'non-root', expression: 'object.spec.?securityContext.?runAsNonRoot.orValue(false) == true' },
    { name: 'not-privileged', expression: 'object.spec.containers.all(c, !c.?securityContext.?privileged.orValue(false))' },
    { name: 'cpu-limit', expression: "object.spec.containers.all(c, has(c.resources.limits) && 'cpu' in c.resources.limits)" },
    { name: 'service-account', expression: "object.spec.?serviceAccountName.orValue('default') != 'default'" },
  ],
  Database: [
    { name: 'storage-bounded', expression: 'object.spec.?storageGB.orValue(10) <= 1000' },
    { name: 'engine-known', expression: "object.spec.engine in ['postgresql', 'mysql', 'mongodb']" },
    { name: 'ha-in-production', expression: "object.spec.?environment.orValue('development') != 'production' || object.spec.?highAvailability.orValue(false)" },
    { name: 'retention', expression: 'object.spec.?backup.?retentionDays.orValue(7) >= 7' },
    { name: 'version-major', expression: "int(object.spec.version.split('.')[0]) >= 12" },
    { name: 'owner-set', expression: "object.spec.owner.name != ''" },
  ],
};

/** The built-in policies, then generated ones (Audit/Warn, 6 rules each) up to `count`. */
export function benchPolicies(root: string, count = POLICY_COUNT): Policy[] {
  const policies = builtInPolicies(root);
  const kinds = Object.keys(GENERATED_RULES);
  for (let i = 0; policies.length < count; i++) {
    const kind = kinds[i % kinds.length] as string;
    policies.push({
      apiVersion: 'platform.kidp.io/v1alpha1',
      kind: 'Policy',
      metadata: { name: `bench-${kind.toLowerCase().replace('.', '-')}-${i}` },
      spec: {
        mode: i % 2 === 0 ? 'Audit' : 'Warn',
        selector: { resourceTypes: [kind], operations: ['CREATE', 'UPDATE'] },
        rules: (GENERATED_RULES[kind] ?? []).map((r) => ({ ...r, message: `${r.name} failed`, severity: 'medium' as const })),
      },
    });
  }
  return policies;
}

function container(name: string, i: number) {
  return {
    name,
    image: `registry.kidp.io/payments/${name}:1.${i}.0`,
    ports: [{ containerPort: 8080 + i, name: 'http', protocol: 'TCP' }],
    env: Array.from({ length: 8 }, (_, j) => ({ name: `SETTING_${j}`, value: `value-${j}-${'x'.repeat(20)}` })),
    resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } },
    readinessProbe: { httpGet: { path: '/ready', port: 8080 + i }, periodSeconds: 5 },
    livenessProbe: { httpGet: { path: '/healthz', port: 8080 + i }, periodSeconds: 10 },
    securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
    volumeMounts: [{ name: 'config', mountPath: '/etc/config', readOnly: true }],
  };
}

export function deployment(): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'checkout-api',
      namespace: 'payments',
      labels: { app: 'checkout-api', 'platform.kidp.io/team': 'payments', environment: 'production', 'cost-center': 'CC-1042' },
      annotations: { 'deployment.kubernetes.io/revision': '7', description: 'checkout API '.repeat(10) },
    },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'checkout-api' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: { app: 'checkout-api', 'platform.kidp.io/team': 'payments' } },
        spec: {
          serviceAccountName: 'checkout-api',
          securityContext: { runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001 },
          containers: [container('api', 0), container('sidecar', 1), container('metrics', 2)],
          volumes: [{ name: 'config', configMap: { name: 'checkout-config' } }],
        },
      },
    },
  };
}

export function pod(): Record<string, unknown> {
  const d = deployment() as { spec: { template: { spec: Record<string, unknown> } } };
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'checkout-api-7d9f', namespace: 'payments', labels: { app: 'checkout-api' } }, spec: d.spec.template.spec };
}

export function database(): Record<string, unknown> {
  return {
    apiVersion: 'platform.kidp.io/v1alpha1',
    kind: 'Database',
    metadata: { name: 'ledger', namespace: 'payments', labels: { environment: 'production' } },
    spec: { owner: { kind: 'Team', name: 'payments' }, environment: 'production', engine: 'postgresql', version: '16.2', storageGB: 100, highAvailability: true, backup: { enabled: true, schedule: '0 2 * * *', retentionDays: 30 } },
  };
}

const GVK: Record<string, { group: string; version: string; kind: string; resource: string }> = {
  Deployment: { group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments' },
  Pod: { group: '', version: 'v1', kind: 'Pod', resource: 'pods' },
  Database: { group: 'platform.kidp.io', version: 'v1alpha1', kind: 'Database', resource: 'databases' },
};

export function admissionReview(object: Record<string, unknown>, uid: string): string {
  const g = GVK[object.kind as string] as (typeof GVK)[string];
  const meta = object.metadata as { name: string; namespace: string };
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: g.group, version: g.version, kind: g.kind },
      resource: { group: g.group, version: g.version, resource: g.resource },
      requestKind: { group: g.group, version: g.version, kind: g.kind },
      name: meta.name,
      namespace: meta.namespace,
      operation: 'CREATE',
      userInfo: { username: 'alice@example.com', groups: ['payments-developers', 'system:authenticated'] },
      object,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  });
}
