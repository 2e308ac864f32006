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

/** One object against every policy. Pure: same inputs, same verdicts. */
export function auditObject(policies: readonly CompiledPolicy[], object: KubeObject, ctx: AuditContext): ObjectAudit {
  const ref = refOf(object);
  const audit: ObjectAudit = { ref, key: keyOf(ref), applied: [], verdicts: [] };
  const options = { now: ctx.now, exceptions: ctx.exceptions, ...(ctx.params ? { params: ctx.params } : {}) };
  // One input per operation, shared by the policies (the engine caches conversion per input).
  const inputs = new Map<string, Parameters<typeof evaluatePolicy>[1]>();
  const inputFor = (operation: 'CREATE' | 'UPDATE') => {
    let input = inputs.get(operation);
    if (!input) {
      input = { request: syntheticRequest(object, { operation, ...(operation === 'UPDATE' ? { oldObject: object } : {}) }), namespaceObject: ctx.namespaceObject };
      inputs.set(operation, input);
    }
    return input;
  };
  for (const policy of policies) {
    if (!selectsKind(policy, object)) continue;
    // A stored object is what a CREATE (or, for UPDATE-only policies, an UPDATE) produced;
    // DELETE/CONNECT-only policies have nothing to say about it.
    const operation = policy.operations.has('CREATE') ? 'CREATE' : policy.operations.has('UPDATE') ? 'UPDATE' : undefined;
    if (!operation) continue;
    const ev = evaluatePolicy(policy, inputFor(operation), options);
    if (!ev.applied) continue;
    audit.applied.push(policy.name);
    if (ev.matchConditionError !== undefined) {
      audit.verdicts.push({ policy: policy.name, rule: '(matchConditions)', result: 'error', severity: 'high', message: ev.matchConditionError, wouldDeny: true });
      continue;
    }
    const dependent = dependentRules(policy);
    for (const r of ev.rules) {
      const base = { policy: policy.name, rule: r.rule, severity: r.severity };
      if (dependent.has(r.rule)) {
        audit.verdicts.push({ ...base, result: 'skip', message: SKIP_REQUEST_MESSAGE, wouldDeny: false });
      } else if (r.result === 'exempt') {
        audit.verdicts.push({ ...base, result: 'skip', ...(r.message ? { message: r.message } : {}), wouldDeny: false });
      } else if (r.result === 'pass') {
        audit.verdicts.push({ ...base, result: 'pass', wouldDeny: false });
      } else {
        const result: ReportResultValue = r.result === 'error' ? 'error' : policy.mode === 'Warn' ? 'warn' : 'fail';
        audit.verdicts.push({ ...base, result, ...(r.message ? { message: r.message } : {}), wouldDeny: true });
      }
    }
  }
  return audit;
}
