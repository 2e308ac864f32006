// The background audit of one stored object (issue 6 item 2): every current Policy is
// evaluated as at admission (policy-engine evaluatePolicy on a synthetic CREATE request,
// the same exceptions and the same injected clock), except that rules reading the request
// or the old object are `skip`: a stored object has neither.
import { evaluatePolicy, gvkOf, resourceTypeOf, type CompiledPolicy, type KubeObject, type ParamSource, type PolicyException, type Severity } from '../policy-engine/policy/index.js';
import { syntheticRequest } from '../policy-engine/policy/request.js';
import { requestDependentRules } from './request-dependence.js';
import type { ReportResultValue, ResourceRef } from './result.js';

export interface RuleVerdict {
  policy: string;
  rule: string;
  result: ReportResultValue;
  severity: Severity;
  message?: string;
  /** Whether Enforce would deny the object for this rule (fail or error, not skipped or exempt). */
  wouldDeny: boolean;
}

export interface ObjectAudit {
  ref: ResourceRef;
  /** `Kind/namespace/name`: what reports, shards and examples key on. */
  key: string;
  /** Policies that applied to the object (selector, operations, matchConditions). */
  applied: string[];
  verdicts: RuleVerdict[];
}

export interface AuditContext {
  now: Date;
  exceptions: readonly PolicyException[];
  /** Param objects of Policies with a paramKind, as admission binds them. */
  params?: ParamSource;
  namespaceObject: KubeObject | null;
}

export const SKIP_REQUEST_MESSAGE = 'reads the admission request (request, oldObject): evaluated at admission only';

const dependentCache = new WeakMap<CompiledPolicy, Set<string>>();

export function dependentRules(policy: CompiledPolicy): Set<string> {
  let d = dependentCache.get(policy);
  if (!d) {
    d = requestDependentRules(policy);
    dependentCache.set(policy, d);
  }
  return d;
}

export function refOf(object: KubeObject): ResourceRef {
  const m = object.metadata ?? {};
  return {
    apiVersion: object.apiVersion ?? '',
    kind: object.kind ?? '',
    name: m.name ?? '',
    ...(m.namespace ? { namespace: m.namespace } : {}),
    ...(m.uid ? { uid: m.uid } : {}),
  };
}

export function keyOf(ref: Pick<ResourceRef, 'kind' | 'namespace' | 'name'>): string {
  return `${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

/** Whether any policy could select this kind at all (cheap pre-filter before building requests). */
export function selectsKind(policy: CompiledPolicy, object: KubeObject): boolean {
  return policy.resourceTypes.has(resourceTypeOf(gvkOf(object)));
}

/** What one Policy said about one object: nothing (not applied), or its rules' verdicts. */
interface PolicyOutcome {
  applied: boolean;
  verdicts: readonly RuleVerdict[];
}

const NOT_APPLIED: PolicyOutcome = { applied: false, verdicts: [] };

/**
 * The last audit of each object of a scope, and each Policy's outcome in it, so a rescan
 * evaluates only what can have changed (issue 17 item 2: one Policy edited re-evaluates that
 * Policy, not all twenty). An outcome is reused while the object (uid, resourceVersion), the
 * namespace object (resourceVersion) and the compiled Policy (the store replaces it on every
 * new generation) are the same, and only for Policies with no paramKind and no
 * PolicyException naming them: params change without the object changing, and exceptions
 * expire with time. An audit whose outcomes are all reused is the same ObjectAudit object,
 * which lets the report builder reuse its serialized results too.
 */
export class AuditCache {
  private entries = new Map<string, { version: string; audit: ObjectAudit; outcomes: Map<CompiledPolicy, PolicyOutcome> }>();
  private next = new Map<string, { version: string; audit: ObjectAudit; outcomes: Map<CompiledPolicy, PolicyOutcome> }>();

  /** Starts a scan: entries not audited again by `finish()` are dropped (deleted objects). */
  begin(): void {
    this.next = new Map();
  }

  finish(): void {
    this.entries = this.next;
    this.next = new Map();
  }

  get(key: string, version: string) {
    const e = this.entries.get(key);
    return e && e.version === version ? e : undefined;
  }

  set(key: string, version: string, audit: ObjectAudit, outcomes: Map<CompiledPolicy, PolicyOutcome>): void {
    this.next.set(key, { version, audit, outcomes });
  }

  get size(): number {
    return this.entries.size;
  }
}

function outcomeOf(policy: CompiledPolicy, input: () => Parameters<typeof evaluatePolicy>[1], options: Parameters<typeof evaluatePolicy>[2]): PolicyOutcome {
  // A stored object is what a CREATE (or, for UPDATE-only policies, an UPDATE) produced;
  // DELETE/CONNECT-only policies have nothing to say about it.
  const operation = policy.operations.has('CREATE') ? 'CREATE' : policy.operations.has('UPDATE') ? 'UPDATE' : undefined;
  if (!operation) return NOT_APPLIED;
  const ev = evaluatePolicy(policy, input(), options);
  if (!ev.applied) return NOT_APPLIED;
  if (ev.matchConditionError !== undefined) {
    return { applied: true, verdicts: [{ policy: policy.name, rule: '(matchConditions)', result: 'error', severity: 'high', message: ev.matchConditionError, wouldDeny: true }] };
  }
  const dependent = dependentRules(policy);
  const verdicts: RuleVerdict[] = [];
  for (const r of ev.rules) {
    const base = { policy: policy.name, rule: r.rule, severity: r.severity };
    if (dependent.has(r.rule)) {
      verdicts.push({ ...base, result: 'skip', message: SKIP_REQUEST_MESSAGE, wouldDeny: false });
    } else if (r.result === 'exempt') {
      verdicts.push({ ...base, result: 'skip', ...(r.message ? { message: r.message } : {}), wouldDeny: false });
    } else if (r.result === 'pass') {
      verdicts.push({ ...base, result: 'pass', wouldDeny: false });
    } else {
      const result: ReportResultValue = r.result === 'error' ? 'error' : policy.mode === 'Warn' ? 'warn' : 'fail';
      verdicts.push({ ...base, result, ...(r.message ? { message: r.message } : {}), wouldDeny: true });
    }
  }
  return { applied: true, verdicts };
}

function sameOrder(a: Map<CompiledPolicy, PolicyOutcome>, b: Map<CompiledPolicy, PolicyOutcome>): boolean {
  if (a.size !== b.size) return false;
  const ib = b.keys();
  for (const k of a.keys()) if (ib.next().value !== k) return false;
  return true;
}

/**
 * One object against every policy. Pure: same inputs, same verdicts. With `cache` (one per
 * scope, between its begin() and finish()), outcomes that cannot have changed are reused.
 */
export function auditObject(policies: readonly CompiledPolicy[], object: KubeObject, ctx: AuditContext, cache?: AuditCache): ObjectAudit {
  const ref = refOf(object);
  const key = keyOf(ref);
  const options = { now: ctx.now, exceptions: ctx.exceptions, ...(ctx.params ? { params: ctx.params } : {}) };
  // One input per operation, shared by the policies (the engine caches conversion per input).
  const inputs = new Map<string, Parameters<typeof evaluatePolicy>[1]>();
  const inputFor = (operation: 'CREATE' | 'UPDATE') => () => {
    let input = inputs.get(operation);
    if (!input) {
      input = { request: syntheticRequest(object, { operation, ...(operation === 'UPDATE' ? { oldObject: object } : {}) }), namespaceObject: ctx.namespaceObject };
      inputs.set(operation, input);
    }
    return input;
  };
  const rv = object.metadata?.resourceVersion;
  const version = cache && rv ? `${ref.uid ?? ''}/${rv}/${ctx.namespaceObject?.metadata?.resourceVersion ?? ''}` : undefined;
  const previous = version ? cache?.get(key, version) : undefined;
  const excepted = cache && ctx.exceptions.length > 0 ? new Set(ctx.exceptions.map((e) => e.spec?.policyName)) : undefined;
  const outcomes = new Map<CompiledPolicy, PolicyOutcome>();
  const ordered: [CompiledPolicy, PolicyOutcome][] = [];
  let reused = previous !== undefined;
  for (const policy of policies) {
    if (!selectsKind(policy, object)) continue;
    const cacheable = !policy.paramKind && !excepted?.has(policy.name);
    let outcome = cacheable ? previous?.outcomes.get(policy) : undefined;
    if (!outcome) {
      reused = false;
      outcome = outcomeOf(policy, inputFor(policy.operations.has('CREATE') ? 'CREATE' : 'UPDATE'), options);
    }
    if (cacheable) outcomes.set(policy, outcome);
    ordered.push([policy, outcome]);
  }
  // Same outcomes of the same policies in the same order: the previous audit stands as it was.
  if (previous && reused && sameOrder(previous.outcomes, outcomes)) {
    cache?.set(key, version!, previous.audit, outcomes);
    return previous.audit;
  }
  const audit: ObjectAudit = { ref, key, applied: [], verdicts: [] };
  for (const [policy, outcome] of ordered) {
    if (!outcome.applied) continue;
    audit.applied.push(policy.name);
    audit.verdicts.push(...outcome.verdicts);
  }
  if (version) cache?.set(key, version, audit, outcomes);
  return audit;
}
