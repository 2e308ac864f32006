// Policy decisions are values (STYLE.md §1): the evaluator returns these, and the webhook,
// the CLI and the background audit turn them into AdmissionResponses, lines and reports.

import type { PolicyMode, Severity } from './types.js';

export type RuleOutcome = 'pass' | 'fail' | 'error' | 'exempt';

export interface RuleResult {
  rule: string;
  result: RuleOutcome;
  severity: Severity;
  /** Set for fail and error (what to tell the user); for exempt, which exception and why. */
  message?: string;
  /** `namespace/name` of the PolicyException that exempted this rule. */
  exception?: string;
}

/** One Policy's verdict on one request. */
export type PolicyEvaluation =
  | { policy: string; mode: PolicyMode; applied: false; reason: string }
  | {
      policy: string;
      mode: PolicyMode;
      applied: true;
      /** Empty when a matchCondition errored: then `matchConditionError` says why. */
      rules: RuleResult[];
      /** Kubernetes fails closed when a matchCondition errors: the policy applies and errors. */
      matchConditionError?: string;
    };

/** Whether the policy has something to say: a failing/erroring rule or a matchCondition error. */
export function violations(ev: PolicyEvaluation): { rule: string; severity: Severity; message: string }[] {
  if (!ev.applied) return [];
  if (ev.matchConditionError !== undefined) {
    return [{ rule: '(matchConditions)', severity: 'high', message: ev.matchConditionError }];
  }
  return ev.rules
    .filter((r) => r.result === 'fail' || r.result === 'error')
    .map((r) => ({ rule: r.rule, severity: r.severity, message: r.message ?? `failed rule ${r.rule}` }));
}

/** Every matching policy's verdict on one request, aggregated by mode. */
export interface PolicyDecision {
  allowed: boolean;
  /** When denied: every failing rule of every Enforce policy, `policy/rule: message`, joined by '; '. */
  message?: string;
  /** One per failing rule of a Warn policy. */
  warnings: string[];
  /** One per failing rule of an Audit policy, key `policy.rule` (auditAnnotationKey), value JSON {policy, rule, severity, message}. */
  auditAnnotations: Record<string, string>;
  evaluations: PolicyEvaluation[];
}

/**
 * The apiserver files a webhook's audit annotation as `<webhook name>/<key>` and drops it
 * unless that is a valid qualified name: so the key has no '/', at most 63 characters,
 * alphanumeric at both ends. Long names keep a readable prefix plus a hash of the whole.
 */
export function auditAnnotationKey(policy: string, rule: string): string {
  const key = `${policy}.${rule}`.replace(/[^-A-Za-z0-9_.]/g, '-');
  if (key.length <= 63) return key;
  let hash = 0;
  for (const ch of key) hash = (Math.imul(hash, 31) + ch.charCodeAt(0)) >>> 0;
  const suffix = `-${hash.toString(36)}`;
  return `${key.slice(0, 63 - suffix.length).replace(/[^A-Za-z0-9]+$/, '')}${suffix}`;
}

function line(policy: string, rule: string, message: string): string {
  return `${policy}/${rule}: ${message}`;
}

/**
 * Enforce → denied listing all failing rules; Warn → warnings; Audit → audit annotations.
 * The one constructor for decisions, so the aggregation rule lives in one place.
 */
export function decide(evaluations: PolicyEvaluation[]): PolicyDecision {
  const denials: string[] = [];
  const warnings: string[] = [];
  const auditAnnotations: Record<string, string> = {};
  for (const ev of evaluations) {
    for (const v of violations(ev)) {
      switch (ev.mode) {
        case 'Enforce':
          denials.push(line(ev.policy, v.rule, v.message));
          break;
        case 'Warn':
          warnings.push(line(ev.policy, v.rule, v.message));
          break;
        case 'Audit':
          auditAnnotations[auditAnnotationKey(ev.policy, v.rule)] = JSON.stringify({ policy: ev.policy, rule: v.rule, severity: v.severity, message: v.message });
          break;
      }
    }
  }
  return denials.length > 0
    ? { allowed: false, message: denials.join('; '), warnings, auditAnnotations, evaluations }
    : { allowed: true, warnings, auditAnnotations, evaluations };
}
