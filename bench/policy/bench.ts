// npm run bench:policy — policy evaluation speed (issue 3, item 9). Not a timed test:
// prints medians and the machine, and says whether the targets were met.
//   1. median ns per rule over the built-in library's rules on realistic objects;
//   2. time to evaluate 50 policies (>= 300 rules) against a 5 KB Deployment, each
//      request a fresh object (so input conversion is counted, as in the webhook).
// Runs under tsx (devDependency) straight from the sources.

import { availableParallelism, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CelMap } from '../../policy-engine/policy/cel.js';
import { compilePolicy, type CompiledPolicy } from '../../policy-engine/policy/compile.js';
import { evaluate, evaluatePolicy } from '../../policy-engine/policy/evaluate.js';
import { syntheticRequest } from '../../policy-engine/policy/request.js';
import type { KubeObject, Policy } from '../../policy-engine/policy/types.js';
import { loadPolicies } from '../../cli/validate.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const now = new Date();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median over `rounds` of the mean ns per call over `batch` calls. */
function measure(fn: (i: number) => void, batch: number, rounds = 15): number {
  for (let i = 0; i < batch; i++) fn(i); // warm up
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn(i);
    samples.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  return median(samples);
}

const meta = (name: string, namespace = 'payments', labels: Record<string, string> = {}) => ({
  name,
  namespace,
  uid: '8d9c1f6e-1b7e-4a53-9a0c-3f1c2b4d5e6f',
  labels: { 'platform.kidp.io/team': 'payments', 'platform.kidp.io/managed-by': 'kidp', ...labels },
});
const kidp = 'platform.kidp.io/v1alpha1';

/** Realistic objects for the library's policies (the shapes of examples/). */
const objects: KubeObject[] = [
  {
    apiVersion: kidp,
    kind: 'Database',
    metadata: meta('checkout-db'),
    spec: {
      owner: { kind: 'Application', name: 'checkout' },
      environment: 'production',
      engine: 'postgresql',
      version: '16',
      storageGB: 50,
      backup: { enabled: true, schedule: '0 2 * * *', retentionDays: 30 },
    },
  },
  {
    apiVersion: kidp,
    kind: 'Service',
    metadata: meta('checkout-api'),
    spec: {
      owner: { kind: 'Application', name: 'checkout' },
      environment: 'production',
      image: 'registry.kidp.io/payments/checkout-api:1.4.2',
      replicas: 3,
      port: 8080,
      resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } },
      securityContext: { privileged: false, runAsNonRoot: true, runAsUser: 10001 },
    },
  },
  {
    apiVersion: kidp,
    kind: 'Cache',
    metadata: meta('sessions'),
    spec: { owner: { kind: 'Application', name: 'checkout' }, engine: 'redis', memoryMB: 512, evictionPolicy: 'allkeys-lru' },
  },
  {
    apiVersion: kidp,
    kind: 'Topic',
    metadata: meta('payment-events'),
    spec: { owner: { kind: 'Application', name: 'checkout' }, environment: 'production', partitions: 12, replicationFactor: 3, minInSyncReplicas: 2 },
  },
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'payments', labels: { 'cost-center': 'cc-1234', 'platform.kidp.io/team': 'payments' } } },
  deployment(),
];

function container(name: string, i: number): Record<string, unknown> {
  return {
    name,
    image: `registry.kidp.io/payments/${name}:1.${i}.0`,
    imagePullPolicy: 'IfNotPresent',
    args: ['--port=8080', '--log-format=json', `--instance=${name}`],
    env: [
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'checkout-db', key: 'url' } } },
      { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://otel-collector.observability:4317' },
      { name: 'FEATURE_FLAGS', value: 'new-checkout,fast-refunds' },
    ],
    ports: [{ name: 'http', containerPort: 8080 + i, protocol: 'TCP' }],
    resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } },
    securityContext: { runAsNonRoot: true, runAsUser: 10001 + i, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
    livenessProbe: { httpGet: { path: '/healthz', port: 8080 + i }, periodSeconds: 10 },
    readinessProbe: { httpGet: { path: '/ready', port: 8080 + i }, periodSeconds: 5 },
    volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
  };
}

/** A Deployment of about 5 KB of JSON. */
function deployment(): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      ...meta('checkout-api', 'payments', { app: 'checkout-api', 'app.kubernetes.io/version': '1.4.2', environment: 'production' }),
      annotations: { 'deployment.kubernetes.io/revision': '42', 'kidp.io/owner': 'payments-team', 'kidp.io/runbook': 'https://runbooks.kidp.io/checkout' },
    },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'checkout-api' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
      template: {
        metadata: { labels: { app: 'checkout-api', environment: 'production' } },
        spec: {
          serviceAccountName: 'checkout-api',
          securityContext: { runAsNonRoot: true, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
          initContainers: [container('migrate', 0)],
          containers: [container('api', 1), container('worker', 2), container('proxy', 3)],
          volumes: [{ name: 'tmp', emptyDir: {} }],
          tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'payments', effect: 'NoSchedule' }],
          nodeSelector: { 'kubernetes.io/os': 'linux' },
        },
      },
    },
  };
}

// Rules a platform team writes for Deployments; the 50 policies draw 6-7 each from here,
// with their own constants so no two policies are the same program.
function deploymentRules(p: number): Policy['spec']['rules'] {
  const min = 1 + (p % 3);
  const pool: Policy['spec']['rules'] = [
    { name: 'replicas', expression: `spec.?replicas.orValue(1) >= ${min}`, message: `at least ${min} replicas` },
    {
      name: 'registry',
      expression: `spec.template.spec.containers.all(c, c.image.startsWith('registry.kidp.io/') || c.image.startsWith('ghcr.io/team-${p}/'))`,
      messageExpression: "'image not allowed in ' + metadata.name",
    },
    { name: 'no-latest', expression: "spec.template.spec.containers.all(c, !c.image.endsWith(':latest'))" },
    { name: 'not-privileged', expression: 'spec.template.spec.containers.all(c, !c.?securityContext.?privileged.orValue(false))' },
    { name: 'non-root', expression: 'spec.template.spec.?securityContext.?runAsNonRoot.orValue(false) || spec.template.spec.containers.all(c, c.?securityContext.?runAsNonRoot.orValue(false))' },
    { name: 'limits', expression: "spec.template.spec.containers.all(c, has(c.resources) && has(c.resources.limits) && 'memory' in c.resources.limits)" },
    { name: 'team-label', expression: `metadata.?labels[?'platform.kidp.io/team'].orValue('') != '' && size(metadata.name) < ${60 + p}` },
    { name: 'probes', expression: 'spec.template.spec.containers.all(c, has(c.readinessProbe))' },
    { name: 'no-host-network', expression: '!spec.template.spec.?hostNetwork.orValue(false)' },
    { name: 'env-no-secrets', expression: `spec.template.spec.containers.all(c, !c.?env.orValue([]).exists(e, e.name == 'PASSWORD_${p}' && has(e.value)))` },
  ];
  const count = 6 + (p % 2);
  return Array.from({ length: count }, (_, i) => pool[(p + i) % pool.length]!).map((r) => ({ ...r, name: `${r.name}-${p}` }));
}

function fiftyPolicies(): CompiledPolicy[] {
  return Array.from({ length: 50 }, (_, p) =>
    compilePolicy({
      apiVersion: kidp,
      kind: 'Policy',
      metadata: { name: `deployment-policy-${p}` },
      spec: {
        mode: (['Enforce', 'Warn', 'Audit'] as const)[p % 3],
        selector: { resourceTypes: ['Deployment.apps'] },
        ...(p % 5 === 0 ? { matchConditions: [{ name: 'not-system', expression: "!request.userInfo.username.startsWith('system:')" }] } : {}),
        ...(p % 4 === 0 ? { variables: [{ name: 'pod', expression: 'spec.template.spec' }] } : {}),
        rules: deploymentRules(p),
      },
    }),
  );
}

function main(): void {
  console.log(`machine: nproc=${availableParallelism()}, cpu=${cpus()[0]?.model ?? 'unknown'}, node ${process.version}`);

  // 1. Per rule: every rule of the library that applies to one of the objects.
  const { policies: library } = loadPolicies(join(root, 'policies'));
  const perRule: { rule: string; ns: number }[] = [];
  const perPolicy: { policy: string; rules: number; ns: number }[] = [];
  const namespaceObject = objects.find((o) => o.kind === 'Namespace')!;
  const inputFor = (object: KubeObject) => ({ request: syntheticRequest(object), namespaceObject });
  for (const object of objects) {
    const input = inputFor(object);
    for (const policy of library) {
      const ev = evaluatePolicy(policy, input, { now });
      if (!ev.applied) continue;
      // Variables are computed once per request in admission; here once, up front, so
      // each rule's own program is what is timed.
      const variables = new CelMap();
      const activation = (name: string): unknown => {
        switch (name) {
          case 'object':
            return object;
          case 'oldObject':
            return null;
          case 'namespaceObject':
            return namespaceObject;
          case 'request':
            return input.request;
          case 'variables':
            return variables;
          case 'spec':
          case 'metadata':
          case 'status':
            return object[name] ?? null;
          default:
            return undefined;
        }
      };
      for (const v of policy.variables) variables.set(v.name, v.program.evaluate(activation));
      for (const rule of policy.rules) {
        const ns = measure(() => rule.program.evaluate(activation), 2000);
        perRule.push({ rule: `${policy.name}/${rule.name}`, ns });
      }
      const whole = measure(() => evaluatePolicy(policy, input, { now }), 1000);
      perPolicy.push({ policy: policy.name, rules: policy.rules.length, ns: whole });
    }
  }
  perRule.sort((a, b) => a.ns - b.ns);
  for (const r of perRule) console.log(`  ${r.ns.toFixed(0).padStart(7)} ns  ${r.rule}`);
  const ruleMedian = median(perRule.map((r) => r.ns));
  console.log('whole policy (matching, variables, every rule, decision), per rule:');
  for (const p of perPolicy) console.log(`  ${(p.ns / p.rules).toFixed(0).padStart(7)} ns  ${p.policy} (${p.rules} rules, ${p.ns.toFixed(0)} ns)`);
  console.log(`per rule: median ${ruleMedian.toFixed(0)} ns over ${perRule.length} rules (target <= 2000 ns): ${ruleMedian <= 2000 ? 'met' : 'NOT met'}`);

  // 2. 50 policies against a 5 KB Deployment, a fresh object per request.
  const policies = fiftyPolicies();
  const ruleCount = policies.reduce((n, p) => n + p.rules.length, 0);
  const template = deployment();
  const size = Buffer.byteLength(JSON.stringify(template));
  const fresh = Array.from({ length: 4000 }, () => ({ request: syntheticRequest(structuredClone(template)) }));
  const first = evaluate(policies, fresh[0]!, { now });
  const failing = first.evaluations.filter((e) => e.applied && e.rules.some((r) => r.result !== 'pass')).length;
  if (failing > 0) throw new Error(`bench object should pass every rule; ${failing} policies did not: ${first.message ?? first.warnings.join('; ')}`);
  const ns = measure((i) => evaluate(policies, fresh[i % fresh.length]!, { now }), 200, 15);
  console.log(
    `50 policies (${ruleCount} rules) on a ${size}-byte Deployment: median ${(ns / 1000).toFixed(1)} us per object ` +
      `(target <= 1000 us): ${ns <= 1_000_000 ? 'met' : 'NOT met'}`,
  );
  const sameObject = { request: syntheticRequest(template) };
  const warm = measure(() => evaluate(policies, sameObject, { now }), 200, 15);
  console.log(`  same object again (input conversion cached): median ${(warm / 1000).toFixed(1)} us per object`);
}

main();
