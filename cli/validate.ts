// `kidp validate -f <file|dir>... --policies <dir>`: offline admission. Each resource gets
// what the apiserver and the validating webhook would give it on CREATE, minus what needs a
// cluster: its CRD schema (ajv, crds/), the offline ownership rules (ownership.ts), and
// every matching Policy (with PolicyExceptions from either input).

import { validateManifest } from '../crds/index.js';
import { compilePolicy, type CompiledPolicy } from '../policy-engine/policy/compile.js';
import { KidpPolicyError, PolicyInvalidError } from '../policy-engine/policy/errors.js';
import { evaluate } from '../policy-engine/policy/evaluate.js';
import { syntheticRequest } from '../policy-engine/policy/request.js';
import type { KubeObject, Policy, PolicyException } from '../policy-engine/policy/types.js';
import { expandPaths, readYamlFile, type YamlDocument } from '../policy-engine/suite/yaml-input.js';
import { MemoryView } from '../admission/memory-view.js';
import { validateCreate, TEAM_LABEL } from '../admission/ownership.js';

export interface ValidateOptions {
  files: readonly string[];
  policies?: string;
  now: Date;
  requireOwners?: boolean;
}

export interface ResourceVerdict {
  /** `Kind namespace/name` (or `Kind name` when cluster-scoped). */
  resource: string;
  verdict: 'ADMITTED' | 'DENIED' | 'WARN';
  messages: string[];
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
export function loadPolicies(dir: string): { policies: CompiledPolicy[]; exceptions: PolicyException[] } {
  const policies: CompiledPolicy[] = [];
  const exceptions: PolicyException[] = [];
  for (const file of expandPaths([dir])) {
    for (const doc of readYamlFile(file)) {
      if (!isRecord(doc.value)) continue;
      if (doc.value.kind === 'PolicyException') exceptions.push(doc.value as unknown as PolicyException);
      if (doc.value.kind !== 'Policy') continue;
      const schema = schemaMessages(doc.value);
      if (schema.length > 0) {
        throw new PolicyInvalidError(`${file}:${doc.line}: ${label(doc)} is invalid: ${schema.join('; ')}`, {
          locations: [{ where: file, line: doc.line }],
        });
      }
      try {
        policies.push(compilePolicy(doc.value as unknown as Policy));
      } catch (err) {
        if (!(err instanceof KidpPolicyError)) throw err;
        // Re-thrown as the same class with the file in front, so the CLI can say where.
        const e = err as KidpPolicyError;
        const Ctor = e.constructor as new (m: string, o: { cause: unknown; locations: KidpPolicyError['locations'] }) => KidpPolicyError;
        throw new Ctor(`${file}:${doc.line}: ${e.message}`, { cause: e, locations: e.locations });
      }
    }
  }
  return { policies, exceptions };
}

export function validateResources(options: ValidateOptions): ResourceVerdict[] {
  const { policies, exceptions: policyDirExceptions } = options.policies
    ? loadPolicies(options.policies)
    : { policies: [], exceptions: [] };
  const docs = expandPaths(options.files).flatMap((f) => readYamlFile(f));
  const objects = docs.map((d) => d.value).filter(isRecord) as KubeObject[];
  // The webhook's own ownership rules over the input set. Without --require-owners the view
  // is partial: an owner not in the input may exist in the cluster.
  const view = new MemoryView(options.requireOwners ?? false);
  for (const o of objects) view.upsert(o);
  // A Team's spec.namespaces belong to it even before its controller labels them.
  for (const o of objects) {
    const namespaces = o.kind === 'Team' && isRecord(o.spec) && Array.isArray(o.spec.namespaces) ? o.spec.namespaces : [];
    for (const ns of namespaces) {
      if (typeof ns === 'string' && !view.namespaceLabels(ns)) view.upsert({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { [TEAM_LABEL]: o.metadata?.name ?? '' } } });
    }
  }
  const namespaceObject = (name: string): KubeObject | null => {
    const labels = view.namespaceLabels(name);
    return labels ? { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } } : null;
  };
  const exceptions = [
    ...policyDirExceptions,
    ...objects.filter((o) => o.kind === 'PolicyException' && typeof o.apiVersion === 'string' && o.apiVersion.startsWith('platform.kidp.io/')),
  ] as PolicyException[];

  return docs.map((doc): ResourceVerdict => {
    const obj = doc.value;
    if (!isRecord(obj) || typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string' || !isRecord(obj.metadata)) {
      return {
        resource: `(document ${doc.index + 1} of ${doc.file}, line ${doc.line})`,
        verdict: 'DENIED',
        messages: ['not a Kubernetes object: it needs apiVersion, kind and metadata'],
      };
    }
    const object = obj as KubeObject;
    const denials: string[] = [];
    if ((obj.apiVersion as string).startsWith('platform.kidp.io/')) {
      denials.push(...schemaMessages(obj));
      // The apiserver validates the schema before any webhook runs: policies never see
      // (and their typed CEL is never fed) an object that fails it.
      if (denials.length > 0) return { resource: label(doc), verdict: 'DENIED', messages: denials };
      const ownership = validateCreate(
        { ...syntheticRequest(object, { operation: 'CREATE' }), resource: { group: 'platform.kidp.io', version: 'v1alpha1', resource: '' } },
        object,
        view,
      );
      if (!ownership.allowed && ownership.message) denials.push(ownership.message);
      if (denials.length === 0 && obj.kind === 'Policy') {
        try {
          compilePolicy(obj as unknown as Policy);
        } catch (err) {
          if (!(err instanceof KidpPolicyError)) throw err;
          denials.push(err.message.replace(/\n\s*/g, ' '));
        }
      }
    }
    const request = syntheticRequest(object, { operation: 'CREATE' });
    const decision = evaluate(
      policies,
      { request, namespaceObject: request.namespace ? namespaceObject(request.namespace) : null },
      { now: options.now, exceptions },
    );
    if (!decision.allowed && decision.message) denials.push(decision.message);
    const resource = label(doc);
    if (denials.length > 0) return { resource, verdict: 'DENIED', messages: denials };
    if (decision.warnings.length > 0) return { resource, verdict: 'WARN', messages: decision.warnings };
    return { resource, verdict: 'ADMITTED', messages: [] };
  });
}

export function formatVerdict(v: ResourceVerdict): string {
  return v.verdict === 'ADMITTED' ? `${v.resource}: ADMITTED` : `${v.resource}: ${v.verdict}: ${v.messages.join('; ')}`;
}
