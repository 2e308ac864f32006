// Admission decisions are values (STYLE §1): handlers return one of these, built only by
// the constructors below; http.ts turns it into an AdmissionResponse.

import type { PolicyEvaluation } from '../policy-engine/policy/index.js';

export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'test';
  path: string;
  value?: unknown;
}

export interface Decision {
  allowed: boolean;
  /** HTTP-style status code carried in response.status for denials and errors. */
  code?: number;
  /** Machine-readable reason, e.g. OwnerNotFound, PolicyViolation, InternalError. */
  reason?: string;
  message?: string;
  patch?: JsonPatchOperation[];
  warnings: string[];
  /** Keys without the webhook prefix; the apiserver prefixes them with the webhook name. */
  auditAnnotations: Record<string, string>;
  /** The policies evaluated on the way, for the decision log and metrics (not sent). */
  evaluations?: readonly PolicyEvaluation[];
}

export interface DecisionExtras {
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
  evaluations?: readonly PolicyEvaluation[];
}

function extras(e: DecisionExtras = {}): Pick<Decision, 'warnings' | 'auditAnnotations' | 'evaluations'> {
  return { warnings: e.warnings ?? [], auditAnnotations: e.auditAnnotations ?? {}, ...(e.evaluations ? { evaluations: e.evaluations } : {}) };
}

export function allowed(e?: DecisionExtras): Decision {
  return { allowed: true, ...extras(e) };
}

/** A rule said no. 403 as the apiserver prints policy denials. */
export function denied(reason: string, message: string, e?: DecisionExtras): Decision {
  return { allowed: false, code: 403, reason, message, ...extras(e) };
}

/** Admitted with changes. An empty patch is an allow: reinvocation must converge. */
export function patched(patch: JsonPatchOperation[], e?: DecisionExtras): Decision {
  return patch.length === 0 ? allowed(e) : { allowed: true, patch, ...extras(e) };
}

/**
 * Something failed while deciding. Fails closed: the request is refused with a message
 * saying it was an error, never a stack trace.
 */
export function errored(code: number, reason: string, message: string, e?: DecisionExtras): Decision {
  return { allowed: false, code, reason, message, ...extras(e) };
}

/** Merges the extras of several sub-decisions (ownership, then policies) into one. */
export function withExtras(d: Decision, e: DecisionExtras): Decision {
  return {
    ...d,
    warnings: [...d.warnings, ...(e.warnings ?? [])],
    auditAnnotations: { ...d.auditAnnotations, ...(e.auditAnnotations ?? {}) },
  };
}
