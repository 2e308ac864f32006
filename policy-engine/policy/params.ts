// `params`: the parameter object a Policy names, as ValidatingAdmissionPolicy's paramKind
// (on the policy) and paramRef (on its binding) do. KIDP has no bindings, so the Policy
// carries both. Which objects are the parameters of one request is decided here, once,
// with the semantics of k8s.io/apiserver policy/generic CollectParams; where the objects
// come from is the caller's (informers in the webhook and the audit, files offline).

import { labelSelectorMatches } from './match.js';
import type { KubeObject, LabelSelector, PolicySpec } from './types.js';

export type ParamKind = NonNullable<PolicySpec['paramKind']>;
export type ParamRef = NonNullable<PolicySpec['paramRef']>;

/** Where param objects come from: informer caches, files, a test's table. */
export interface ParamSource {
  /** Whether objects of the kind are namespaced, or why they cannot be known (not served, not synced, forbidden). */
  scope(kind: ParamKind): { namespaced: boolean } | { error: string };
  /** The objects of the kind in one namespace ('' for a cluster-scoped kind). */
  list(kind: ParamKind, namespace: string): readonly KubeObject[];
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
  scope: (kind) => ({ error: `no source of ${kind.kind} (${kind.apiVersion}) objects is configured` }),
  list: () => [],
};

/** Objects held in memory (files given to `kidp validate`/`kidp test`, tests). */
export class MemoryParamSource implements ParamSource {
  private readonly objects: KubeObject[] = [];

  /**
   * @param namespaced Known scopes by `apiVersion/kind`; a kind not listed is namespaced
   *   when any of its objects has a namespace (files carry no discovery), and unknown
   *   (an error naming it) when none is given.
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

  private of(kind: ParamKind): KubeObject[] {
    return this.objects.filter((o) => o.apiVersion === kind.apiVersion && o.kind === kind.kind);
  }

  scope(kind: ParamKind): { namespaced: boolean } | { error: string } {
    const known = this.namespaced.get(`${kind.apiVersion}/${kind.kind}`);
    if (known !== undefined) return { namespaced: known };
    const objects = this.of(kind);
    if (objects.length === 0) return { error: `no ${kind.kind} (${kind.apiVersion}) object was given (--params)` };
    return { namespaced: objects.some((o) => (o.metadata?.namespace ?? '') !== '') };
  }

  list(kind: ParamKind, namespace: string): readonly KubeObject[] {
    return this.of(kind).filter((o) => (o.metadata?.namespace ?? '') === namespace);
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
  const known = source.scope(paramKind);
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
  const hasName = (paramRef.name ?? '') !== '';
  if (hasName && paramRef.selector) return { kind: 'error', message: 'params: paramRef.name and paramRef.selector are mutually exclusive' };
  if (!hasName && !paramRef.selector) return { kind: 'error', message: 'params: paramRef needs a name or a selector' };
  const inScope = source.list(paramKind, namespace);
  const found = hasName
    ? inScope.filter((o) => o.metadata?.name === paramRef.name)
    : inScope.filter((o) => labelSelectorMatches(paramRef.selector as LabelSelector, o.metadata?.labels));
  // Informer lists carry no apiVersion/kind; the param object VAP binds has both.
  if (found.length > 0) return { kind: 'objects', objects: found.map((o) => (o.apiVersion && o.kind ? o : { ...o, apiVersion: paramKind.apiVersion, kind: paramKind.kind })) };
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
