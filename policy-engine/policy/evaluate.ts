// Evaluation of compiled Policies against one admission request. Matching runs first (no
// CEL), then matchConditions, then rules; variables are evaluated lazily, at most once per
// request and policy. Every outcome is a value (decision.ts); nothing here throws for a
// rule that errors: that is a failure that says so (fail closed, DESIGN.md §4).

import { AuthorizerValue, CelEvalError, CelMap, MATCH_CONDITIONS_COST_LIMIT, PER_POLICY_COST_LIMIT, requestResourceCheck, type AuthzBackend, type CompiledExpression, type CostBudget } from './cel.js';
import type { CompiledPolicy } from './compile.js';
import { decide, type PolicyDecision, type PolicyEvaluation, type RuleResult } from './decision.js';
import { findExemption } from './exception.js';
import { labelSelectorMatches, resourceTypeOf } from './match.js';
import { NO_PARAM_SOURCE, paramName, resolveParams, type ParamSource } from './params.js';
import type { AdmissionRequest, KubeObject, PolicyException } from './types.js';

export interface EvaluationInput {
  request: AdmissionRequest;
  /** The request's Namespace object (null for cluster-scoped resources or when unknown). */
  namespaceObject?: KubeObject | null;
  /**
   * Answers `authorizer` checks for the request's user (SubjectAccessReview in the
   * webhook); without one every check is "no opinion", reason NO_AUTHORIZER_REASON.
   */
  authorizer?: AuthzBackend;
}

export interface EvaluateOptions {
  /** Injected clock (STYLE.md §4): decides which exceptions are still in force. */
  now: Date;
  exceptions?: readonly PolicyException[];
  /** Namespace whose exceptions may exempt cluster-scoped resources (default kidp-system). */
  clusterExceptionNamespace?: string;
  /** Cost budget per policy evaluation; Kubernetes' 10,000,000 unless set. */
  policyCostLimit?: number;
  /** Where the param objects of Policies with a paramKind come from (params.ts). */
  params?: ParamSource;
}

/** What an `authorizer` check answers where no authorizer is configured (offline). */
export const NO_AUTHORIZER_REASON = 'no authorizer offline: checks are answered only by the webhook (SubjectAccessReview) or kidp validate --authz';
const NO_AUTHORIZER: AuthzBackend = { authorize: () => ({ decision: 'no-opinion', reason: NO_AUTHORIZER_REASON }) };

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Why the policy does not apply, or undefined when it does (before matchConditions). */
function mismatch(policy: CompiledPolicy, input: EvaluationInput, p: PreparedInput): string | undefined {
  const { request } = input;
  const { resourceType } = p;
  if (!policy.resourceTypes.has(resourceType)) return `resource type ${resourceType} not selected`;
  if (!policy.operations.has(request.operation)) return `operation ${request.operation} not selected`;

  // Kubernetes objectSelector: the request matches if the new or the old object matches.
  const selector = policy.objectSelector;
  if (selector.matchLabels || selector.matchExpressions) {
    const objectMatches =
      (request.object != null && labelSelectorMatches(selector, request.object.metadata?.labels)) ||
      (request.oldObject != null && labelSelectorMatches(selector, request.oldObject.metadata?.labels)) ||
      (request.object == null && request.oldObject == null && labelSelectorMatches(selector, {}));
    if (!objectMatches) return 'object labels do not match the selector';
  }

  if (policy.namespaceSelector) {
    // Kubernetes: a Namespace is matched by its own labels; other cluster-scoped resources
    // are never excluded by a namespaceSelector.
    const isNamespace = resourceType === 'Namespace';
    const namespaced = (request.namespace ?? '') !== '';
    if (isNamespace || namespaced) {
      const labels = isNamespace
        ? (request.object ?? request.oldObject)?.metadata?.labels
        : (input.namespaceObject?.metadata?.labels ?? {});
      if (!labelSelectorMatches(policy.namespaceSelector, labels)) return 'namespace labels do not match the namespaceSelector';
    }
  }
  return undefined;
}

/**
 * `variables` as the engine's map, backed by a Map whose get() evaluates a variable the
 * first time a rule reads it and remembers the value (or the error) for the rest of the
 * request. Iterating forces every variable, which only `variables` used as a whole does.
 */
class LazyVariables extends Map<string, unknown> {
  private readonly pending = new Map<string, () => unknown>();

  define(name: string, compute: () => unknown): void {
    super.set(name, undefined);
    this.pending.set(name, compute);
  }

  override get(name: string): unknown {
    const compute = this.pending.get(name);
    if (compute) {
      this.pending.delete(name);
      let value: unknown;
      try {
        value = compute();
      } catch (error) {
        const failed = (): never => {
          throw new CelEvalError(`variable ${name}: ${errorText(error)}`, { cause: error });
        };
        this.pending.set(name, failed);
        return failed();
      }
      super.set(name, value);
      return value;
    }
    return super.get(name);
  }

  override *entries(): MapIterator<[string, unknown]> {
    for (const k of [...super.keys()]) yield [k, this.get(k)];
  }

  override [Symbol.iterator](): MapIterator<[string, unknown]> {
    return this.entries();
  }

  override *values(): MapIterator<unknown> {
    for (const [, v] of this.entries()) yield v;
  }

  override forEach(cb: (value: unknown, key: string, map: Map<string, unknown>) => void): void {
    for (const [k, v] of this.entries()) cb(v, k, this);
  }
}

/**
 * What CEL sees of a request, built once per request and shared by every policy: the
 * engine caches conversion per input object, so the same objects must be passed each time.
 * `request` goes without object/oldObject (they have their own variables), so the object
 * is not converted a second time under the request's type. Also what every policy would
 * otherwise recompute: the resource type, the exception target, and one activation for
 * the policies that declare no variables.
 */
interface PreparedInput {
  object: KubeObject | null;
  oldObject: KubeObject | null;
  /** The request as given; what CEL sees as `request` is made from it on first use. */
  raw: AdmissionRequest;
  request?: Omit<AdmissionRequest, 'object' | 'oldObject'>;
  namespaceObject: KubeObject | null;
  resourceType: string;
  /** Made when a policy has exceptions to look through (most requests have none). */
  target?: { resourceType: string; name: string; namespace: string; labels: Readonly<Record<string, string>> };
  /** Lazily made: the activation of a policy without variables. */
  plain?: (name: string) => unknown;
  /** Who answers authorizer checks for this request, and the values made for it. */
  authz: AuthzBackend;
  authorizer?: AuthorizerValue;
  requestResource?: unknown;
}

/**
 * The last request prepared: evaluate() runs every policy on one request in a row. Not a
 * WeakMap keyed by the request: those entries outlive V8's young-generation collections
 * and slow every one of them (see cel/convert.ts).
 */
let prepared: { input: EvaluationInput; p: PreparedInput } | undefined;
const NO_VARIABLES = new CelMap(new Map());

function prepare(input: EvaluationInput): PreparedInput {
  let p = prepared?.input === input ? prepared.p : undefined;
  if (!p) {
    const raw = input.request;
    p = {
      object: raw.object ?? null,
      oldObject: raw.oldObject ?? null,
      raw,
      namespaceObject: input.namespaceObject ?? null,
      authz: input.authorizer ?? NO_AUTHORIZER,
      resourceType: resourceTypeOf(raw.kind),
    };
    prepared = { input, p };
  }
  return p;
}

/** `request` without object/oldObject (they have their own variables). */
function requestOf(p: PreparedInput): Omit<AdmissionRequest, 'object' | 'oldObject'> {
  if (p.request === undefined) {
    const { object: _object, oldObject: _oldObject, ...request } = p.raw;
    p.request = request;
  }
  return p.request;
}

function targetOf(p: PreparedInput): NonNullable<PreparedInput['target']> {
  if (p.target === undefined) {
    const { raw } = p;
    const subject = p.object ?? p.oldObject;
    p.target = {
      resourceType: p.resourceType,
      name: raw.name ?? subject?.metadata?.name ?? '',
      namespace: raw.namespace ?? subject?.metadata?.namespace ?? '',
      labels: subject?.metadata?.labels ?? {},
    };
  }
  return p.target;
}

function authorizerOf(p: PreparedInput): AuthorizerValue {
  return (p.authorizer ??= new AuthorizerValue(p.authz, p.raw.userInfo));
}

function activationOf(p: PreparedInput, variables: CelMap, params: KubeObject | null): (name: string) => unknown {
  return (name: string): unknown => {
    switch (name) {
      case 'object':
        return p.object;
      case 'oldObject':
        return p.oldObject;
      case 'request':
        return requestOf(p);
      case 'namespaceObject':
        return p.namespaceObject;
      case 'variables':
        return variables;
      case 'params':
        return params;
      case 'authorizer':
        return authorizerOf(p);
      case 'authorizer.requestResource': {
        const r = p.raw;
        return (p.requestResource ??= requestResourceCheck(authorizerOf(p), {
          group: r.resource?.group ?? r.kind.group,
          resource: r.resource?.resource ?? '',
          subresource: r.subResource ?? '',
          namespace: r.namespace ?? '',
          name: r.name ?? '',
        }));
      }
      case 'spec':
      case 'metadata':
      case 'status':
        return p.object?.[name] ?? null;
      default:
        return undefined;
    }
  };
}

/** One request's activation for one policy: plain fields plus lazily computed variables. */
function activationFor(policy: CompiledPolicy, p: PreparedInput, budget: CostBudget, params: KubeObject | null): (name: string) => unknown {
  if (policy.variables.length === 0) return params === null ? (p.plain ??= activationOf(p, NO_VARIABLES, null)) : activationOf(p, NO_VARIABLES, params);
  const lazy = new LazyVariables();
  const activation = activationOf(p, new CelMap(lazy), params);
  for (const v of policy.variables) lazy.define(v.name, () => v.program.evaluate(activation, { budget }));
  return activation;
}

type Run = { ok: true; value: unknown } | { ok: false; error: string };

function run(program: CompiledExpression, activation: (name: string) => unknown, budget: CostBudget): Run {
  try {
    return { ok: true, value: program.evaluate(activation, { budget }) };
  } catch (err) {
    return { ok: false, error: errorText(err) };
  }
}

/** The rule name a params problem is reported under (as `(matchConditions)` for those). */
export const PARAMS_RULE = '(params)';

/** One Policy's verdict on one request. Never throws for CEL problems. */
export function evaluatePolicy(policy: CompiledPolicy, input: EvaluationInput, options: EvaluateOptions): PolicyEvaluation {
  const p = prepare(input);
  const why = mismatch(policy, input, p);
  if (why !== undefined) return { policy: policy.name, mode: policy.mode, applied: false, reason: why };
  if (!policy.paramKind) return evaluateWith(policy, p, null, options);

  const resolved = resolveParams(policy.paramKind, policy.paramRef, input.request.namespace ?? '', options.params ?? NO_PARAM_SOURCE);
  if (resolved.kind === 'skip') return { policy: policy.name, mode: policy.mode, applied: false, reason: resolved.reason };
  if (resolved.kind === 'error') {
    // A params problem fails closed, as a binding's configuration error does under VAP's
    // failurePolicy Fail; one result under its own name says why.
    return { policy: policy.name, mode: policy.mode, applied: true, rules: [{ rule: PARAMS_RULE, result: 'error', severity: 'high', message: resolved.message }] };
  }
  if (resolved.objects.length === 1) return evaluateWith(policy, p, resolved.objects[0] ?? null, options);
  return mergeByParam(
    resolved.objects.map((o) => [o === null ? '' : paramName(o), evaluateWith(policy, p, o, options)] as const),
  );
}

/**
 * Several param objects (paramRef.selector): VAP evaluates the policy once per object and
 * any failure denies. Here one evaluation per rule: the first failing or erroring object's
 * result, its message naming the object; pass when every object passes.
 */
function mergeByParam(runs: readonly (readonly [string, PolicyEvaluation])[]): PolicyEvaluation {
  const applied = runs.filter((r): r is readonly [string, Extract<PolicyEvaluation, { applied: true }>] => r[1].applied);
  const first = runs[0]![1];
  if (applied.length === 0) return first;
  const conditionErrors = applied.filter(([, ev]) => ev.matchConditionError !== undefined).map(([name, ev]) => `params ${name}: ${ev.matchConditionError}`);
  if (conditionErrors.length > 0) return { policy: first.policy, mode: first.mode, applied: true, rules: [], matchConditionError: conditionErrors.join('; ') };
  const rules = applied[0]![1].rules.map((r, i) => {
    for (const [name, ev] of applied) {
      const other = ev.rules[i]!;
      if (other.result === 'fail' || other.result === 'error') return { ...other, message: `params ${name}: ${other.message ?? `failed rule ${other.rule}`}` };
    }
    return r;
  });
  return { policy: first.policy, mode: first.mode, applied: true, rules };
}

function evaluateWith(policy: CompiledPolicy, p: PreparedInput, params: KubeObject | null, options: EvaluateOptions): PolicyEvaluation {
  const budget: CostBudget = { used: 0, limit: options.policyCostLimit ?? PER_POLICY_COST_LIMIT };
  const activation = activationFor(policy, p, budget, params);

  // Kubernetes: any false matchCondition skips the policy; otherwise any error fails closed.
  // Their budget is their own, as the apiserver's matcher gives them
  // (RuntimeCELCostBudgetMatchConditions); validations then start from the full budget.
  if (policy.matchConditions.length > 0) {
    const conditionErrors: string[] = [];
    const conditionBudget: CostBudget = { used: 0, limit: Math.min(MATCH_CONDITIONS_COST_LIMIT, budget.limit) };
    for (const cond of policy.matchConditions) {
      const r = run(cond.program, activation, conditionBudget);
      if (r.ok && r.value === false) return { policy: policy.name, mode: policy.mode, applied: false, reason: `matchCondition "${cond.name}" is false` };
      if (!r.ok) conditionErrors.push(`matchCondition "${cond.name}" errored: ${r.error}`);
      else if (r.value !== true) conditionErrors.push(`matchCondition "${cond.name}" returned a non-bool value`);
    }
    if (conditionErrors.length > 0) {
      return { policy: policy.name, mode: policy.mode, applied: true, rules: [], matchConditionError: conditionErrors.join('; ') };
    }
  }

  // Built only when there are exceptions to look through: most requests have none.
  const exempting = options.exceptions?.length
    ? {
        exceptions: options.exceptions,
        options: { now: options.now, ...(options.clusterExceptionNamespace !== undefined ? { clusterExceptionNamespace: options.clusterExceptionNamespace } : {}) },
      }
    : undefined;

  const rules: RuleResult[] = new Array<RuleResult>(policy.rules.length);
  for (let i = 0; i < policy.rules.length; i++) {
    const rule = policy.rules[i] as CompiledPolicy['rules'][number];
    const exemption = exempting && findExemption(exempting.exceptions, { ...targetOf(p), policy: policy.name, rule: rule.name }, exempting.options);
    if (exemption) {
      rules[i] = {
        rule: rule.name,
        result: 'exempt',
        severity: rule.severity,
        exception: exemption.ref,
        message: `exempted by PolicyException ${exemption.ref} until ${exemption.exception.spec.expiresAt}`,
      };
      continue;
    }
    rules[i] = ruleResult(rule, activation, budget);
  }
  return { policy: policy.name, mode: policy.mode, applied: true, rules };
}

function ruleResult(rule: CompiledPolicy['rules'][number], activation: (name: string) => unknown, budget: CostBudget): RuleResult {
  let value: unknown;
  try {
    value = rule.program.evaluate(activation, { budget });
  } catch (err) {
    return { rule: rule.name, result: 'error', severity: rule.severity, message: `rule ${rule.name} errored: ${errorText(err)}` };
  }
  if (value === true) return { rule: rule.name, result: 'pass', severity: rule.severity };
  if (value !== false) {
    return { rule: rule.name, result: 'error', severity: rule.severity, message: `rule ${rule.name} errored: result is not a bool` };
  }
  let message = rule.message !== undefined && rule.message.trim() !== '' ? rule.message : `failed rule ${rule.name}`;
  if (rule.messageProgram) {
    // Kubernetes falls back to `message` when messageExpression errors or is empty.
    const m = run(rule.messageProgram, activation, budget);
    if (m.ok && typeof m.value === 'string' && m.value.trim() !== '') message = m.value;
  }
  return { rule: rule.name, result: 'fail', severity: rule.severity, message };
}

/** Every policy's verdict on one request, aggregated by mode (decision.ts `decide`). */
export function evaluate(
  policies: readonly CompiledPolicy[],
  input: EvaluationInput,
  options: EvaluateOptions,
): PolicyDecision {
  return decide(policies.map((p) => evaluatePolicy(p, input, options)));
}
