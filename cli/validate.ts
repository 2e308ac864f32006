// `kidp validate -f <file|dir>... --policies <dir>`: offline admission. Each resource goes
// through what the apiserver does on CREATE, minus what needs a cluster: the mutating
// webhook, its patch applied, the CRD schema (ajv, crds/), then the validating webhook
// (ownership over the input set, Policy and PolicyException objects, every matching Policy
// with PolicyExceptions from either input). Both webhooks are admission's own functions
// (admission/index.ts), so an offline verdict is the online one for the same inputs.

// The webhook's decision functions, not admission/index.ts: that also loads the HTTPS server
// and @kubernetes/client-node, most of `kidp validate`'s start-up (crds/folder-boundaries.test.ts).
import { MemoryView } from '../admission/memory-view.js';
import { mutate } from '../admission/mutate.js';
import { PolicyStore } from '../admission/policy-store.js';
import { validate } from '../admission/validate.js';
import { webhookConfigurations } from '../admission/webhook-config.js';
import type { Decision } from '../admission/decision.js';
import type { AdmissionRequest } from '../admission/review.js';
import { validateManifest } from '../crds/index.js';
import { findKind, LABELS, PLATFORM_GROUP } from '../crds/registry.js';
import { compilePolicy, KidpPolicyError, MemoryParamSource, PolicyInvalidError, type CompiledPolicy, type KubeObject, type ParamSource, type Policy, type PolicyException } from '../policy-engine/policy/index.js';
import { syntheticRequest } from '../policy-engine/policy/request.js';
import { tableBackend, type AuthzBackend, type AuthzRule } from '../policy-engine/policy/index.js';
import { expandPaths, readYamlFile, type YamlDocument } from '../policy-engine/suite/yaml-input.js';
import { applyJsonPatch } from './json-patch.js';
import { readYamlDocuments } from './precompiled-yaml.js';

export interface ValidateOptions {
  files: readonly string[];
  policies?: string;
  /** Files or directories of param objects (Policies' paramKind/paramRef). */
  params?: readonly string[];
  /** A YAML file of answers for `authorizer` checks (see authzFromFile). */
  authz?: string;
  now: Date;
  requireOwners?: boolean;
}

export interface ResourceVerdict {
  /** `Kind namespace/name` (or `Kind name` when cluster-scoped). */
  resource: string;
  verdict: 'ADMITTED' | 'DENIED' | 'WARN';
  messages: string[];
  /** Where the document starts (1-based line), for annotations (validate-output.ts). */
  file: string;
  line: number;
}

/**
 * kustomize's own files (kustomization.yaml, a Component) configure a build; they are never
 * sent to the apiserver, so a repository's `kidp validate` passes over them (Flux and
 * `kubectl apply -k` read them, then apply what they list).
 */
function isKustomizeConfig(v: unknown): boolean {
  return isRecord(v) && typeof v.apiVersion === 'string' && v.apiVersion.startsWith('kustomize.config.k8s.io/');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function label(doc: YamlDocument): string {
  const o = doc.value as KubeObject;
  const kind = typeof o.kind === 'string' ? o.kind : '(no kind)';
  const name = typeof o.metadata?.name === 'string' ? o.metadata.name : `(unnamed at ${doc.file}:${doc.line})`;
  const ns = o.metadata?.namespace;
  return ns ? `${kind} ${ns}/${name}` : `${kind} ${name}`;
}

function schemaMessages(obj: unknown): string[] {
  const verdict = validateManifest(obj);
  return verdict.valid ? [] : verdict.errors.map((e) => `schema: ${e.path ? `${e.path}: ` : ''}${e.message}`);
}

/** Compiles every Policy in the --policies directory; a bad one is an input error naming its file. */
export function loadPolicies(dir: string): { policies: CompiledPolicy[]; sources: Policy[]; exceptions: PolicyException[]; params: KubeObject[] } {
  const policies: CompiledPolicy[] = [];
  const sources: Policy[] = [];
  const exceptions: PolicyException[] = [];
  // Other objects beside the Policies (a ConfigMap a Policy names in paramRef) are params.
  const params: KubeObject[] = [];
  for (const file of expandPaths([dir])) {
    for (const doc of readYamlDocuments(file)) {
      if (!isRecord(doc.value)) continue;
      if (doc.value.kind === 'PolicyException') exceptions.push(doc.value as unknown as PolicyException);
      else if (doc.value.kind !== 'Policy' && typeof doc.value.kind === 'string' && typeof doc.value.apiVersion === 'string') params.push(doc.value as KubeObject);
      if (doc.value.kind !== 'Policy') continue;
      const schema = schemaMessages(doc.value);
      if (schema.length > 0) {
        throw new PolicyInvalidError(`${file}:${doc.line}: ${label(doc)} is invalid: ${schema.join('; ')}`, {
          locations: [{ where: file, line: doc.line }],
        });
      }
      try {
        policies.push(compilePolicy(doc.value as unknown as Policy));
        sources.push(doc.value as unknown as Policy);
      } catch (err) {
        if (!(err instanceof KidpPolicyError)) throw err;
        // Re-thrown as the same class with the file in front, so the CLI can say where.
        const e = err as KidpPolicyError;
        const Ctor = e.constructor as new (m: string, o: { cause: unknown; locations: KidpPolicyError['locations'] }) => KidpPolicyError;
        throw new Ctor(`${file}:${doc.line}: ${e.message}`, { cause: e, locations: e.locations });
      }
    }
  }
  return { policies, sources, exceptions, params };
}

/** What the two webhooks answered for one object, and the object the apiserver would store. */
export interface OfflineAdmission {
  mutation: Decision;
  /** Absent when the mutated object fails its CRD schema: the apiserver then never calls the validating webhook. */
  validation?: Decision;
  schema: string[];
  object: KubeObject;
}

export interface OfflineContext {
  view: MemoryView;
  store: PolicyStore;
  now: Date;
  /** Param objects from files: offline, `params` binds only what was given. */
  params?: ParamSource;
  /** Answers for `authorizer` checks from a file; without it every check is "no authorizer offline". */
  authorizer?: AuthzBackend;
}

/**
 * `--authz FILE`: a list of rules, the first that matches a check answers it:
 *   - {match: {username: alice, verb: get, apiGroup: '', resource: secrets, namespace: shop}, decision: allow, reason: rbac}
 * `match` may name username, group (one of the user's), verb, apiGroup, resource,
 * subresource, namespace, name or path (a path check); decision is allow, deny or
 * no-opinion. A check no rule matches has no opinion (not allowed), reason "no rule in FILE".
 */
export function authzFromFile(file: string): AuthzBackend {
  const docs = readYamlFile(file);
  const rules = docs.length === 1 ? docs[0]!.value : undefined;
  const decisions = ['allow', 'deny', 'no-opinion'];
  if (!Array.isArray(rules) || !rules.every((r) => isRecord(r) && isRecord(r.match) && decisions.includes(r.decision as string))) {
    throw new PolicyInvalidError(`${file}: --authz expects one YAML list of {match: {...}, decision: allow|deny|no-opinion, reason?}`, { locations: [{ where: file }] });
  }
  return tableBackend(rules as AuthzRule[], { decision: 'no-opinion', reason: `no rule in ${file}` });
}

/** The request the apiserver would send for creating `object`, with the plural it serves it under. */
export function createRequest(object: KubeObject): AdmissionRequest {
  const request = syntheticRequest(object, { operation: 'CREATE' });
  const plural = findKind(request.kind.kind, request.kind.group)?.plural ?? request.resource?.resource ?? '';
  return { ...request, resource: { group: request.kind.group, version: request.kind.version, resource: plural } };
}

/** The label the apiserver puts on every Namespace (its name), which namespaceSelectors may use. */
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/**
 * A Namespace as stored: the apiserver's namespace strategy sets kubernetes.io/metadata.name
 * to its name on create (before validating admission), so a namespaceSelector on it matches
 * in the cluster; offline it must match too.
 */
function withNameLabel(o: KubeObject): KubeObject {
  if (o.apiVersion !== 'v1' || o.kind !== 'Namespace' || typeof o.metadata?.name !== 'string') return o;
  return { ...o, metadata: { ...o.metadata, labels: { ...o.metadata.labels, [NAMESPACE_NAME_LABEL]: o.metadata.name } } };
}

/** What a webhook the apiserver does not call for a request amounts to. */
export const NOT_CALLED: Decision = { allowed: true, warnings: [], auditAnnotations: {} };

/**
 * Whether the apiserver would send `request` to KIDP's mutating or validating webhook: its
 * group, resource and operation against the rules of the generated configurations
 * (admission/webhook-config.ts), with the core kinds the current Policies select, and
 * their namespaceSelector (kube-system and the platform namespace are never sent).
 */
export function webhookCalled(webhook: 'mutating' | 'validating', request: AdmissionRequest, store: PolicyStore): boolean {
  const coreResourceTypes = [...new Set(store.policies().flatMap((p) => [...p.resourceTypes]))];
  const configs = webhookConfigurations({ endpoint: { url: 'https://offline.invalid' }, coreResourceTypes });
  const hooks = webhook === 'mutating' ? (configs.mutating.webhooks ?? []) : (configs.validating.webhooks ?? []);
  // The namespace a namespaceSelector judges: the object's, or a Namespace's own; none for other cluster-scoped kinds.
  const namespace = request.namespace ?? (request.kind.group === '' && request.kind.kind === 'Namespace' ? request.name : undefined);
  const excluded = (h: (typeof hooks)[number]) =>
    namespace !== undefined &&
    (h.namespaceSelector?.matchExpressions ?? []).some((e) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'NotIn' && (e.values ?? []).includes(namespace));
  return hooks.some((h) =>
    !excluded(h) &&
    (h.rules ?? []).some(
      (r) =>
        (r.apiGroups ?? []).some((g) => g === '*' || g === request.kind.group) &&
        (r.resources ?? []).some((res) => res === '*' || res === request.resource.resource) &&
        (r.operations ?? []).some((op) => op === '*' || op === request.operation),
    ),
  );
}

/**
 * One CREATE through admission as the apiserver runs it: the mutating webhook's mutate(),
 * its patch applied, the CRD schema on the result, then the validating webhook's validate(),
 * the same functions `kidp webhook serve` answers with; each only when the generated
 * webhook configurations send the request there.
 */
export function admitOffline(object: KubeObject, ctx: OfflineContext): OfflineAdmission {
  const request = createRequest(object);
  const mutation = webhookCalled('mutating', request, ctx.store) ? mutate(request, ctx.view) : NOT_CALLED;
  const mutated = withNameLabel(mutation.patch ? applyJsonPatch(object, mutation.patch) : object);
  const schema = request.kind.group === PLATFORM_GROUP ? schemaMessages(mutated) : [];
  if (schema.length > 0) return { mutation, schema, object: mutated };
  const namespaceObject = (name: string): KubeObject | undefined => {
    const labels = ctx.view.namespaceLabels(name);
    return labels ? { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } } : undefined;
  };
  const validation = webhookCalled('validating', request, ctx.store)
    ? validate({ ...request, object: mutated }, { view: ctx.view, store: ctx.store, now: () => ctx.now, namespaceObject, ...(ctx.params ? { params: ctx.params } : {}), ...(ctx.authorizer ? { authorizer: ctx.authorizer } : {}) })
    : NOT_CALLED;
  return { mutation, validation, schema, object: mutated };
}

/** The view and store `kidp validate` admits against: the input objects and the --policies directory. */
export function offlineContext(objects: readonly KubeObject[], loaded: { policies: readonly Policy[]; exceptions: readonly PolicyException[] }, options: { now: Date; requireOwners?: boolean }): OfflineContext {
  // The webhook's own ownership rules over the input set. Without --require-owners the view
  // is partial: an owner not in the input may exist in the cluster.
  const view = new MemoryView(options.requireOwners ?? false);
  for (const o of objects) view.upsert(withNameLabel(o));
  // A Team's spec.namespaces belong to it even before its controller labels them.
  for (const o of objects) {
    const namespaces = o.kind === 'Team' && isRecord(o.spec) && Array.isArray(o.spec.namespaces) ? o.spec.namespaces : [];
    for (const ns of namespaces) {
      if (typeof ns === 'string' && !view.namespaceLabels(ns)) view.upsert(withNameLabel({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { [LABELS.team]: o.metadata?.name ?? '' } } }));
    }
  }
  const store = new PolicyStore();
  for (const p of loaded.policies) store.upsertPolicy(p);
  const inputExceptions = objects.filter((o) => o.kind === 'PolicyException' && typeof o.apiVersion === 'string' && o.apiVersion.startsWith(`${PLATFORM_GROUP}/`));
  for (const e of [...loaded.exceptions, ...(inputExceptions as unknown as PolicyException[])]) store.upsertException(e);
  return { view, store, now: options.now };
}

/** Decision messages on one line each, as `kidp validate` prints them. */
const oneLine = (message: string) => message.replace(/\n\s*/g, ' ');

export function validateResources(options: ValidateOptions): ResourceVerdict[] {
  const loaded = options.policies ? loadPolicies(options.policies) : { sources: [], exceptions: [], params: [] };
  const docs = expandPaths(options.files).flatMap((f) => readYamlFile(f)).filter((d) => !isKustomizeConfig(d.value));
  const objects = docs.map((d) => d.value).filter(isRecord) as KubeObject[];
  const paramObjects = expandPaths(options.params ?? []).flatMap((f) => readYamlFile(f)).map((d) => d.value).filter(isRecord) as KubeObject[];
  const ctx = { ...offlineContext(objects, { policies: loaded.sources, exceptions: loaded.exceptions }, options), params: new MemoryParamSource([...loaded.params, ...paramObjects]), ...(options.authz ? { authorizer: authzFromFile(options.authz) } : {}) };

  return docs.map((doc): ResourceVerdict => ({ ...verdictOf(doc), file: doc.file, line: doc.line }));

  function verdictOf(doc: YamlDocument): Omit<ResourceVerdict, 'file' | 'line'> {
    const obj = doc.value;
    if (!isRecord(obj) || typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string' || !isRecord(obj.metadata)) {
      return {
        resource: `(document ${doc.index + 1} of ${doc.file}, line ${doc.line})`,
        verdict: 'DENIED',
        messages: ['not a Kubernetes object: it needs apiVersion, kind and metadata'],
      };
    }
    const resource = label(doc);
    const admission = admitOffline(obj as KubeObject, ctx);
    // What later objects see of this one is what the cluster would hold: the mutated object.
    ctx.view.upsert(admission.object);
    const { validation } = admission;
    if (!validation) return { resource, verdict: 'DENIED', messages: admission.schema };
    if (!validation.allowed) return { resource, verdict: 'DENIED', messages: [oneLine(validation.message ?? 'denied')] };
    const warnings = [...admission.mutation.warnings, ...validation.warnings];
    if (warnings.length > 0) return { resource, verdict: 'WARN', messages: warnings };
    return { resource, verdict: 'ADMITTED', messages: [] };
  }
}

export function formatVerdict(v: ResourceVerdict): string {
  return v.verdict === 'ADMITTED' ? `${v.resource}: ADMITTED` : `${v.resource}: ${v.verdict}: ${v.messages.join('; ')}`;
}
