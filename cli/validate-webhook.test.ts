// `kidp validate` and the running webhook give the same answers (issue 13 item 4): the same
// manifests go through admitOffline() and, over real HTTPS, through a webhook server holding
// the same objects and policies; the whole AdmissionResponses of both webhooks are compared,
// object by object, with what each would store fed back as the cluster would hold it.
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { parseAllDocuments } from 'yaml';
import { startWebhookServer, toResponse, type AdmissionRequest, type AdmissionResponse, type JsonPatchOperation, type KubeObject, type WebhookServer } from '../admission/index.js';
import { createCertificateManager } from '../certs/index.js';
import { applyJsonPatch } from './json-patch.js';
import { admitOffline, createRequest, loadPolicies, NOT_CALLED as notCalled, offlineContext, webhookCalled } from './validate.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const NOW = new Date('2026-06-01T00:00:00Z');

const MANIFESTS = `
apiVersion: platform.kidp.io/v1alpha1
kind: Team
metadata: {name: payments, labels: {cost-center: CC-1042}}
spec: {displayName: Payments, costCenter: CC-1042, members: [{kind: User, name: alice}], namespaces: [payments]}
---
apiVersion: platform.kidp.io/v1alpha1
kind: DeploymentTarget
metadata: {name: prod-eu}
spec: {provider: kubernetes, environment: production, default: true, broker: {identity: broker-eu}}
---
apiVersion: platform.kidp.io/v1alpha1
kind: Application
metadata: {name: checkout, namespace: payments}
spec: {owner: {kind: Team, name: payments}, environment: production}
---
apiVersion: platform.kidp.io/v1alpha1
kind: Service
metadata: {name: api, namespace: payments}
spec: {owner: {kind: Application, name: checkout}, image: registry.example.com/checkout/api:1.0.0, port: 8080}
---
apiVersion: platform.kidp.io/v1alpha1
kind: Database
metadata: {name: orders-db, namespace: payments}
spec: {owner: {kind: Application, name: checkout}, engine: postgresql, version: "16"}
---
apiVersion: platform.kidp.io/v1alpha1
kind: Cache
metadata: {name: sessions, namespace: payments}
spec: {owner: {kind: Team, name: payments}, engine: redis, memoryMB: 64}
---
apiVersion: platform.kidp.io/v1alpha1
kind: Cache
metadata: {name: stray, namespace: payments}
spec: {owner: {kind: Team, name: marketing}, engine: redis, memoryMB: 64, evictionPolicy: allkeys-lru}
---
apiVersion: platform.kidp.io/v1alpha1
kind: Topic
metadata: {name: events, namespace: payments}
spec: {owner: {kind: Service, name: api}, partitions: 3}
---
apiVersion: platform.kidp.io/v1alpha1
kind: PolicyException
metadata: {name: late, namespace: payments}
spec: {policyName: production-databases-require-backup, ruleNames: [require-backup], match: {resourceTypes: [Database]}, expiresAt: "2026-01-01T00:00:00Z", reason: too late}
---
apiVersion: platform.kidp.io/v1alpha1
kind: Policy
metadata: {name: broken}
spec:
  mode: Enforce
  selector: {resourceTypes: [Topic]}
  rules: [{name: r, expression: "spec.partitions == 'x'"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: payments}
spec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: nginx}]}}}
`;

const objects = parseAllDocuments(MANIFESTS).map((d) => d.toJS() as KubeObject);
const library = loadPolicies(join(root, 'policies'));
const inputs = { policies: library.sources, exceptions: library.exceptions };

let server: WebhookServer;
let ca: string;
let certDir: string;
let online: ReturnType<typeof offlineContext>;

function post(path: string, request: AdmissionRequest): Promise<AdmissionResponse> {
  const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: server.port, path, method: 'POST', ca, servername: 'localhost', headers: { 'content-type': 'application/json' } }, (res) => {
      let data = '';
      res.on('data', (d: Buffer) => (data += d.toString()));
      res.on('end', () => resolve((JSON.parse(data) as { response: AdmissionResponse }).response));
    });
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'kidp-validate-'));
  const material = await createCertificateManager({ dir: certDir, serviceName: 'kidp-webhook', namespace: 'kidp-system' }).start();
  ca = material.caBundlePem;
  online = offlineContext(objects, inputs, { now: NOW, requireOwners: true });
  server = await startWebhookServer({ logger: pino({ level: 'silent' }), tls: { cert: material.certPem, key: material.keyPem }, view: online.view, store: online.store, host: '127.0.0.1', port: 0, now: () => NOW });
});

afterAll(async () => {
  await server.close();
  rmSync(certDir, { recursive: true, force: true });
});

describe('kidp validate and the webhook', () => {
  it('answer every manifest with the same mutating and validating AdmissionResponses', async () => {
    const offline = offlineContext(objects, inputs, { now: NOW, requireOwners: true });
    const offlineAnswers: unknown[] = [];
    const onlineAnswers: unknown[] = [];
    for (const object of objects) {
      const request = createRequest(object);
      const admitted = admitOffline(object, offline);
      offline.view.upsert(admitted.object);
      offlineAnswers.push({
        object: `${object.kind}/${object.metadata?.name}`,
        mutate: toResponse(request.uid, admitted.mutation),
        validate: admitted.validation ? toResponse(request.uid, admitted.validation) : 'schema',
      });

      // As the apiserver: only what the generated configurations' rules match reaches a webhook.
      const mutateResponse = webhookCalled('mutating', request, online.store) ? await post('/mutate', request) : toResponse(request.uid, notCalled);
      const patch = mutateResponse.patch ? (JSON.parse(Buffer.from(mutateResponse.patch, 'base64').toString('utf8')) as JsonPatchOperation[]) : [];
      const stored = applyJsonPatch(object, patch);
      const validateResponse =
        admitted.schema.length > 0 ? 'schema' : webhookCalled('validating', request, online.store) ? await post('/validate', { ...request, object: stored }) : toResponse(request.uid, notCalled);
      online.view.upsert(stored);
      onlineAnswers.push({ object: `${object.kind}/${object.metadata?.name}`, mutate: mutateResponse, validate: validateResponse });
    }
    expect(offlineAnswers).toEqual(onlineAnswers);
    // The comparison covers mutation, ownership, Policy objects, exceptions and policies.
    const summary = (onlineAnswers as Array<{ object: string; mutate: AdmissionResponse; validate: AdmissionResponse | 'schema' }>).map((a) => ({
      object: a.object,
      patched: a.mutate.patch !== undefined,
      allowed: a.validate === 'schema' ? 'schema' : a.validate.allowed,
      reason: a.validate === 'schema' ? undefined : a.validate.status?.reason,
      warned: a.validate !== 'schema' && (a.validate.warnings?.length ?? 0) > 0,
    }));
    expect(summary).toEqual([
      { object: 'Team/payments', patched: true, allowed: true, reason: undefined, warned: false },
      { object: 'DeploymentTarget/prod-eu', patched: false, allowed: true, reason: undefined, warned: false },
      { object: 'Application/checkout', patched: true, allowed: true, reason: undefined, warned: false },
      { object: 'Service/api', patched: true, allowed: expect.any(Boolean), reason: expect.anything(), warned: expect.any(Boolean) },
      { object: 'Database/orders-db', patched: true, allowed: false, reason: 'PolicyViolation', warned: false },
      { object: 'Cache/sessions', patched: true, allowed: true, reason: undefined, warned: true },
      { object: 'Cache/stray', patched: true, allowed: false, reason: 'OwnerNotFound', warned: false },
      { object: 'Topic/events', patched: true, allowed: 'schema', reason: undefined, warned: false },
      { object: 'PolicyException/late', patched: false, allowed: false, reason: 'PolicyExceptionInvalid', warned: false },
      { object: 'Policy/broken', patched: false, allowed: false, reason: 'PolicyInvalid', warned: false },
      { object: 'Deployment/web', patched: false, allowed: expect.any(Boolean), reason: expect.anything(), warned: expect.any(Boolean) },
    ]);
  });

  it('sends to each webhook only what its generated configuration matches, as the apiserver does', () => {
    const store = offlineContext([], inputs, { now: NOW }).store;
    const cases: Array<[string, KubeObject]> = [
      ['Database in a team namespace', { apiVersion: 'platform.kidp.io/v1alpha1', kind: 'Database', metadata: { name: 'd', namespace: 'payments' } }],
      ['Database in kube-system', { apiVersion: 'platform.kidp.io/v1alpha1', kind: 'Database', metadata: { name: 'd', namespace: 'kube-system' } }],
      ['Policy (cluster-scoped)', { apiVersion: 'platform.kidp.io/v1alpha1', kind: 'Policy', metadata: { name: 'p' } }],
      ['Deployment a Policy selects', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'w', namespace: 'payments' } }],
      ['ConfigMap no Policy selects', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'payments' } }],
      ['the platform namespace itself', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kidp-system' } }],
    ];
    expect(cases.map(([what, o]) => [what, webhookCalled('mutating', createRequest(o), store), webhookCalled('validating', createRequest(o), store)])).toEqual([
      ['Database in a team namespace', true, true],
      // KIDP's own kinds are validated in every namespace (so ownership refuses a Database in
      // kube-system), while mutation and core kinds stay out of the excluded namespaces.
      ['Database in kube-system', false, true],
      ['Policy (cluster-scoped)', false, true],
      ['Deployment a Policy selects', false, true],
      ['ConfigMap no Policy selects', false, false],
      ['the platform namespace itself', false, false],
    ]);
  });
});
