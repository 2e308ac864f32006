// The contract between the CEL engine (policy-engine/cel/) and its users: the Policy
// compiler, the admission webhook, the CLI. Parse, check and plan happen in compile();
// evaluate() runs a planned program (../../shared STYLE.md §5).
//
// The implementation lives beside this file; callers import only from './index.js'.

/** Where a problem is in the expression source: 1-based line and column, 0-based offset. */
export interface CelIssue {
  message: string;
  line: number;
  column: number;
  offset: number;
}

/**
 * A declared CEL type. Built with the helpers in `types` (index.ts); `fromOpenApiSchema`
 * turns a CRD openAPIV3Schema into an object type so that `spec.replicas == 'x'` is a
 * compile error.
 */
export interface CelTypeRef {
  readonly name: string; // as CEL's type() prints it, e.g. 'int', 'list', 'map'
}

/** Cost in Kubernetes' cost units (same units as the apiserver's CEL cost estimator). */
export interface CostEstimate {
  min: number;
  max: number;
}

/** A running total shared by every expression of one policy evaluation. */
export interface CostBudget {
  /** Units consumed so far; evaluate() adds to it. */
  used: number;
  /** Throw CelCostLimitError once used exceeds this. */
  limit: number;
}

/** Variables for one evaluation. A function lets callers evaluate lazily (once per request). */
export type Activation = Readonly<Record<string, unknown>> | ((name: string) => unknown);

export interface CompiledExpression {
  readonly source: string;
  readonly outputType: CelTypeRef;
  readonly estimatedCost: CostEstimate;
  /**
   * Evaluates with plain JSON-like inputs (objects, arrays, numbers, strings, booleans,
   * null); declared types steer conversion (an `integer` schema field becomes int).
   * Returns a CEL value (see index.ts for the representation and `toJson`).
   * Throws CelEvalError (or its subclass CelCostLimitError) on evaluation errors.
   * Per-call limit is 1,000,000 units unless `perCallLimit` says otherwise.
   */
  evaluate(activation: Activation, options?: { budget?: CostBudget; perCallLimit?: number }): unknown;
}

export interface CelEnvironment {
  /** Parses, type-checks and plans. Throws CelCompileError with every issue found. */
  compile(expression: string, options?: { expectedType?: CelTypeRef }): CompiledExpression;
  /** A new environment with more variables declared. */
  extend(variables: Readonly<Record<string, CelTypeRef>>): CelEnvironment;
}

/** Kubernetes' numbers (k8s.io/apiserver/pkg/apis/cel/config.go). */
export const PER_CALL_COST_LIMIT = 1_000_000;
export const PER_POLICY_COST_LIMIT = 10_000_000;
/** A policy's matchConditions share their own budget (RuntimeCELCostBudgetMatchConditions). */
export const MATCH_CONDITIONS_COST_LIMIT = 2_500_000;
