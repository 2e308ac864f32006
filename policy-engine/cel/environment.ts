// The environment: declared variables + the Kubernetes library; compile() runs
// parse -> check -> plan -> estimate once, and the result evaluates many times.
import type {
  Activation, CelEnvironment, CelTypeRef, CompiledExpression, CostBudget, CostEstimate,
} from './api.js';
import { PER_CALL_COST_LIMIT } from './api.js';
import { Checker } from './checker.js';
import { converterFor, type Converter } from './convert.js';
import { estimateCost } from './cost.js';
import { constantConversionProblems, formatCallProblems } from './fold.js';
import { CelCompileError, CelCostLimitError, issueAt } from './errors.js';
import { kubernetesLibrary } from './lib/index.js';
import type { Registry } from './lib/registry.js';
import { parse } from './parse/parser.js';
import { Planner, type Eval, type Frame } from './planner.js';
import { CelEvalError } from './errors.js';
import { formatType, isCelType, type CelType } from './types.js';
import { isAssignableTo } from './types.js';

export interface EnvironmentOptions {
  variables: Readonly<Record<string, CelTypeRef>>;
  /** Namespace for resolving names (cel-go container); empty for Kubernetes. */
  container?: string;
}


class Environment implements CelEnvironment {
  private readonly vars: Map<string, CelType>;
  private readonly registry: Registry;
  constructor(
    vars: Map<string, CelType>,
    private readonly container: string,
  ) {
    this.vars = vars;
    this.registry = kubernetesLibrary();
  }

  extend(variables: Readonly<Record<string, CelTypeRef>>): CelEnvironment {
    const m = new Map(this.vars);
    for (const [k, v] of Object.entries(variables)) m.set(k, asCelType(k, v));
    return new Environment(m, this.container);
  }

  compile(expression: string, options?: { expectedType?: CelTypeRef }): CompiledExpression {
    return this.build(expression, options, true);
  }

  /**
   * Parses and plans without failing on type errors, dispatching dynamically instead
   * (cel-go's "disableCheck" mode). Only for the conformance suite's unchecked tests;
   * policies always go through compile().
   */
  compileUnchecked(expression: string): CompiledExpression {
    return this.build(expression, undefined, false);
  }

  private build(expression: string, options: { expectedType?: CelTypeRef } | undefined, typeCheck: boolean): CompiledExpression {
    const ast = parse(expression);
    const checker = new Checker(expression, this.vars, this.registry, this.container);
    const { checked, issues: found } = checker.check(ast);
    const issues = typeCheck ? found : [];
    if (issues.length === 0 && options?.expectedType !== undefined) {
      const want = asCelType('expectedType', options.expectedType);
      if (!isAssignableTo(want, checked.type))
        issues.push(issueAt(expression, 0, `expected type '${formatType(want)}' but found '${formatType(checked.type)}'`));
    }
    if (issues.length === 0 && typeCheck) issues.push(...constantConversionProblems(expression, ast, checked), ...formatCallProblems(expression, ast, checked));
    if (issues.length > 0) throw new CelCompileError(expression, issues);
    const names = [...this.vars.keys()];
    const varSlots = new Map(names.map((n, i) => [n, i]));
    const converters: Converter[] = names.map((n) => converterFor(this.vars.get(n) as CelType));
    const planner = new Planner({ checked, registry: this.registry, varSlots });
    const root = planner.plan(ast);
    const estimatedCost = estimateCost(ast, checked, this.registry);
    return new Compiled(expression, checked.type, estimatedCost, root, names, converters, planner.maxLocals);
  }
}

class Compiled implements CompiledExpression {
  constructor(
    readonly source: string,
    readonly outputType: CelType,
    readonly estimatedCost: CostEstimate,
    private readonly root: Eval,
    private readonly names: readonly string[],
    private readonly converters: readonly Converter[],
    private readonly nLocals: number,
  ) {}

  evaluate(activation: Activation, options?: { budget?: CostBudget; perCallLimit?: number }): unknown {
    const perCall = options?.perCallLimit ?? PER_CALL_COST_LIMIT;
    const budget = options?.budget;
    const limit = budget === undefined ? perCall : Math.min(perCall, budget.limit - budget.used);
    const frame = new EvalFrame(this.names, this.converters, activation, this.nLocals, limit);
    try {
      return this.root(frame);
    } catch (e) {
      // A JavaScript limit (string or array length, stack) reached by a value the cost
      // model let through: an evaluation error of this call, never a crash of the caller.
      if (e instanceof RangeError) throw new CelEvalError(`evaluation exceeded a runtime limit: ${e.message}`, { cause: e });
      if (e instanceof CelCostLimitError && e.scope === 'call' && limit !== perCall) throw new CelCostLimitError(budget?.limit ?? limit, 'budget', { cause: e });
      throw e;
    } finally {
      if (budget !== undefined) budget.used += frame.cost;
    }
  }
}

/** Per-evaluation state; a class (not closures) so that creating one is cheap. */
class EvalFrame implements Frame {
  readonly locals: unknown[];
  cost = 0;
  private readonly memo: unknown[];
  constructor(
    private readonly names: readonly string[],
    private readonly converters: readonly Converter[],
    private readonly activation: Activation,
    nLocals: number,
    public limit: number,
  ) {
    this.locals = nLocals === 0 ? EMPTY : new Array<unknown>(nLocals);
    this.memo = new Array<unknown>(names.length);
  }

  variable(slot: number): unknown {
    const m = this.memo[slot];
    if (m !== undefined) return m;
    const name = this.names[slot] as string;
    const a = this.activation;
    const raw = typeof a === 'function' ? a(name) : a[name];
    if (raw === undefined) throw new CelMissingVariableError(name);
    const v = (this.converters[slot] as Converter)(raw);
    this.memo[slot] = v;
    return v;
  }
}

const EMPTY: unknown[] = [];

/** A declared variable had no value in the activation. */
class CelMissingVariableError extends CelEvalError {
  constructor(name: string) {
    super(`no such attribute: variable '${name}' has no value`);
  }
}

function asCelType(name: string, t: CelTypeRef): CelType {
  if (!isCelType(t)) throw new TypeError(`variable '${name}': not a type built with types.* (${JSON.stringify(t)})`);
  return t;
}

export function createEnvironment(options: EnvironmentOptions): CelEnvironment {
  const m = new Map<string, CelType>();
  for (const [k, v] of Object.entries(options.variables)) m.set(k, asCelType(k, v));
  return new Environment(m, options.container ?? '');
}
