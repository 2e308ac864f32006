// Kubernetes authz library (k8s.io/apiserver/pkg/cel/library/authz.go, with the authz
// selectors of base.go): `authorizer.group(g).resource(r).namespace(n).name(x).check(verb)`,
// `authorizer.path(p).check(verb)`, `authorizer.serviceAccount(ns, name)`, and a
// decision's `allowed()`, `reason()`, `errored()`, `error()`. Only expressions that VAP
// gives an `authorizer` can reach these (the variable is declared only there).
//
// The answers come from an AuthzBackend bound with the `authorizer` value: in the webhook
// SubjectAccessReviews for the requesting user, offline a table (cli/). A backend that
// does not know an answer yet throws AuthzPendingError; the caller asks for it and
// evaluates again (admission/authorizer.ts), so evaluation itself stays synchronous.
import { CelEvalError } from '../errors.js';
import { BOOL, STRING, opaque, type CelType } from '../types.js';
import type { CelOpaque } from '../values.js';
import type { Registry, SizeRange } from './registry.js';

export const AUTHORIZER = opaque('kubernetes.authorization.Authorizer');
export const PATH_CHECK = opaque('kubernetes.authorization.PathCheck');
export const GROUP_CHECK = opaque('kubernetes.authorization.GroupCheck');
export const RESOURCE_CHECK = opaque('kubernetes.authorization.ResourceCheck');
export const DECISION = opaque('kubernetes.authorization.Decision');

/** The user a check is made for (authorization/v1 SubjectAccessReviewSpec's subject). */
export interface AuthzUser {
  username: string;
  uid?: string;
  groups?: readonly string[];
  extra?: Readonly<Record<string, readonly string[]>>;
}

/** What one check asks (authorizer.AttributesRecord as authz.go fills it). */
export type AuthzAttributes =
  | { user: AuthzUser; kind: 'path'; path: string; verb: string }
  | {
      user: AuthzUser;
      kind: 'resource';
      verb: string;
      group: string;
      resource: string;
      subresource: string;
      namespace: string;
      name: string;
      fieldSelector: string;
      labelSelector: string;
    };

export interface AuthzAnswer {
  decision: 'allow' | 'deny' | 'no-opinion';
  reason: string;
  /** Set when the authorizer failed (errored() is then true). */
  error?: string;
}

export interface AuthzBackend {
  /** The answer, or throws AuthzPendingError when it has to be fetched first. */
  authorize(attributes: AuthzAttributes): AuthzAnswer;
}

/** Thrown by a backend that must fetch an answer first; evaluation is then repeated. */
export class AuthzPendingError extends CelEvalError {
  constructor(readonly attributes: AuthzAttributes) {
    super('authorization check pending');
    this.name = 'AuthzPendingError';
  }
}

/** A stable key of a check, for caches of answers. */
export function authzKey(a: AuthzAttributes): string {
  return JSON.stringify(a);
}

/**
 * receiverOnlyObjectVal: no fields, and no equality: its Equal accepts only the embedded
 * base type, which no authz value is, so `authorizer == authorizer` is "no such overload".
 */
abstract class ReceiverOnly implements CelOpaque {
  abstract readonly celType: string;
  equals(): boolean {
    throw new CelEvalError('no such overload');
  }
  toString(): string {
    return this.celType;
  }
}

export class AuthorizerValue extends ReceiverOnly {
  readonly celType = 'kubernetes.authorization.Authorizer';
  constructor(
    readonly backend: AuthzBackend,
    readonly user: AuthzUser,
  ) {
    super();
  }
}

class PathCheckValue extends ReceiverOnly {
  readonly celType = 'kubernetes.authorization.PathCheck';
  constructor(
    readonly authorizer: AuthorizerValue,
    readonly path: string,
  ) {
    super();
  }
}

class GroupCheckValue extends ReceiverOnly {
  readonly celType = 'kubernetes.authorization.GroupCheck';
  constructor(
    readonly authorizer: AuthorizerValue,
    readonly group: string,
  ) {
    super();
  }
}

interface ResourceFields {
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  fieldSelector: string;
  labelSelector: string;
}

export class ResourceCheckValue extends ReceiverOnly {
  readonly celType = 'kubernetes.authorization.ResourceCheck';
  constructor(
    readonly groupCheck: GroupCheckValue,
    readonly fields: ResourceFields,
  ) {
    super();
  }
  with(change: Partial<ResourceFields>): ResourceCheckValue {
    return new ResourceCheckValue(this.groupCheck, { ...this.fields, ...change });
  }
}

class DecisionValue extends ReceiverOnly {
  readonly celType = 'kubernetes.authorization.Decision';
  constructor(readonly answer: AuthzAnswer) {
    super();
  }
}

/** `authorizer.requestResource`: a check of the request's own resource (NewResourceAuthorizerVal). */
export function requestResourceCheck(
  authorizer: AuthorizerValue,
  request: { group: string; resource: string; subresource: string; namespace: string; name: string },
): ResourceCheckValue {
  return new ResourceCheckValue(new GroupCheckValue(authorizer, request.group), {
    resource: request.resource,
    subresource: request.subresource,
    namespace: request.namespace,
    name: request.name,
    fieldSelector: '',
    labelSelector: '',
  });
}

// apimachinery validation: a service account name is a DNS-1123 subdomain, its namespace a label.
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A check's fixed cost, so that an expression affords two (library/cost.go). */
export const AUTHZ_CHECK_COST = 350_000;

/** selectorCostEstimate: list creation + parse + one requirement per two characters. */
function selectorCost(length: number): number {
  return 10 + Math.ceil(length * 0.1) + Math.ceil(Math.ceil(length * 0.5) * 50);
}

function decide(a: AuthorizerValue, attributes: AuthzAttributes): DecisionValue {
  return new DecisionValue(a.backend.authorize(attributes));
}

export function registerAuthz(r: Registry): void {
  const nominal = {};
  const check = { cost: () => AUTHZ_CHECK_COST - 1, estimate: () => ({ min: AUTHZ_CHECK_COST, max: AUTHZ_CHECK_COST }) };
  const selector = {
    cost: (args: readonly unknown[]) => selectorCost(typeof args[1] === 'string' ? [...args[1]].length : 0) - 1,
    estimate: (sizes: readonly SizeRange[]) => ({ min: selectorCost(sizes[1]?.min ?? 0), max: selectorCost(sizes[1]?.max ?? 0) }),
  };
  const builder = (name: string, id: string, params: CelType[], result: CelType, impl: (...args: never[]) => unknown, extra: object = nominal) =>
    r.member(name, id, params, result, impl, extra);

  builder('path', 'authorizer_path', [AUTHORIZER, STRING], PATH_CHECK, (a: AuthorizerValue, path: string) => {
    if (path.trim() === '') throw new CelEvalError('path must not be empty');
    return new PathCheckValue(a, path);
  });
  builder('group', 'authorizer_group', [AUTHORIZER, STRING], GROUP_CHECK, (a: AuthorizerValue, group: string) => new GroupCheckValue(a, group));
  builder('serviceAccount', 'authorizer_serviceaccount', [AUTHORIZER, STRING, STRING], AUTHORIZER, (a: AuthorizerValue, namespace: string, name: string) => {
    if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) throw new CelEvalError('Invalid service account name');
    if (namespace.length > 63 || !DNS1123_LABEL.test(namespace)) throw new CelEvalError('Invalid service account namespace');
    return new AuthorizerValue(a.backend, {
      username: `system:serviceaccount:${namespace}:${name}`,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`],
    });
  });
  builder('resource', 'groupcheck_resource', [GROUP_CHECK, STRING], RESOURCE_CHECK, (g: GroupCheckValue, resource: string) => {
    if (resource.trim() === '') throw new CelEvalError('resource must not be empty');
    return new ResourceCheckValue(g, { resource, subresource: '', namespace: '', name: '', fieldSelector: '', labelSelector: '' });
  });
  builder('subresource', 'resourcecheck_subresource', [RESOURCE_CHECK, STRING], RESOURCE_CHECK, (c: ResourceCheckValue, subresource: string) => c.with({ subresource }));
  builder('namespace', 'resourcecheck_namespace', [RESOURCE_CHECK, STRING], RESOURCE_CHECK, (c: ResourceCheckValue, namespace: string) => c.with({ namespace }));
  builder('name', 'resourcecheck_name', [RESOURCE_CHECK, STRING], RESOURCE_CHECK, (c: ResourceCheckValue, name: string) => c.with({ name }));
  builder('fieldSelector', 'authorizer_fieldselector', [RESOURCE_CHECK, STRING], RESOURCE_CHECK, (c: ResourceCheckValue, fieldSelector: string) => c.with({ fieldSelector }), selector);
  builder('labelSelector', 'authorizer_labelselector', [RESOURCE_CHECK, STRING], RESOURCE_CHECK, (c: ResourceCheckValue, labelSelector: string) => c.with({ labelSelector }), selector);
  builder('check', 'pathcheck_check', [PATH_CHECK, STRING], DECISION, (p: PathCheckValue, verb: string) => decide(p.authorizer, { user: p.authorizer.user, kind: 'path', path: p.path, verb }), check);
  builder(
    'check',
    'resourcecheck_check',
    [RESOURCE_CHECK, STRING],
    DECISION,
    (c: ResourceCheckValue, verb: string) => {
      const a = c.groupCheck.authorizer;
      return decide(a, { user: a.user, kind: 'resource', verb, group: c.groupCheck.group, ...c.fields });
    },
    check,
  );
  builder('errored', 'decision_errored', [DECISION], BOOL, (d: DecisionValue) => d.answer.error !== undefined);
  builder('error', 'decision_error', [DECISION], STRING, (d: DecisionValue) => d.answer.error ?? '');
  builder('allowed', 'decision_allowed', [DECISION], BOOL, (d: DecisionValue) => d.answer.decision === 'allow');
  builder('reason', 'decision_reason', [DECISION], STRING, (d: DecisionValue) => d.answer.reason);
}

/** A backend that answers from a fixed list of rules: offline checks (`kidp validate`, tests). */
export interface AuthzRule {
  /** Each given field must equal the check's; absent fields match anything. */
  match: Partial<{ username: string; group: string; verb: string; apiGroup: string; resource: string; subresource: string; namespace: string; name: string; path: string }>;
  decision: AuthzAnswer['decision'];
  reason?: string;
  error?: string;
}

export function tableBackend(rules: readonly AuthzRule[], fallback: AuthzAnswer): AuthzBackend {
  return {
    authorize(a) {
      for (const rule of rules) {
        const m = rule.match;
        if (m.username !== undefined && m.username !== a.user.username) continue;
        if (m.group !== undefined && !(a.user.groups ?? []).includes(m.group)) continue;
        if (m.verb !== undefined && m.verb !== a.verb) continue;
        if (a.kind === 'path') {
          if (m.path === undefined || m.path !== a.path) continue;
        } else {
          if (m.path !== undefined) continue;
          if (m.apiGroup !== undefined && m.apiGroup !== a.group) continue;
          if (m.resource !== undefined && m.resource !== a.resource) continue;
          if (m.subresource !== undefined && m.subresource !== a.subresource) continue;
          if (m.namespace !== undefined && m.namespace !== a.namespace) continue;
          if (m.name !== undefined && m.name !== a.name) continue;
        }
        return { decision: rule.decision, reason: rule.reason ?? '', ...(rule.error !== undefined ? { error: rule.error } : {}) };
      }
      return fallback;
    },
  };
}
