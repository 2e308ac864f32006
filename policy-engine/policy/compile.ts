// Policy compilation: every expression is parsed, type-checked, cost-estimated and planned
// once, when the Policy is loaded (STYLE.md §5), never per request. Problems are collected
// across the whole Policy so an author sees all of them at once, each naming its place.

import {
  CelCompileError,
  createEnvironment,
  objectType,
  types,
  PER_CALL_COST_LIMIT,
  type CelEnvironment,
  type CelOpenApiSchema,
  type CelType,
  type CelTypeRef,
  type CompiledExpression,
} from './cel.js';
import {
  PolicyCompileError,
  PolicyDuplicateNameError,
  PolicyExpressionTooLargeError,
  PolicyInvalidError,
  PolicyNoRulesError,
  formatLocation,
  type SourceLocation,
} from './errors.js';
import { DEFAULT_OPERATIONS, labelSelectorProblems } from './match.js';
import { admissionRequestSchema, coreSchemas, defaultSchemaResolver, type OpenApiSchema, type SchemaResolver } from '../schemas/index.js';
import type { LabelSelector, Operation, Policy, PolicyMode, Severity } from './types.js';

/**
 * Kubernetes caps a ValidatingAdmissionPolicy expression at 5 KiB
 * (k8s.io/kubernetes pkg/apis/admissionregistration/validation: maxCharacters... 5*1024).
 */
export const MAX_EXPRESSION_LENGTH = 5 * 1024;

/**
 * The apiserver refuses no ValidatingAdmissionPolicy for its estimated cost: its compiler
 * (k8s.io/apiserver admission/plugin/cel/compile.go CompileCELExpression) parses, checks
 * the output type and builds the program, and its type checking
 * (policy/validating/typechecking.go) reports only type problems. The estimated-cost
 * limit is CRD validation rules' (StaticEstimatedCostLimit), not VAP's. So neither does
 * a Policy here: an estimate over the per-call limit is only a warning (CompiledPolicy
 * .warnings), and the runtime limits - 1e6 per call, 1e7 per policy evaluation - stop an
 * expensive evaluation with a typed error.
 */
export const ESTIMATED_COST_WARNING = PER_CALL_COST_LIMIT;

const MODES: readonly PolicyMode[] = ['Enforce', 'Warn', 'Audit'];
const OPERATIONS: readonly Operation[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];
const SEVERITIES: readonly Severity[] = ['info', 'low', 'medium', 'high', 'critical'];

export interface CompiledNamed {
  name: string;
  program: CompiledExpression;
}

export interface CompiledRule extends CompiledNamed {
  severity: Severity;
  message?: string;
  messageProgram?: CompiledExpression;
}

export interface CompiledPolicy {
  name: string;
  mode: PolicyMode;
  description?: string;
  resourceTypes: ReadonlySet<string>;
  operations: ReadonlySet<Operation>;
  objectSelector: LabelSelector;
  namespaceSelector?: LabelSelector;
  matchConditions: readonly CompiledNamed[];
  variables: readonly CompiledNamed[];
  rules: readonly CompiledRule[];
  /**
   * Problems that do not stop the Policy (estimated worst case over the per-call limit),
   * for its status beside VAP-style typeChecking warnings.
   */
  warnings: readonly string[];
  /** The Policy as given, for reports. */
  source: Policy;
}

export interface CompileOptions {
  /** Schemas for `object`/`oldObject`; defaults to crds/ + the core kinds in schemas/core.ts. */
  schemas?: SchemaResolver;
  /**
   * Declare only what a ValidatingAdmissionPolicy declares: no `spec`/`metadata`/`status`
   * shorthands (native.ts checks a Policy rewritten for native enforcement this way).
   */
  vapVariablesOnly?: boolean;
}

/** Where an expression sits in a Policy, for messages: `rule "require-backup"`. */
interface ExpressionSite {
  where: string;
  source: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * One CEL type per schema object: the engine caches input conversion per (type, object),
 * so policies that select the same kind must share type instances for the 5 KB object of
 * a request to be converted once, not once per policy.
 */
const typeCache = new WeakMap<OpenApiSchema, CelTypeRef>();

function typeOf(schema: OpenApiSchema | undefined): CelTypeRef {
  if (!schema) return types.dyn;
  let t = typeCache.get(schema);
  if (!t) {
    t = types.fromOpenApiSchema(schema as CelOpenApiSchema);
    typeCache.set(schema, t);
  }
  return t;
}

/** Checks the parts of a Policy that need no CEL; throws the first structural problem. */
function checkShape(policy: Policy): void {
  const name = policy?.metadata?.name;
  if (typeof name !== 'string' || name === '') {
    throw new PolicyInvalidError('Policy has no metadata.name: give the Policy a name', {
      locations: [{ where: 'metadata.name' }],
    });
  }
  const at = `policy "${name}"`;
  const spec: unknown = policy.spec;
  if (!isRecord(spec)) {
    throw new PolicyInvalidError(`${at}: spec is missing or not an object`, { locations: [{ where: 'spec' }] });
  }
  if (spec.mode !== undefined && !MODES.includes(spec.mode as PolicyMode)) {
    throw new PolicyInvalidError(`${at}: spec.mode must be one of ${MODES.join(', ')} (got ${JSON.stringify(spec.mode)})`, {
      locations: [{ where: 'spec.mode' }],
    });
  }
  const selector = spec.selector;
  if (!isRecord(selector) || !Array.isArray(selector.resourceTypes) || selector.resourceTypes.length === 0) {
    throw new PolicyInvalidError(`${at}: spec.selector.resourceTypes must list at least one resource type (e.g. [Database])`, {
      locations: [{ where: 'spec.selector.resourceTypes' }],
    });
  }
  for (const t of selector.resourceTypes as unknown[]) {
    if (typeof t !== 'string' || t === '') {
      throw new PolicyInvalidError(`${at}: spec.selector.resourceTypes entries must be non-empty strings`, {
        locations: [{ where: 'spec.selector.resourceTypes' }],
      });
    }
  }
  for (const op of (selector.operations as unknown[] | undefined) ?? []) {
    if (!OPERATIONS.includes(op as Operation)) {
      throw new PolicyInvalidError(`${at}: spec.selector.operations: unknown operation ${JSON.stringify(op)} (use ${OPERATIONS.join(', ')})`, {
        locations: [{ where: 'spec.selector.operations' }],
      });
    }
  }
  const selectorProblems = [
    ...labelSelectorProblems(selector as LabelSelector, 'spec.selector'),
    ...labelSelectorProblems(selector.namespaceSelector as LabelSelector | undefined, 'spec.selector.namespaceSelector'),
  ];
  if (selectorProblems.length > 0) {
    throw new PolicyInvalidError(`${at}: ${selectorProblems.join('; ')}`, {
      locations: selectorProblems.map((p) => ({ where: p })),
    });
  }
  if (!Array.isArray(spec.rules) || spec.rules.length === 0) {
    throw new PolicyNoRulesError(`${at} has no rules: add at least one entry to spec.rules`, {
      locations: [{ where: 'spec.rules' }],
    });
  }
  for (const [list, label] of [
    [spec.rules, 'rules'],
    [spec.variables, 'variables'],
    [spec.matchConditions, 'matchConditions'],
  ] as const) {
    if (list === undefined) continue;
    if (!Array.isArray(list)) {
      throw new PolicyInvalidError(`${at}: spec.${label} must be a list`, { locations: [{ where: `spec.${label}` }] });
    }
    const seen = new Set<string>();
    for (const [i, item] of (list as unknown[]).entries()) {
      const where = `spec.${label}[${i}]`;
      if (!isRecord(item) || typeof item.name !== 'string' || item.name === '') {
        throw new PolicyInvalidError(`${at}: ${where} needs a name`, { locations: [{ where }] });
      }
      if (typeof item.expression !== 'string' || item.expression.trim() === '') {
        throw new PolicyInvalidError(`${at}: ${where} "${item.name}" needs an expression`, { locations: [{ where }] });
      }
      if (seen.has(item.name)) {
        throw new PolicyDuplicateNameError(`${at}: two entries of spec.${label} are named "${item.name}": names must be unique`, {
          locations: [{ where }],
        });
      }
      seen.add(item.name);
      if (label === 'rules' && item.severity !== undefined && !SEVERITIES.includes(item.severity as Severity)) {
        throw new PolicyInvalidError(`${at}: rule "${item.name}": severity must be one of ${SEVERITIES.join(', ')}`, {
          locations: [{ where: `${where}.severity` }],
        });
      }
    }
  }
}

function checkSize(policyName: string, site: ExpressionSite): void {
  const bytes = Buffer.byteLength(site.source, 'utf8');
  if (bytes > MAX_EXPRESSION_LENGTH) {
    throw new PolicyExpressionTooLargeError(
      `policy "${policyName}": ${site.where}: expression is ${bytes} bytes, over the limit of ${MAX_EXPRESSION_LENGTH}; ` +
        'split it into variables or several rules',
      { locations: [{ where: site.where }] },
    );
  }
}

/** Accumulates compile problems so one run reports all of them. */
class Problems {
  readonly locations: SourceLocation[] = [];
  readonly lines: string[] = [];
  readonly causes: unknown[] = [];

  compile(env: CelEnvironment, site: ExpressionSite, expectedType?: CelTypeRef): CompiledExpression | undefined {
    try {
      return env.compile(site.source, expectedType ? { expectedType } : undefined);
    } catch (err) {
      if (!(err instanceof CelCompileError)) throw err;
      this.causes.push(err);
      for (const issue of (err as CelCompileError).issues) {
        const loc = { where: site.where, line: issue.line, column: issue.column };
        this.locations.push(loc);
        this.lines.push(`${formatLocation(loc)}: ${issue.message}`);
      }
      return undefined;
    }
  }
}

function baseVariables(policy: Policy, resolve: SchemaResolver, vapOnly: boolean): Record<string, CelTypeRef> {
  const resourceTypes = policy.spec.selector.resourceTypes;
  // One kind selected: type everything from its schema. Several: dyn, as the apiserver
  // does for a policy whose match covers several kinds.
  const schema = resourceTypes.length === 1 ? resolve(resourceTypes[0] as string) : undefined;
  const objType = typeOf(schema);
  // The shorthands take the object type's own field types (same instances), so the
  // engine's per-type conversion cache shares work between `object.spec` and `spec`.
  const field = (name: string): CelTypeRef => {
    const t = objType as CelType;
    return (t.kind === 'object' ? t.fields.get(name) : undefined) ?? types.dyn;
  };
  return {
    object: objType,
    oldObject: objType,
    ...(vapOnly ? {} : { spec: field('spec'), metadata: field('metadata'), status: field('status') }),
    request: typeOf(admissionRequestSchema),
    namespaceObject: typeOf(coreSchemas.Namespace),
  };
}

/**
 * Compiles a Policy. Throws a KidpPolicyError (see errors.ts) naming the rule,
 * matchCondition or variable and the line/column when anything is wrong.
 */
export function compilePolicy(policy: Policy, options: CompileOptions = {}): CompiledPolicy {
  checkShape(policy);
  const name = policy.metadata.name as string;
  const spec = policy.spec;
  const resolve = options.schemas ?? defaultSchemaResolver;

  const variableSites = (spec.variables ?? []).map((v) => ({ name: v.name, where: `variable "${v.name}"`, source: v.expression }));
  const conditionSites = (spec.matchConditions ?? []).map((c) => ({
    name: c.name,
    where: `matchCondition "${c.name}"`,
    source: c.expression,
  }));
  const ruleSites = spec.rules.map((r) => ({ name: r.name, where: `rule "${r.name}"`, source: r.expression }));
  const messageSites = spec.rules
    .filter((r) => typeof r.messageExpression === 'string' && r.messageExpression !== '')
    .map((r) => ({ name: r.name, where: `rule "${r.name}" messageExpression`, source: r.messageExpression as string }));
  for (const site of [...variableSites, ...conditionSites, ...ruleSites, ...messageSites]) checkSize(name, site);

  const base = baseVariables(policy, resolve, options.vapVariablesOnly === true);
  const problems = new Problems();

  // Variables are compiled in order; each sees the earlier ones as variables.NAME with
  // their compiled output types. A variable that fails is declared dyn so its users
  // report their own problems rather than a cascade of "undeclared".
  const variableTypes: Record<string, CelTypeRef> = {};
  const variables: CompiledNamed[] = [];
  for (const site of variableSites) {
    const env = createEnvironment({ variables: { ...base, variables: objectType('variables', variableTypes) } });
    const program = problems.compile(env, site);
    variableTypes[site.name] = program ? program.outputType : types.dyn;
    if (program) variables.push({ name: site.name, program });
  }
  const env = createEnvironment({ variables: { ...base, variables: objectType('variables', variableTypes) } });

  const matchConditions: CompiledNamed[] = [];
  for (const site of conditionSites) {
    const program = problems.compile(env, site, types.bool);
    if (program) matchConditions.push({ name: site.name, program });
  }
  const rules: CompiledRule[] = [];
  for (const [i, site] of ruleSites.entries()) {
    const ruleSpec = spec.rules[i]!;
    const program = problems.compile(env, site, types.bool);
    const messageSite = messageSites.find((m) => m.name === site.name);
    const messageProgram = messageSite ? problems.compile(env, messageSite, types.string) : undefined;
    if (!program || (messageSite && !messageProgram)) continue;
    rules.push({
      name: site.name,
      program,
      severity: ruleSpec.severity ?? 'medium',
      ...(ruleSpec.message !== undefined ? { message: ruleSpec.message } : {}),
      ...(messageProgram ? { messageProgram } : {}),
    });
  }

  if (problems.lines.length > 0) {
    throw new PolicyCompileError(`policy "${name}" does not compile:\n  ${problems.lines.join('\n  ')}`, {
      cause: problems.causes.length === 1 ? problems.causes[0] : new AggregateError(problems.causes),
      locations: problems.locations,
    });
  }

  const compiled: { where: string; program: CompiledExpression }[] = [
    ...variables.map((v) => ({ where: `variable "${v.name}"`, program: v.program })),
    ...matchConditions.map((c) => ({ where: `matchCondition "${c.name}"`, program: c.program })),
    ...rules.flatMap((r) => [
      { where: `rule "${r.name}"`, program: r.program },
      ...(r.messageProgram ? [{ where: `rule "${r.name}" messageExpression`, program: r.messageProgram }] : []),
    ]),
  ];
  const warnings = compiled
    .filter((c) => c.program.estimatedCost.max > ESTIMATED_COST_WARNING)
    .map(
      (c) =>
        `${c.where}: estimated worst-case cost ${c.program.estimatedCost.max} exceeds the per-call limit of ${ESTIMATED_COST_WARNING}; ` +
        'accepted (as Kubernetes accepts it), an evaluation that really costs that much stops with a cost-limit error',
    );

  const selector = spec.selector;
  return {
    name,
    mode: spec.mode ?? 'Audit',
    ...(spec.description !== undefined ? { description: spec.description } : {}),
    resourceTypes: new Set(selector.resourceTypes),
    operations: new Set(selector.operations && selector.operations.length > 0 ? selector.operations : DEFAULT_OPERATIONS),
    objectSelector: {
      ...(selector.matchLabels ? { matchLabels: selector.matchLabels } : {}),
      ...(selector.matchExpressions ? { matchExpressions: selector.matchExpressions } : {}),
    },
    ...(selector.namespaceSelector ? { namespaceSelector: selector.namespaceSelector } : {}),
    matchConditions,
    variables,
    rules,
    warnings,
    source: policy,
  };
}
