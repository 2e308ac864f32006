// The PolicyCompliant condition of deployable resources (DESIGN §3, issue 6 item 4): one
// line summarising the object's audit results. The reports controller owns this one
// condition and nothing else in status (server-side apply, its own field manager), so it
// never races the deployable controller or the brokers' status handler for theirs.
import { conditionTime } from '../kube/index.js';
import type { ObjectAudit } from './audit.js';

export const POLICY_COMPLIANT = 'PolicyCompliant';
/** Condition messages are capped by the CRD at 32 KiB; a summary this long is already unread. */
const MESSAGE_CHARS = 2_000;

export interface ComplianceCondition {
  type: typeof POLICY_COMPLIANT;
  status: 'True' | 'False';
  reason: 'AllRulesPass' | 'NoPoliciesApply' | 'PolicyViolations';
  message: string;
  observedGeneration: number;
  lastTransitionTime: string;
}

export interface ExistingCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

/**
 * The condition for an audit, or undefined when the existing one already says it. The
 * transition time moves only when status flips, as metav1.Condition asks.
 */
export function complianceCondition(audit: ObjectAudit, generation: number, existing: ExistingCondition | undefined, now: Date): ComplianceCondition | undefined {
  const failing = audit.verdicts.filter((v) => v.result === 'fail' || v.result === 'error' || v.result === 'warn');
  const passing = audit.verdicts.filter((v) => v.result === 'pass').length;
  const skipped = audit.verdicts.filter((v) => v.result === 'skip').length;
  let next: Omit<ComplianceCondition, 'lastTransitionTime'>;
  if (failing.length > 0) {
    const list = failing.map((v) => `${v.policy}/${v.rule}: ${v.message ?? v.result}`).join('; ');
    const message = `${failing.length} of ${audit.verdicts.length} policy rules fail: ${list}`;
    next = { type: POLICY_COMPLIANT, status: 'False', reason: 'PolicyViolations', message: message.length > MESSAGE_CHARS ? `${message.slice(0, MESSAGE_CHARS - 1)}…` : message, observedGeneration: generation };
  } else if (audit.applied.length === 0) {
    next = { type: POLICY_COMPLIANT, status: 'True', reason: 'NoPoliciesApply', message: 'no Policy selects this resource', observedGeneration: generation };
  } else {
    next = { type: POLICY_COMPLIANT, status: 'True', reason: 'AllRulesPass', message: `${passing} policy rules pass${skipped > 0 ? `, ${skipped} skipped` : ''} (${audit.applied.join(', ')})`, observedGeneration: generation };
  }
  if (existing && existing.status === next.status && existing.reason === next.reason && existing.message === next.message && existing.observedGeneration === next.observedGeneration) return undefined;
  const lastTransitionTime = existing && existing.status === next.status && existing.lastTransitionTime ? existing.lastTransitionTime : conditionTime(now);
  return { ...next, lastTransitionTime };
}
