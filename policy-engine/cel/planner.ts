// Plans a checked expression into a tree of closures (one per node), so evaluation is a
// chain of direct calls with no AST walking or per-node dispatch on kind.
import type { CheckedExpr } from './checker.js';
import { CelCostLimitError, CelEvalError } from './errors.js';
import { runtimeTag, type AnyImpl, type Overload, type Registry } from './lib/registry.js';
import { indexList, indexMap } from './lib/standard.js';
import type { Expr } from './parse/ast.js';
import {
  CelMap, CelOptional, CelTypeValue, CelUint, celCompare, celEquals, celTypeName, noSuchOverload,
} from './values.js';

/** Per-evaluation state. */
export interface Frame {
  /** Resolves a declared variable by slot (memoised, converted). */
  readonly variable: (slot: number) => unknown;
  readonly locals: unknown[];
  cost: number;
  limit: number;
}

export type Eval = (f: Frame) => unknown;

export interface PlanContext {
  readonly checked: CheckedExpr;
  readonly registry: Registry;
  /** Declared variable name -> slot. */
  readonly varSlots: ReadonlyMap<string, number>;
}

function NOT_CONSTANT_READ(e: Expr): never {
  throw new Error(`internal: constant folding read a variable at ${e.pos}`);
}

function costExceeded(f: Frame): never {
  throw new CelCostLimitError(f.limit, 'call');
}

/** Errors that && / || / all / exists may absorb: evaluation errors, never cost limits. */
function absorbable(e: unknown): e is CelEvalError {
  return e instanceof CelEvalError && !(e instanceof CelCostLimitError);
}

function matchTag(tag: string | null, v: unknown): boolean {
  return tag === null || celTypeName(v) === tag;
}

function iterItems(range: unknown, fn: string): readonly unknown[] {
  if (Array.isArray(range)) return range;
  if (range instanceof CelMap) return [...range.keys()];
  throw new CelEvalError(`no such overload: ${fn} over ${celTypeName(range)}`);
}

/** [key-or-index, value] pairs for two-variable comprehensions. */
function iterPairs(range: unknown, fn: string): [unknown, unknown][] {
  if (Array.isArray(range)) return range.map((v, i) => [BigInt(i), v]);
  if (range instanceof CelMap) return [...range.entries()];
  throw new CelEvalError(`no such overload: ${fn} over ${celTypeName(range)}`);
}

export class Planner {
  private readonly scopes: Map<string, number>[] = [];
  private nextLocal = 0;
  maxLocals = 0;

  constructor(private readonly ctx: PlanContext) {}

  private allocLocal(name: string): number {
    const slot = this.nextLocal++;
    if (this.nextLocal > this.maxLocals) this.maxLocals = this.nextLocal;
    (this.scopes[this.scopes.length - 1] as Map<string, number>).set(name, slot);
    return slot;
  }

  private withScope<T>(f: () => T): T {
    this.scopes.push(new Map());
    const saved = this.nextLocal;
    try {
      return f();
    } finally {
      this.scopes.pop();
      this.nextLocal = saved;
    }
  }

  private local(name: string): number | undefined {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const s = (this.scopes[i] as Map<string, number>).get(name);
      if (s !== undefined) return s;
    }
    return undefined;
  }

  plan(e: Expr): Eval {
    const { checked } = this.ctx;
    const tn = checked.typeIdents.get(e);
    if (tn !== undefined) {
      const tv = new CelTypeValue(tn);
      return () => tv;
    }
    const q = checked.qualified.get(e);
    if (q !== undefined) return this.planVar(q, e);
    switch (e.kind) {
      case 'const': {
        const v = e.value;
        return () => v;
      }
      case 'ident': {
        const slot = this.local(e.name);
        if (slot !== undefined && !e.rooted)
          return (f) => {
            f.cost++;
            return f.locals[slot];
          };
        return this.planVar(e.name, e);
      }
      case 'select':
        return this.planSelect(e);
      case 'index':
        return this.planIndex(e);
      case 'list':
        return this.planList(e);
      case 'map':
        return this.planMap(e);
      case 'struct':
        return () => {
          throw new CelEvalError(`message construction is not supported: ${e.typeName}`);
        };
      case 'bind': {
        const init = this.plan(e.init);
        return this.withScope(() => {
          const slot = this.allocLocal(e.name);
          const body = this.plan(e.body);
          return (f) => {
            f.locals[slot] = init(f);
            return body(f);
          };
        });
      }
      case 'macro':
        return this.planMacro(e);
      case 'call':
        return this.isConstant(e) ? this.folded(e, this.planCall(e)) : this.planCall(e);
    }
  }

  private readonly constant = new Map<Expr, boolean>();

  /**
   * A call whose every operand is a literal or another such call (`cidr('10.0.0.0/8')`,
   * `quantity('1Gi')`): no variable, comprehension or field is read, so every evaluation
   * gives the same value at the same cost. Only values are read by CEL functions on
   * constants (the authorizer's need its variable), so nothing outside can change them.
   */
  private isConstant(e: Expr): boolean {
    let c = this.constant.get(e);
    if (c === undefined) {
      const { checked } = this.ctx;
      if (checked.typeIdents.has(e)) c = true;
      else if (checked.qualified.has(e)) c = false;
      else if (e.kind === 'const') c = true;
      else if (e.kind === 'call') c = (e.target === undefined || this.isConstant(e.target)) && e.args.every((a) => this.isConstant(a));
      else if (e.kind === 'list') c = e.elems.every((x) => this.isConstant(x));
      else c = false;
      this.constant.set(e, c);
    }
    return c;
  }

  /**
   * A constant call evaluated once, here: later evaluations return its value and add the
   * cost it took, so cost limits and budgets see exactly what the call would have cost.
   * Left to run each time when it errors (the error is then raised as before, at run
   * time) or gives a container a caller could hold on to and change.
   */
  private folded(e: Expr, run: Eval): Eval {
    const trial: Frame = { variable: () => NOT_CONSTANT_READ(e), locals: [], cost: 0, limit: Number.MAX_SAFE_INTEGER };
    let value: unknown;
    try {
      value = run(trial);
    } catch {
      return run;
    }
    const held = value instanceof CelOptional && value.hasValue ? value.value : value;
    if (typeof held === 'object' && held !== null && (Array.isArray(held) || held instanceof CelMap || ArrayBuffer.isView(held))) return run;
    const cost = trial.cost;
    return (f) => {
      f.cost += cost;
      if (f.cost > f.limit) costExceeded(f);
      return value;
    };
  }

  private planVar(name: string, e: Expr): Eval {
    const slot = this.ctx.varSlots.get(name);
    if (slot === undefined)
      return () => {
        throw new CelEvalError(`undeclared variable at ${e.pos}: ${name}`);
      };
    return (f) => {
      f.cost++;
      return f.variable(slot);
    };
  }

  private planSelect(e: Extract<Expr, { kind: 'select' }>): Eval {
    const op = this.plan(e.operand);
    const field = e.field;
    if (e.test)
      return (f) => {
        let o = op(f);
        f.cost++;
        if (o instanceof CelOptional) {
          if (!o.hasValue) return false;
          o = o.value;
        }
        if (o instanceof CelMap) return o.m.has(field);
        throw new CelEvalError(`invalid type for field selection: ${celTypeName(o)}`);
      };
    const chained = (f: Frame, opt: CelOptional): unknown => {
      if (!opt.hasValue) return opt;
      const o = opt.value;
      f.cost++;
      if (o instanceof CelMap) {
        const v = o.m.get(field);
        return v === undefined ? CelOptional.NONE : CelOptional.of(v);
      }
      throw new CelEvalError(`no such key: ${field} (selection on ${celTypeName(o)})`);
    };
    if (e.optional)
      return (f) => {
        let o = op(f);
        f.cost++;
        if (o instanceof CelOptional) {
          if (!o.hasValue) return o;
          o = o.value;
        }
        if (o instanceof CelMap) {
          const v = o.m.get(field);
          return v === undefined ? CelOptional.NONE : CelOptional.of(v);
        }
        throw new CelEvalError(`invalid type for field selection: ${celTypeName(o)}`);
      };
    return (f) => {
      const o = op(f);
      f.cost++;
      if (o instanceof CelMap) {
        const v = o.m.get(field);
        if (v === undefined) throw new CelEvalError(`no such key: ${field}`);
        return v;
      }
      if (o instanceof CelOptional) return chained(f, o);
      throw new CelEvalError(`no such overload: field selection on ${celTypeName(o)}`);
    };
  }

  private planIndex(e: Extract<Expr, { kind: 'index' }>): Eval {
    const op = this.plan(e.operand);
    const ix = this.plan(e.index);
    const optional = e.optional;
    return (f) => {
      let o = op(f);
      const i = ix(f);
      f.cost++;
      let wrap = optional;
      if (o instanceof CelOptional) {
        if (!o.hasValue) return o;
        o = o.value;
        wrap = true;
      }
      if (!wrap) {
        if (Array.isArray(o)) return indexList(o, i);
        if (o instanceof CelMap) return indexMap(o, i);
        throw noSuchOverload('_[_]', [o, i]);
      }
      if (Array.isArray(o)) {
        if (typeof i === 'bigint' || i instanceof CelUint || typeof i === 'number') {
          const n = typeof i === 'bigint' ? i : i instanceof CelUint ? i.value : Number.isInteger(i) ? BigInt(i) : -1n;
          return n >= 0n && n < BigInt(o.length) ? CelOptional.of(o[Number(n)]) : CelOptional.NONE;
        }
        throw noSuchOverload('_[?_]', [o, i]);
      }
      if (o instanceof CelMap) {
        const v = o.get(i);
        return v === undefined ? CelOptional.NONE : CelOptional.of(v);
      }
      throw noSuchOverload('_[?_]', [o, i]);
    };
  }

  private planList(e: Extract<Expr, { kind: 'list' }>): Eval {
    const elems = e.elems.map((x) => this.plan(x));
    const opt = e.optional;
    if (!opt.some(Boolean)) {
      if (e.elems.every((x) => x.kind === 'const')) {
        const v = Object.freeze(elems.map((g) => g(undefined as unknown as Frame)));
        return () => v;
      }
      return (f) => {
        const out = new Array<unknown>(elems.length);
        for (let i = 0; i < elems.length; i++) out[i] = (elems[i] as Eval)(f);
        return out;
      };
    }
    return (f) => {
      const out: unknown[] = [];
      for (let i = 0; i < elems.length; i++) {
        const v = (elems[i] as Eval)(f);
        if (opt[i]) {
          if (!(v instanceof CelOptional)) throw new CelEvalError(`optional list element must be optional, got ${celTypeName(v)}`);
          if (v.hasValue) out.push(v.value);
        } else out.push(v);
      }
      return out;
    };
  }

  private planMap(e: Extract<Expr, { kind: 'map' }>): Eval {
    const entries = e.entries.map((en) => ({ k: this.plan(en.key), v: this.plan(en.value), opt: en.optional }));
    return (f) => {
      const m = new CelMap();
      for (const en of entries) {
        const k = en.k(f);
        let v = en.v(f);
        if (en.opt) {
          if (!(v instanceof CelOptional)) throw new CelEvalError(`optional map entry must be optional, got ${celTypeName(v)}`);
          if (!v.hasValue) continue;
          v = v.value;
        }
        if (typeof k === 'number' || k === null || (typeof k === 'object' && !(k instanceof CelUint)))
          throw new CelEvalError(`unsupported key type: ${celTypeName(k)}`);
        // cel-go builds map literals without a duplicate check: the last entry wins.
        m.set(k, v, true);
      }
      return m;
    };
  }

  private planMacro(e: Extract<Expr, { kind: 'macro' }>): Eval {
    const range = this.plan(e.range);
    return this.withScope(() => {
      const s1 = this.allocLocal(e.v1);
      const s2 = e.v2 !== undefined ? this.allocLocal(e.v2) : -1;
      const body = this.plan(e.body);
      const filter = e.filter !== undefined ? this.plan(e.filter) : undefined;
      const macro = e.macro;
      const two = s2 >= 0;
      // Per-iteration overhead in cost units: cel-go evaluates a loop condition and an
      // accumulator update on each step of the expanded comprehension.
      const stepCost = macro === 'all' || macro === 'exists' || macro === 'exists_one' ? 2 : 1;
      const bind = (f: Frame, item: unknown): void => {
        f.cost += stepCost;
        if (f.cost > f.limit) costExceeded(f);
        if (two) {
          const p = item as [unknown, unknown];
          f.locals[s1] = p[0];
          f.locals[s2] = p[1];
        } else f.locals[s1] = item;
      };
      const items = (f: Frame): readonly unknown[] => {
        const r = range(f);
        return two ? iterPairs(r, macro) : iterItems(r, macro);
      };
      const keep = (f: Frame): boolean => {
        if (filter === undefined) return true;
        const c = filter(f);
        if (typeof c !== 'boolean') throw noSuchOverload(macro, [c]);
        return c;
      };
      switch (macro) {
        case 'all':
        case 'exists': {
          const stopOn = macro === 'exists';
          return (f) => {
            let err: unknown;
            for (const it of items(f)) {
              bind(f, it);
              try {
                const v = body(f);
                if (v === stopOn) return stopOn;
                if (typeof v !== 'boolean') throw noSuchOverload(macro, [v]);
              } catch (x) {
                if (!absorbable(x)) throw x;
                err ??= x;
              }
            }
            if (err !== undefined) throw err;
            return !stopOn;
          };
        }
        case 'exists_one':
          return (f) => {
            let n = 0;
            for (const it of items(f)) {
              bind(f, it);
              const v = body(f);
              if (v === true) n++;
              else if (v !== false) throw noSuchOverload(macro, [v]);
            }
            return n === 1;
          };
        case 'map':
        case 'transformList':
          return (f) => {
            const out: unknown[] = [];
            for (const it of items(f)) {
              bind(f, it);
              if (keep(f)) out.push(body(f));
            }
            return out;
          };
        case 'filter':
          return (f) => {
            const out: unknown[] = [];
            for (const it of items(f)) {
              bind(f, it);
              const v = body(f);
              if (v === true) out.push(two ? (it as [unknown, unknown])[1] : it);
              else if (v !== false) throw noSuchOverload(macro, [v]);
            }
            return out;
          };
        case 'transformMap':
          return (f) => {
            const m = new CelMap();
            for (const it of items(f)) {
              bind(f, it);
              if (keep(f)) m.set((it as [unknown, unknown])[0], body(f));
            }
            return m;
          };
        case 'transformMapEntry':
          return (f) => {
            const m = new CelMap();
            for (const it of items(f)) {
              bind(f, it);
              if (!keep(f)) continue;
              const en = body(f);
              if (!(en instanceof CelMap)) throw noSuchOverload(macro, [en]);
              for (const [k, v] of en.entries())
                if (!m.set(k, v)) throw new CelEvalError(`insert failed: key ${k instanceof CelUint ? k.value : String(k)} already exists`);
            }
            return m;
          };
        case 'optMap':
        case 'optFlatMap':
          return (f) => {
            const o = range(f);
            if (!(o instanceof CelOptional)) throw noSuchOverload(macro, [o]);
            if (!o.hasValue) return o;
            f.locals[s1] = o.value;
            const v = body(f);
            if (macro === 'optMap') return CelOptional.of(v);
            if (!(v instanceof CelOptional)) throw noSuchOverload(macro, [v]);
            return v;
          };
      }
    });
  }

  private planCall(e: Extract<Expr, { kind: 'call' }>): Eval {
    const fnName = this.ctx.checked.namespaced.get(e) ?? (e.fn.startsWith('.') ? e.fn.slice(1) : e.fn);
    const target = this.ctx.checked.namespaced.has(e) ? undefined : e.target;
    const argExprs = target !== undefined ? [target, ...e.args] : e.args;
    const args = argExprs.map((a) => this.plan(a));
    switch (fnName) {
      case '_&&_':
      case '_||_': {
        const [a, b] = args as [Eval, Eval];
        const stop = fnName === '_||_';
        return (f) => {
          let err: unknown;
          try {
            const l = a(f);
            if (l === stop) return stop;
            if (typeof l !== 'boolean') err = noSuchOverload(fnName, [l]);
          } catch (x) {
            if (!absorbable(x)) throw x;
            err = x;
          }
          const r = b(f);
          if (r === stop) return stop;
          if (typeof r !== 'boolean') throw noSuchOverload(fnName, [r]);
          if (err !== undefined) throw err;
          return r;
        };
      }
      case '_?_:_': {
        const [c, a, b] = args as [Eval, Eval, Eval];
        return (f) => {
          const v = c(f);
          if (v === true) return a(f);
          if (v === false) return b(f);
          throw noSuchOverload('_?_:_', [v]);
        };
      }
      case '!_': {
        const [a] = args as [Eval];
        return (f) => {
          const v = a(f);
          f.cost++;
          if (typeof v !== 'boolean') throw noSuchOverload('!_', [v]);
          return !v;
        };
      }
      case '_<_':
      case '_<=_':
      case '_>_':
      case '_>=_': {
        // celCompare implements exactly the ordering overloads (incl. cross-type numeric),
        // so dispatch is skipped on this hot path.
        const [a, b] = args as [Eval, Eval];
        const lo = fnName === '_<_' || fnName === '_<=_' ? -1 : 1;
        const eq = fnName === '_<=_' || fnName === '_>=_';
        return (f) => {
          const x = a(f);
          const y = b(f);
          f.cost += typeof x === 'string' && typeof y === 'string' ? 1 + Math.ceil(Math.min(x.length, y.length) * 0.1) : 1;
          const c = celCompare(x, y);
          // cel-go v0.29: ordering NaN is an error, not false.
          if (c === undefined) throw new CelEvalError('NaN values cannot be ordered');
          return c === lo || (eq && c === 0);
        };
      }
      case '_==_':
      case '_!=_': {
        const [a, b] = args as [Eval, Eval];
        const neg = fnName === '_!=_';
        return (f) => {
          const x = a(f);
          const y = b(f);
          f.cost += typeof x === 'string' && typeof y === 'string' ? 1 + Math.ceil(Math.min(x.length, y.length) * 0.1) : 1;
          return celEquals(x, y) !== neg;
        };
      }
      default:
        break;
    }
    if (target !== undefined && (fnName === 'or' || fnName === 'orValue') && e.args.length === 1) {
      const [o, alt] = args as [Eval, Eval];
      const isOr = fnName === 'or';
      const fallback = this.generic(fnName, true, args, e);
      return (f) => {
        const v = o(f);
        if (!(v instanceof CelOptional)) return fallback(f);
        f.cost++;
        if (v.hasValue) return isOr ? v : v.value;
        const a = alt(f);
        if (isOr && !(a instanceof CelOptional)) throw noSuchOverload('or', [v, a]);
        return a;
      };
    }
    return this.generic(fnName, target !== undefined, args, e);
  }

  /** Dynamic dispatch over the statically possible overloads, by runtime type tags. */
  private generic(fn: string, member: boolean, args: Eval[], e: Expr): Eval {
    const n = args.length;
    const cands = (this.ctx.checked.overloads.get(e) ??
      (this.ctx.registry.get(fn) ?? []).filter((o) => o.member === member && (o.variadic !== undefined ? n >= o.params.length : o.params.length === n))) as readonly Overload[];
    const tagAt = (o: Overload, i: number): string | null =>
      i < o.tags.length ? (o.tags[i] as string | null) : o.variadic === undefined ? null : runtimeTag(o.variadic);
    const pick = (vals: unknown[]): Overload => {
      for (const o of cands) {
        let ok = true;
        for (let i = 0; i < n && ok; i++) ok = matchTag(tagAt(o, i), vals[i]);
        if (ok) return o;
      }
      throw noSuchOverload(fn, vals);
    };
    if (n === 1) {
      const [a] = args as [Eval];
      const only = cands.length === 1 ? (cands[0] as Overload) : undefined;
      if (only !== undefined && only.cost === undefined) {
        const impl = only.impl as AnyImpl;
        const tag = tagAt(only, 0);
        return (f) => {
          const x = a(f);
          f.cost++;
          if (tag !== null && celTypeName(x) !== tag) throw noSuchOverload(fn, [x]);
          return impl(x);
        };
      }
      return (f) => {
        const x = a(f);
        const vals = [x];
        const o = pick(vals);
        f.cost += 1 + (o.cost ? o.cost(vals) : 0);
        if (f.cost > f.limit) costExceeded(f);
        return (o.impl as AnyImpl)(x);
      };
    }
    if (n === 2) {
      const [a, b] = args as [Eval, Eval];
      const only = cands.length === 1 ? (cands[0] as Overload) : undefined;
      if (only !== undefined) {
        const impl = only.impl as AnyImpl;
        const t0 = tagAt(only, 0);
        const t1 = tagAt(only, 1);
        const cost = only.cost;
        return (f) => {
          const x = a(f);
          const y = b(f);
          if ((t0 !== null && celTypeName(x) !== t0) || (t1 !== null && celTypeName(y) !== t1)) throw noSuchOverload(fn, [x, y]);
          if (cost === undefined) f.cost++;
          else {
            f.cost += 1 + cost([x, y]);
            if (f.cost > f.limit) costExceeded(f);
          }
          return impl(x, y);
        };
      }
      return (f) => {
        const x = a(f);
        const y = b(f);
        const vals = [x, y];
        const o = pick(vals);
        f.cost += 1 + (o.cost ? o.cost(vals) : 0);
        if (f.cost > f.limit) costExceeded(f);
        return (o.impl as AnyImpl)(x, y);
      };
    }
    return (f) => {
      const vals = args.map((g) => g(f));
      const o = pick(vals);
      f.cost += 1 + (o.cost ? o.cost(vals) : 0);
      if (f.cost > f.limit) costExceeded(f);
      return (o.impl as AnyImpl)(...vals);
    };
  }
}
