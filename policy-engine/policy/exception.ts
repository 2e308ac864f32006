// PolicyException: a time-boxed, approved exemption from named rules (DESIGN.md §3).
// An exception is namespaced and exempts only resources in its own namespace; cluster-scoped
// resources (Namespace, Team, ...) can only be exempted from the platform's own namespace,
// so that a team cannot exempt itself from cluster-wide rules.

import { labelSelectorMatches, nameMatches } from './match.js';
import type { PolicyException } from './types.js';

export const DEFAULT_CLUSTER_EXCEPTION_NAMESPACE = 'kidp-system';

/** What an exception is matched against. */
export interface ExemptionTarget {
  policy: string;
  rule: string;
  resourceType: string;
  name: string;
  /** Empty for cluster-scoped resources. */
  namespace: string;
  labels: Readonly<Record<string, string>>;
}

export interface ExceptionOptions {
  now: Date;
  /** Namespace whose exceptions may exempt cluster-scoped resources. */
  clusterExceptionNamespace?: string;
}

/**
 * Whether the exception is still in force. An unparseable expiresAt counts as expired:
 * an exception that cannot say when it ends exempts nothing.
 */
export function isActive(ex: PolicyException, now: Date): boolean {
  const expires = Date.parse(ex.spec?.expiresAt ?? '');
  return Number.isFinite(expires) && expires > now.getTime();
}

export function exceptionApplies(ex: PolicyException, target: ExemptionTarget, options: ExceptionOptions): boolean {
  const spec = ex.spec;
  if (!spec || spec.policyName !== target.policy) return false;
  if (!isActive(ex, options.now)) return false;
  const ruleNames = spec.ruleNames ?? [];
  if (ruleNames.length > 0 && !ruleNames.includes(target.rule)) return false;

  const exNamespace = ex.metadata?.namespace ?? '';
  const allowedNamespace =
    target.namespace === '' ? (options.clusterExceptionNamespace ?? DEFAULT_CLUSTER_EXCEPTION_NAMESPACE) : target.namespace;
  if (exNamespace !== allowedNamespace) return false;

  const match = spec.match ?? {};
  if (match.resourceTypes && match.resourceTypes.length > 0 && !match.resourceTypes.includes(target.resourceType)) {
    return false;
  }
  if (match.names && match.names.length > 0 && !nameMatches(match.names, target.name)) return false;
  return labelSelectorMatches({ matchLabels: match.matchLabels }, target.labels);
}

/** The first exception that exempts the target, as `namespace/name`, or undefined. */
export function findExemption(
  exceptions: readonly PolicyException[],
  target: ExemptionTarget,
  options: ExceptionOptions,
): { ref: string; exception: PolicyException } | undefined {
  for (const ex of exceptions) {
    if (exceptionApplies(ex, target, options)) {
      return { ref: `${ex.metadata.namespace ?? ''}/${ex.metadata.name ?? ''}`, exception: ex };
    }
  }
  return undefined;
}
