// The mutating webhook: labels, the cleanup finalizer and the defaults a CRD schema
// cannot express (they depend on other objects). Computed as desired-vs-current, so a
// reinvocation of an already mutated object yields an empty patch.
import { patched, allowed, type Decision, type JsonPatchOperation } from './decision.js';
import { GROUP, ownerOf, teamOf, type OwnershipView } from './ownership.js';
import type { AdmissionRequest, KubeObject } from './review.js';
import { CLEANUP_FINALIZER as FINALIZER, DEPLOYABLE_KINDS as DEPLOYABLES, LABELS, MANAGED_BY_VALUE } from '../crds/registry.js';

export const MANAGED_BY_LABEL = LABELS.managedBy;
export const TEAM_LABEL = LABELS.team;
export const APPLICATION_LABEL = LABELS.application;
export const ENVIRONMENT_LABEL = 'environment';
export const CLEANUP_FINALIZER = FINALIZER;
export const DEPLOYABLE_KINDS: readonly string[] = DEPLOYABLES;
const ENVIRONMENTS = ['development', 'staging', 'production'];

/** JSON Pointer escaping (RFC 6901) for label keys such as platform.kidp.io/team. */
function pointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** The labels KIDP wants on an object, from its owner chain and environment. */
export function desiredLabels(obj: KubeObject, namespace: string | undefined, view: OwnershipView, environment: string | undefined): Record<string, string> {
  const labels: Record<string, string> = { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE };
  const team = teamOf(obj, namespace, view) ?? (namespace ? view.namespaceLabels(namespace)?.[TEAM_LABEL] : undefined);
  if (team) labels[TEAM_LABEL] = team;
  const owner = ownerOf(obj);
  if (obj.kind === 'Application' && obj.metadata?.name) labels[APPLICATION_LABEL] = obj.metadata.name;
  else if (owner?.kind === 'Application') labels[APPLICATION_LABEL] = owner.name;
  if (environment) labels[ENVIRONMENT_LABEL] = environment;
  return labels;
}

/** spec.environment when set; else the owning Application's; else the environment label; else development. */
export function desiredEnvironment(obj: KubeObject, namespace: string | undefined, view: OwnershipView): string {
  const own = obj.spec?.environment;
  if (typeof own === 'string' && own) return own;
  const owner = ownerOf(obj);
  if (owner?.kind === 'Application' && namespace) {
    const env = view.application(namespace, owner.name)?.spec?.environment;
    if (typeof env === 'string' && env) return env;
  }
  const label = obj.metadata?.labels?.[ENVIRONMENT_LABEL];
  return label && ENVIRONMENTS.includes(label) ? label : 'development';
}

/** The JSON patch that takes `obj` to what KIDP wants; empty when it is there already. */
export function mutationsFor(obj: KubeObject, namespace: string | undefined, view: OwnershipView, operation: 'CREATE' | 'UPDATE'): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [];
  const kind = obj.kind ?? '';
  const hasEnvironment = kind !== 'Team' && kind !== 'Policy' && kind !== 'PolicyException' && kind !== 'DeploymentTarget';
  let environment: string | undefined;
  if (hasEnvironment) {
    environment = desiredEnvironment(obj, namespace, view);
    if (obj.spec && obj.spec.environment !== environment) {
      ops.push({ op: 'add', path: '/spec/environment', value: environment });
    }
  }
  if (DEPLOYABLE_KINDS.includes(kind) && obj.spec && !obj.spec.target && environment) {
    const target = view.defaultTarget(environment);
    if (target) ops.push({ op: 'add', path: '/spec/target', value: target });
  }

  const current = obj.metadata?.labels;
  const wanted = desiredLabels(obj, namespace, view, environment);
  if (!current) {
    ops.push({ op: 'add', path: '/metadata/labels', value: wanted });
  } else {
    for (const [key, value] of Object.entries(wanted)) {
      if (current[key] !== value) ops.push({ op: 'add', path: `/metadata/labels/${pointer(key)}`, value });
    }
  }

  // The finalizer goes on at creation and is restored on update, but never onto an object
  // already being deleted (the apiserver forbids adding finalizers then).
  if (DEPLOYABLE_KINDS.includes(kind) && !obj.metadata?.deletionTimestamp && (operation === 'CREATE' || operation === 'UPDATE')) {
    const finalizers = obj.metadata?.finalizers;
    if (!finalizers) ops.push({ op: 'add', path: '/metadata/finalizers', value: [CLEANUP_FINALIZER] });
    else if (!finalizers.includes(CLEANUP_FINALIZER)) ops.push({ op: 'add', path: '/metadata/finalizers/-', value: CLEANUP_FINALIZER });
  }
  return ops;
}

export function mutate(req: AdmissionRequest, view: OwnershipView): Decision {
  if (req.kind.group !== GROUP || (req.operation !== 'CREATE' && req.operation !== 'UPDATE') || !req.object) return allowed();
  if (req.subResource) return allowed();
  return patched(mutationsFor({ ...req.object, kind: req.object.kind ?? req.kind.kind }, req.namespace ?? req.object.metadata?.namespace, view, req.operation));
}
