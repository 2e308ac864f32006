// Native enforcement (spec.enforcement: Native): a Policy whose expressions need nothing
// beyond the ValidatingAdmissionPolicy environment is turned into a
// ValidatingAdmissionPolicy + ValidatingAdmissionPolicyBinding, which the apiserver
// evaluates in-process. Pure: the reports controller applies what this returns and
// re-applies it when a PolicyException changes or expires.
//
// How a Policy maps onto a VAP:
// - the `spec`, `metadata` and `status` shorthands (KIDP's, not VAP's) become
//   `object.spec`, ...; everything else must compile unchanged in the VAP environment
//   (checked by compiling the rewritten Policy with only VAP's variables declared);
// - selector.resourceTypes/operations → matchConstraints.resourceRules; matchLabels and
//   matchExpressions → objectSelector; namespaceSelector as it is;
// - core kinds keep the webhook's exclusions (kube-system, the platform namespace, the
//   platform's own service accounts) as one matchCondition;
// - mode → validationActions: Enforce → Deny, Warn → Warn, Audit → Audit; paramKind and
//   paramRef go to the VAP and its binding as they are (the same shapes);
// - each rule's message is `policy/rule: message`, KIDP's own line; the apiserver reports
//   the first failing rule only (KIDP's webhook lists every one);
// - an active PolicyException without ruleNames becomes a matchCondition that skips the
//   objects it exempts; one with ruleNames is folded into those rules' expressions
//   (`exempted || rule`). VAP has no clock, so the caller regenerates at `nextChangeAt`
//   (the earliest expiry).
import { parse } from '../cel/parse/parser.js';
import { walkScoped, type Expr } from '../cel/parse/ast.js';
import { compilePolicy } from './compile.js';
import { DEFAULT_CLUSTER_EXCEPTION_NAMESPACE, isActive } from './exception.js';
import { DEFAULT_OPERATIONS } from './match.js';
import type { LabelSelector, Policy, PolicyException } from './types.js';

/** KIDP's shorthands and what they stand for in VAP. */
export const SHORTHANDS: Readonly<Record<string, string>> = { spec: 'object.spec', metadata: 'object.metadata', status: 'object.status' };

const SHORTHAND_NAMES: ReadonlySet<string> = new Set(Object.keys(SHORTHANDS));

/** Where a resource type (as selectors spell it) is served, for resourceRules. */
export type ResourceOf = (resourceType: string) => { group: string; resource: string; kind: string } | undefined;

export interface NativeOptions {
  resourceOf: ResourceOf;
  /** KIDP's own API group: its kinds get no core-kind exclusions. */
  platformGroup: string;
  /** The platform's namespace, excluded for core kinds as the webhook excludes it. */
  platformNamespace: string;
  /** Namespace whose exceptions may exempt cluster-scoped resources. */
  clusterExceptionNamespace?: string;
  now: Date;
}

export interface NativeObjects {
  /** Name of both generated objects. */
  name: string;
  policy: Record<string, unknown>;
  binding: Record<string, unknown>;
  /** The exceptions folded in, as namespace/name. */
  exceptions: string[];
  /** When the objects must be generated again: the earliest expiry of an exception folded in. */
  nextChangeAt?: Date;
}

/** Label on generated objects naming the Policy they enforce. */
export const NATIVE_POLICY_LABEL = 'platform.kidp.io/policy';
const NAME_PREFIX = 'kidp-';
// The apiserver omits empty `namespace` (cluster-scoped objects) and `name` (generateName)
// from the request, so reading them plainly would be a "no such key" error there.
const REQUEST_NAMESPACE = "request.?namespace.orValue('')";
const REQUEST_NAME = "request.?name.orValue('')";
const MAX_NAME = 253;

/** The Policy condition that says whether the apiserver enforces it (reports/native.ts writes it). */
export const NATIVE_ENFORCED = 'NativeEnforced';

/**
 * Whether KIDP's webhook may leave `policy` to the apiserver: it asks for Native and its
 * ValidatingAdmissionPolicy was written for this very generation. Until then the webhook
 * keeps evaluating it, so a change is never a gap.
 */
export function nativelyEnforced(policy: Policy): boolean {
  if (policy.spec?.enforcement !== 'Native') return false;
  const conditions = (policy as { status?: { conditions?: { type: string; status: string; observedGeneration?: number }[] } }).status?.conditions ?? [];
  const c = conditions.find((x) => x.type === NATIVE_ENFORCED);
  return c?.status === 'True' && c.observedGeneration === (policy.metadata?.generation ?? 0);
}

/** The name of the generated ValidatingAdmissionPolicy and its Binding. */
export function nativeName(policyName: string): string {
  return `${NAME_PREFIX}${policyName}`;
}

interface Span {
  pos: number;
  name: string;
}

/** Free identifiers of `e` (not comprehension or bind variables) whose name is in `names`. */
function freeSpans(e: Expr, names: ReadonlySet<string>, out: Span[]): void {
  walkScoped(e, (n, bound) => {
    if (n.kind === 'ident' && !n.rooted && !bound.has(n.name) && names.has(n.name)) out.push({ pos: n.pos, name: n.name });
  });
}

/**
 * The expression with KIDP's shorthands spelled as VAP spells them (`spec.x` →
 * `object.spec.x`); comprehension variables of the same name are left alone.
 */
export function toVapExpression(source: string): string {
  const spans: Span[] = [];
  freeSpans(parse(source), SHORTHAND_NAMES, spans);
  let out = source;
  for (const s of spans.sort((a, b) => b.pos - a.pos)) {
    if (out.slice(s.pos, s.pos + s.name.length) !== s.name) throw new Error(`internal: identifier ${s.name} not found at offset ${s.pos} of ${JSON.stringify(source)}`);
    out = `${out.slice(0, s.pos)}${SHORTHANDS[s.name]}${out.slice(s.pos + s.name.length)}`;
  }
  return out;
}

/** A CEL string literal for any string (JSON's escapes are all CEL escapes). */
function lit(s: string): string {
  return JSON.stringify(s);
}

function rewritten(policy: Policy): Policy {
  const spec = policy.spec;
  return {
    ...policy,
    spec: {
      ...spec,
      ...(spec.variables ? { variables: spec.variables.map((v) => ({ ...v, expression: toVapExpression(v.expression) })) } : {}),
      ...(spec.matchConditions ? { matchConditions: spec.matchConditions.map((c) => ({ ...c, expression: toVapExpression(c.expression) })) } : {}),
      rules: spec.rules.map((r) => ({
        ...r,
        expression: toVapExpression(r.expression),
        ...(typeof r.messageExpression === 'string' && r.messageExpression !== '' ? { messageExpression: toVapExpression(r.messageExpression) } : {}),
      })),
    },
  };
}

/**
 * Why the Policy cannot be enforced natively, one line each; empty when it can. Compile
 * errors of the Policy itself are not repeated here (admission reports them first).
 */
export function nativeRefusals(policy: Policy, options: Pick<NativeOptions, 'resourceOf'>): string[] {
  const problems: string[] = [];
  const name = policy.metadata?.name ?? '';
  if (nativeName(name).length > MAX_NAME) problems.push(`the name is longer than ${MAX_NAME - NAME_PREFIX.length} characters, too long for the generated ValidatingAdmissionPolicy ${nativeName('<name>')}`);
  for (const t of policy.spec?.selector?.resourceTypes ?? []) {
    if (!options.resourceOf(t)) problems.push(`resource type ${t} has no API resource KIDP knows, so no ValidatingAdmissionPolicy rule can select it`);
  }
  for (const c of policy.spec?.matchConditions ?? []) {
    const uses: Span[] = [];
    try {
      freeSpans(parse(c.expression), new Set(['variables']), uses);
    } catch {
      continue; // a parse error is the Policy's own compile error
    }
    if (uses.length > 0) problems.push(`matchCondition "${c.name}" reads variables, which a ValidatingAdmissionPolicy's matchConditions cannot`);
  }
  let vap: Policy;
  try {
    vap = rewritten(policy);
  } catch (e) {
    return [...problems, e instanceof Error ? e.message : String(e)];
  }
  try {
    compilePolicy(vap, { vapVariablesOnly: true });
  } catch (e) {
    const text = e instanceof Error ? e.message : String(e);
    problems.push(`outside the ValidatingAdmissionPolicy environment: ${text.replace(/^policy "[^"]*" does not compile:\s*/, '').replace(/\n\s*/g, '; ')}`);
  }
  return problems;
}

/** The condition under which `ex` exempts a request (exception.ts exceptionApplies, in CEL). */
function exemptionCondition(ex: PolicyException, options: NativeOptions): string {
  const ns = ex.metadata.namespace ?? '';
  const clusterNs = options.clusterExceptionNamespace ?? DEFAULT_CLUSTER_EXCEPTION_NAMESPACE;
  const parts: string[] = [ns === clusterNs ? `(${REQUEST_NAMESPACE} == ${lit(ns)} || ${REQUEST_NAMESPACE} == '')` : `${REQUEST_NAMESPACE} == ${lit(ns)}`];
  const match = ex.spec.match ?? {};
  if (match.resourceTypes && match.resourceTypes.length > 0) {
    const kinds = match.resourceTypes.map((t) => options.resourceOf(t)).filter((r) => r !== undefined);
    // A type no API serves exempts nothing: `false` keeps that part of the exception inert.
    parts.push(kinds.length === 0 ? 'false' : `(${kinds.map((k) => `(request.kind.group == ${lit(k.group)} && request.kind.kind == ${lit(k.kind)})`).join(' || ')})`);
  }
  if (match.names && match.names.length > 0) {
    parts.push(`(${match.names.map((n) => (n.endsWith('*') ? `${REQUEST_NAME}.startsWith(${lit(n.slice(0, -1))})` : `${REQUEST_NAME} == ${lit(n)}`)).join(' || ')})`);
  }
  const labels = Object.entries(match.matchLabels ?? {});
  if (labels.length > 0) {
    const l = `(request.operation == 'DELETE' ? oldObject : object).metadata.?labels.orValue({})`;
    parts.push(...labels.map(([k, v]) => `(${lit(k)} in ${l} && ${l}[${lit(k)}] == ${lit(v)})`));
  }
  return parts.join(' && ');
}

function resourceRules(types: readonly string[], operations: readonly string[], options: NativeOptions) {
  const byGroup = new Map<string, Set<string>>();
  for (const t of types) {
    const r = options.resourceOf(t);
    if (!r) continue;
    byGroup.set(r.group, (byGroup.get(r.group) ?? new Set()).add(r.resource));
  }
  return [...byGroup]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([group, resources]) => ({ apiGroups: [group], apiVersions: ['*'], operations: [...operations], resources: [...resources].sort(), scope: '*' }));
}

function selector(s: LabelSelector | undefined): LabelSelector | undefined {
  if (!s) return undefined;
  const out: LabelSelector = {};
  if (s.matchLabels && Object.keys(s.matchLabels).length > 0) out.matchLabels = s.matchLabels;
  if (s.matchExpressions && s.matchExpressions.length > 0) out.matchExpressions = s.matchExpressions;
  return Object.keys(out).length > 0 ? out : undefined;
}

const ACTIONS = { Enforce: ['Deny'], Warn: ['Warn'], Audit: ['Audit'] } as const;

/**
 * The ValidatingAdmissionPolicy and Binding that enforce `policy` with `exceptions` as of
 * `options.now`. Throws with every reason when the Policy cannot be native.
 */
export function nativeObjects(policy: Policy, exceptions: readonly PolicyException[], options: NativeOptions): NativeObjects {
  const refusals = nativeRefusals(policy, options);
  if (refusals.length > 0) throw new Error(`policy "${policy.metadata?.name ?? ''}" cannot be enforced natively: ${refusals.join('; ')}`);
  const policyName = policy.metadata.name as string;
  const name = nativeName(policyName);
  const vap = rewritten(policy);
  const spec = vap.spec;
  const types = spec.selector.resourceTypes;
  const operations = spec.selector.operations && spec.selector.operations.length > 0 ? spec.selector.operations : DEFAULT_OPERATIONS;

  const matchConditions: { name: string; expression: string }[] = (spec.matchConditions ?? []).map((c) => ({ name: c.name, expression: c.expression }));
  if (types.some((t) => options.resourceOf(t)?.group !== options.platformGroup)) {
    // The webhook's exclusions for core kinds (admission/webhook-config.ts), in one condition.
    const excluded = `[${['kube-system', options.platformNamespace].map(lit).join(', ')}]`;
    matchConditions.push({
      name: 'kidp-core-kind-scope',
      expression:
        `request.kind.group == ${lit(options.platformGroup)} || (!(${REQUEST_NAMESPACE} in ${excluded}) && ` +
        `!(request.kind.group == '' && request.kind.kind == 'Namespace' && ${REQUEST_NAME} in ${excluded}) && ` +
        `!request.userInfo.username.startsWith(${lit(`system:serviceaccount:${options.platformNamespace}:`)}))`,
    });
  }

  const active = exceptions
    .filter((ex) => ex.spec?.policyName === policyName && isActive(ex, options.now))
    .sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  const byRule = new Map<string, string[]>();
  for (const [i, ex] of active.entries()) {
    const condition = exemptionCondition(ex, options);
    const rules = ex.spec.ruleNames ?? [];
    if (rules.length === 0) matchConditions.push({ name: `kidp-exception-${i}`, expression: `!(${condition})` });
    for (const r of rules) byRule.set(r, [...(byRule.get(r) ?? []), condition]);
  }
  const expiries = active.map((ex) => Date.parse(ex.spec.expiresAt));

  const validations = spec.rules.map((r) => {
    const exempted = byRule.get(r.name);
    const expression = exempted ? `(${exempted.map((c) => `(${c})`).join(' || ')}) || (${r.expression})` : r.expression;
    const prefix = `${policyName}/${r.name}: `;
    const message = `${prefix}${r.message ?? `failed rule ${r.name}`}`;
    return {
      expression,
      message,
      ...(typeof r.messageExpression === 'string' && r.messageExpression !== '' ? { messageExpression: `${lit(prefix)} + (${r.messageExpression})` } : {}),
      // KIDP's webhook answers 403 for a denial; Invalid (422) is VAP's default.
      reason: 'Forbidden',
    };
  });

  const labels = { 'platform.kidp.io/managed-by': 'kidp', [NATIVE_POLICY_LABEL]: policyName };
  const objectSelector = selector({ ...(spec.selector.matchLabels ? { matchLabels: spec.selector.matchLabels } : {}), ...(spec.selector.matchExpressions ? { matchExpressions: spec.selector.matchExpressions } : {}) });
  const namespaceSelector = selector(spec.selector.namespaceSelector);
  return {
    name,
    exceptions: active.map((ex) => `${ex.metadata.namespace ?? ''}/${ex.metadata.name ?? ''}`),
    ...(expiries.length > 0 ? { nextChangeAt: new Date(Math.min(...expiries)) } : {}),
    policy: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name, labels, annotations: { 'platform.kidp.io/generated-from': `Policy ${policyName} generation ${policy.metadata.generation ?? 0}` } },
      spec: {
        failurePolicy: 'Fail',
        // The same parameter object, looked up by the apiserver itself.
        ...(spec.paramKind ? { paramKind: { ...spec.paramKind } } : {}),
        matchConstraints: {
          resourceRules: resourceRules(types, operations, options),
          ...(objectSelector ? { objectSelector } : {}),
          ...(namespaceSelector ? { namespaceSelector } : {}),
        },
        ...(matchConditions.length > 0 ? { matchConditions } : {}),
        ...(spec.variables && spec.variables.length > 0 ? { variables: spec.variables.map((v) => ({ name: v.name, expression: v.expression })) } : {}),
        validations,
      },
    },
    binding: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name, labels },
      spec: { policyName: name, validationActions: [...ACTIONS[spec.mode ?? 'Audit']], ...(spec.paramRef ? { paramRef: { ...spec.paramRef } } : {}) },
    },
  };
}
