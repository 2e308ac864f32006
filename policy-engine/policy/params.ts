// `params`: the parameter object a Policy names, as ValidatingAdmissionPolicy's paramKind
// (on the policy) and paramRef (on its binding) do. KIDP has no bindings, so the Policy
// carries both. Which objects are the parameters of one request is decided here, once,
// with the semantics of k8s.io/apiserver policy/generic CollectParams; where the objects
// come from is the caller's (informers in the webhook and the audit, files offline).

import { labelSelectorMatches } from './match.js';
import type { KubeObject, LabelSelector, PolicySpec } from './types.js';

export type ParamKind = NonNullable<PolicySpec['paramKind']>;
export type ParamRef = NonNullable<PolicySpec['paramRef']>;

/** What a source knows of one param kind: all its objects, or why it cannot say. */
export type ParamKindObjects = { namespaced: boolean; objects: readonly KubeObject[] } | { error: string };

/** Where param objects come from: informer caches, files, a test's table. */
export interface ParamSource {
  objectsOf(kind: ParamKind): ParamKindObjects;
}

/** The parameters of one evaluation of a Policy. */
export type ResolvedParams =
  /** Evaluate once per object; `[null]` when the Policy has paramKind and no paramRef. */
  | { kind: 'objects'; objects: readonly (KubeObject | null)[] }
  /** None found and parameterNotFoundAction is Allow: the Policy does not apply. */
  | { kind: 'skip'; reason: string }
  /** A configuration problem or none found with Deny: the Policy fails closed, saying why. */
  | { kind: 'error'; message: string };

/** A source that knows no param kind (no source given): every lookup says so. */
export const NO_PARAM_SOURCE: ParamSource = {
  objectsOf: (kind) => ({ error: `no source of ${kind.kind} (${kind.apiVersion}) objects is configured` }),
};

/** Objects held in memory (files given to `kidp validate`/`kidp test`, tests). */
export class MemoryParamSource implements ParamSource {
  private readonly objects: KubeObject[] = [];

  /**
   * @param namespaced Known scopes by `apiVersion/kind`; a kind not listed is namespaced
   *   when any of its objects has a namespace (files carry no discovery).
   */
  constructor(
    objects: readonly KubeObject[] = [],
    private readonly namespaced: ReadonlyMap<string, boolean> = new Map(),
  ) {
    this.objects.push(...objects);
  }

  add(object: KubeObject): void {
    this.objects.push(object);
  }

  objectsOf(kind: ParamKind): ParamKindObjects {
    const objects = this.objects.filter((o) => o.apiVersion === kind.apiVersion && o.kind === kind.kind);
    const known = this.namespaced.get(`${kind.apiVersion}/${kind.kind}`);
    return { namespaced: known ?? objects.some((o) => (o.metadata?.namespace ?? '') !== ''), objects };
  }
}

function describe(kind: ParamKind): string {
  return `${kind.kind} (${kind.apiVersion})`;
}

/**
 * The parameter objects of a Policy for a request in `requestNamespace` ('' for a
 * cluster-scoped request). Mirrors CollectParams: a namespaced paramKind is looked up in
 * paramRef.namespace, else the request's namespace (a cluster-scoped request then has
 * none to look in: an error); a cluster-scoped one refuses paramRef.namespace; name and
 * selector are exclusive; nothing found is Deny's error or Allow's skip.
 */
export function resolveParams(
  paramKind: ParamKind | undefined,
  paramRef: ParamRef | undefined,
  requestNamespace: string,
  source: ParamSource,
): ResolvedParams {
  if (!paramKind) return { kind: 'objects', objects: [null] };
  // VAP: a binding without paramRef evaluates its policy with params null.
  if (!paramRef) return { kind: 'objects', objects: [null] };
  const known = source.objectsOf(paramKind);
  if ('error' in known) return { kind: 'error', message: `params: ${known.error}` };
  const hasNamespace = (paramRef.namespace ?? '') !== '';
  if (hasNamespace && !known.namespaced) {
    return { kind: 'error', message: `params: paramRef.namespace must not be set: ${describe(paramKind)} is cluster-scoped` };
  }
  let namespace = '';
  if (known.namespaced) {
    namespace = hasNamespace ? (paramRef.namespace as string) : requestNamespace;
    if (namespace === '') {
      return { kind: 'error', message: `params: ${describe(paramKind)} is namespaced and this request is cluster-scoped: set paramRef.namespace` };
    }
  }
  const inScope = known.objects.filter((o) => (o.metadata?.namespace ?? '') === namespace);
  const hasName = (paramRef.name ?? '') !== '';
  if (hasName && paramRef.selector) return { kind: 'error', message: 'params: paramRef.name and paramRef.selector are mutually exclusive' };
  if (!hasName && !paramRef.selector) return { kind: 'error', message: 'params: paramRef needs a name or a selector' };
  const found = hasName
    ? inScope.filter((o) => o.metadata?.name === paramRef.name)
    : inScope.filter((o) => labelSelectorMatches(paramRef.selector as LabelSelector, o.metadata?.labels));
  if (found.length > 0) return { kind: 'objects', objects: found };
  const where = namespace ? ` in namespace ${namespace}` : '';
  const what = hasName ? `no ${describe(paramKind)} named ${paramRef.name}${where}` : `no ${describe(paramKind)}${where} matches paramRef.selector`;
  // The CRD defaults the action to Deny; a Policy read from a file may not have it.
  if ((paramRef.parameterNotFoundAction ?? 'Deny') === 'Allow') {
    return { kind: 'skip', reason: `params: ${what} (parameterNotFoundAction: Allow)` };
  }
  return { kind: 'error', message: `params: ${what} (parameterNotFoundAction: Deny): create it or fix spec.paramRef` };
}

/** `namespace/name` of a param object, for messages when several are parameters. */
export function paramName(o: KubeObject): string {
  const ns = o.metadata?.namespace ?? '';
  return ns ? `${ns}/${o.metadata?.name ?? ''}` : (o.metadata?.name ?? '');
}
