// The validating webhook: ownership rules, environment binding, the Policy and
// PolicyException objects themselves, then every matching Policy (DESIGN.md §3–4, issue 11).
import { allowed, denied, type Decision } from './decision.js';
import { validateEnvironment } from './environment.js';
import { DEFAULT_OWNERSHIP_OPTIONS, GROUP, validateOwnership, type OwnershipOptions, type OwnershipView } from './ownership.js';
import type { PolicyStore } from './policy-store.js';
import type { AdmissionRequest, KubeObject } from './review.js';
import { compilePolicy, evaluate, nativeRefusals, resourceTypeOf } from '../policy-engine/policy/index.js';
import { resourceOfType } from './webhook-config.js';
import type { Policy, PolicyException } from '../crds/types.js';
import { reservedTopicRefusal } from '../crds/registry.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** An exemption is a debt with a due date: 90 days unless the platform team says otherwise. */
export const DEFAULT_MAX_EXCEPTION_LIFETIME_MS = 90 * DAY_MS;

export interface ValidateContext {
  view: OwnershipView;
  store: PolicyStore;
  now: () => Date;
  /** Namespace objects for namespaceObject / namespaceSelector; undefined when unknown. */
  namespaceObject: (name: string) => KubeObject | undefined;
  ownership?: OwnershipOptions;
  /** The latest a PolicyException may expire, from now (default 90 days). */
  maxExceptionLifetimeMs?: number;
}

function validatePolicyObject(req: AdmissionRequest): Decision {
  const policy = req.object as unknown as Policy;
  try {
    // Warnings (an estimated cost over the per-call limit) admit the Policy, as VAP's do.
    const compiled = compilePolicy(policy);
    if (policy.spec?.enforcement === 'Native') {
      const refusals = nativeRefusals(policy, { resourceOf: resourceOfType });
      if (refusals.length > 0) {
        return denied(
          'PolicyInvalid',
          `Policy ${policy.metadata?.name ?? req.name} cannot be enforced natively (spec.enforcement: Native): ${refusals.join('; ')}. ` +
            "Fix that, or drop spec.enforcement (Webhook) to keep KIDP's webhook enforcing it",
        );
      }
    }
    return allowed({ warnings: compiled.warnings.map((w) => `Policy ${policy.metadata?.name ?? req.name}: ${w}`) });
  } catch (e) {
    return denied('PolicyInvalid', `Policy ${policy.metadata?.name ?? req.name}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** True when a match would select every resource of the exception's namespace. */
function matchesEverything(match: PolicyException['spec']['match'] | undefined): boolean {
  const names = (match?.names ?? []).filter((n) => n !== '*');
  return (match?.resourceTypes ?? []).length === 0 && names.length === 0 && Object.keys(match?.matchLabels ?? {}).length === 0;
}

function validateExceptionObject(req: AdmissionRequest, ctx: ValidateContext): Decision {
  const ex = req.object as unknown as PolicyException;
  const name = ex.metadata?.name ?? req.name;
  const problems: string[] = [];
  if (!ctx.store.hasPolicy(ex.spec.policyName)) problems.push(`spec.policyName: Policy ${ex.spec.policyName} does not exist`);
  const expires = Date.parse(ex.spec.expiresAt);
  const now = ctx.now().getTime();
  const maxMs = ctx.maxExceptionLifetimeMs ?? DEFAULT_MAX_EXCEPTION_LIFETIME_MS;
  if (Number.isNaN(expires)) problems.push(`spec.expiresAt: ${JSON.stringify(ex.spec.expiresAt)} is not an RFC 3339 time`);
  else if (expires <= now) problems.push(`spec.expiresAt: ${ex.spec.expiresAt} is not in the future; an exception must expire later than now`);
  else if (expires - now > maxMs) {
    problems.push(`spec.expiresAt: ${ex.spec.expiresAt} is more than ${Math.round(maxMs / DAY_MS)} days away; an exception expires by ${new Date(now + maxMs).toISOString()} at the latest (renew it then if it is still needed)`);
  }
  if (matchesEverything(ex.spec.match)) {
    problems.push('spec.match is empty and would exempt every resource of the namespace; name the resourceTypes, names or matchLabels it covers');
  }
  return problems.length === 0 ? allowed() : denied('PolicyExceptionInvalid', `PolicyException ${name}: ${problems.join('; ')}`);
}

export function validate(req: AdmissionRequest, ctx: ValidateContext): Decision {
  // Every problem in one answer: a person fixing an apply should not meet them one by one.
  const problems: Decision[] = [];
  if (!req.subResource) {
    problems.push(validateOwnership(req, ctx.view, ctx.ownership ?? DEFAULT_OWNERSHIP_OPTIONS));
    problems.push(validateEnvironment(req, ctx.view));
  }
  if (req.kind.group === GROUP && (req.operation === 'CREATE' || req.operation === 'UPDATE') && !req.subResource) {
    if (req.kind.kind === 'Policy') problems.push(validatePolicyObject(req));
    else if (req.kind.kind === 'PolicyException') problems.push(validateExceptionObject(req, ctx));
  }
  if (req.kind.group === GROUP && req.kind.kind === 'Topic' && req.operation === 'CREATE' && !req.subResource && req.namespace) {
    // With generateName the apiserver has named the object before admission; req.name may be empty.
    const refusal = reservedTopicRefusal(req.namespace, req.name || ((req.object as KubeObject | undefined)?.metadata?.name ?? ''));
    if (refusal) problems.push(denied('ReservedTopicName', refusal));
  }
  const denials = problems.filter((d) => !d.allowed);
  const objectWarnings = problems.flatMap((d) => (d.allowed ? d.warnings : []));
  // Only the policies that select this kind: the others cannot match, and need no look.
  const policies = ctx.store.policiesFor(resourceTypeOf(req.kind));
  if (policies.length === 0) {
    return denials[0] ? denied(denials[0].reason ?? 'Denied', denials.map((d) => d.message).join('; ')) : allowed({ warnings: objectWarnings });
  }
  const namespaceObject = req.namespace ? (ctx.namespaceObject(req.namespace) ?? null) : null;
  const verdict = evaluate(policies, { request: req, namespaceObject }, { now: ctx.now(), exceptions: ctx.store.policyExceptions() });
  const extras = { warnings: [...objectWarnings, ...verdict.warnings], auditAnnotations: verdict.auditAnnotations, evaluations: verdict.evaluations };
  const messages = [...denials.map((d) => d.message ?? ''), ...(verdict.allowed ? [] : [verdict.message ?? 'denied by policy'])];
  if (messages.length === 0) return allowed(extras);
  // The first problem names the reason: ownership before policy.
  return denied(denials[0]?.reason ?? 'PolicyViolation', messages.join('; '), extras);
}
