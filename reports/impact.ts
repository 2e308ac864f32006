// Impact preview (issue 6 item 3): what a Policy would deny among existing resources if
// it were in Enforce mode, whatever its mode now. Pure aggregation over object audits.
import type { ObjectAudit } from './audit.js';

/** Policy status.impact.examples has maxItems 10 (crds/policy.yaml). */
export const MAX_IMPACT_EXAMPLES = 10;
/** Example messages are cut here: status stays small and readable in `kubectl get -o yaml`. */
const EXAMPLE_MESSAGE_CHARS = 512;

export interface ImpactExample {
  kind: string;
  namespace?: string;
  name: string;
  rule: string;
  message: string;
}

export interface PolicyImpact {
  evaluated: number;
  wouldDeny: number;
  examples: ImpactExample[];
  lastScanTime: string;
}

/** Impact of one policy over audits (any iterable, e.g. every scope's). Examples in key order. */
export function impactOf(policy: string, audits: Iterable<ObjectAudit>, now: Date): PolicyImpact {
  let evaluated = 0;
  const denied: { key: string; example: ImpactExample }[] = [];
  for (const a of audits) {
    if (!a.applied.includes(policy)) continue;
    evaluated += 1;
    const v = a.verdicts.find((x) => x.policy === policy && x.wouldDeny);
    if (!v) continue;
    denied.push({
      key: a.key,
      example: { kind: a.ref.kind, ...(a.ref.namespace ? { namespace: a.ref.namespace } : {}), name: a.ref.name, rule: v.rule, message: (v.message ?? `failed rule ${v.rule}`).slice(0, EXAMPLE_MESSAGE_CHARS) },
    });
  }
  denied.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  return { evaluated, wouldDeny: denied.length, examples: denied.slice(0, MAX_IMPACT_EXAMPLES).map((d) => d.example), lastScanTime: now.toISOString().replace(/\.\d{3}Z$/, 'Z') };
}

/**
 * impactOf for several policies in one pass over the audits (the controller's every-scan
 * write of status.impact): one walk of the verdicts, not one per Policy.
 */
export function impactsOf(policies: readonly string[], audits: Iterable<ObjectAudit>, now: Date): Map<string, PolicyImpact> {
  const acc = new Map(policies.map((p) => [p, { evaluated: 0, denied: [] as { key: string; example: ImpactExample }[] }]));
  for (const a of audits) {
    for (const policy of a.applied) {
      const entry = acc.get(policy);
      if (!entry) continue;
      entry.evaluated += 1;
      const v = a.verdicts.find((x) => x.policy === policy && x.wouldDeny);
      if (!v) continue;
      entry.denied.push({
        key: a.key,
        example: { kind: a.ref.kind, ...(a.ref.namespace ? { namespace: a.ref.namespace } : {}), name: a.ref.name, rule: v.rule, message: (v.message ?? `failed rule ${v.rule}`).slice(0, EXAMPLE_MESSAGE_CHARS) },
      });
    }
  }
  const lastScanTime = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const out = new Map<string, PolicyImpact>();
  for (const [policy, { evaluated, denied }] of acc) {
    denied.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
    out.set(policy, { evaluated, wouldDeny: denied.length, examples: denied.slice(0, MAX_IMPACT_EXAMPLES).map((d) => d.example), lastScanTime });
  }
  return out;
}

/** Whether two impacts say the same thing (the scan time aside). */
export function sameImpact(a: Omit<PolicyImpact, 'lastScanTime'> | undefined, b: Omit<PolicyImpact, 'lastScanTime'>): boolean {
  if (!a) return false;
  return a.evaluated === b.evaluated && a.wouldDeny === b.wouldDeny && JSON.stringify(a.examples ?? []) === JSON.stringify(b.examples);
}
