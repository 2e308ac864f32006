// Type checker: resolves identifiers and overloads and infers a type for every node,
// collecting every problem with its position (cel-go checker/ semantics).
import type { CelIssue } from './api.js';
import { issueAt } from './errors.js';
import type { Overload, Registry } from './lib/registry.js';
import type { Expr } from './parse/ast.js';
import {
  BOOL, BYTES, DOUBLE, DURATION, DYN, ERROR, INT, NULL, STRING, TIMESTAMP, UINT,
  formatType, listOf, mapOf, optionalOf, param, typeOf, type CelType,
} from './types.js';
import { CelUint } from './values.js';

function isNullable(a: string, b: string): boolean {
  const wk = (n: string): boolean => n === 'google.protobuf.Timestamp' || n === 'google.protobuf.Duration';
  return (a === 'null_type' && wk(b)) || (b === 'null_type' && wk(a));
}

export interface CheckedExpr {
  readonly type: CelType;
  /** Type of each node. */
  readonly types: Map<Expr, CelType>;
  /** Statically possible overloads of each call node. */
  readonly overloads: Map<Expr, readonly Overload[]>;
  /** Select/ident chains that name a declared variable (`a.b.c` declared as one name). */
  readonly qualified: Map<Expr, string>;
  /** Calls whose target is a namespace (`math.greatest(...)`): the global function name. */
  readonly namespaced: Map<Expr, string>;
  /** Identifiers that denote types (`int`, `list`, ...). */
  readonly typeIdents: Map<Expr, string>;
}

/** Type names usable as identifiers (they evaluate to type values). */
export const TYPE_IDENTS: Record<string, CelType> = {
  int: INT,
  uint: UINT,
  double: DOUBLE,
  bool: BOOL,
  string: STRING,
  bytes: BYTES,
  null_type: NULL,
  list: listOf(DYN),
  map: mapOf(DYN, DYN),
  type: typeOf(undefined),
  optional_type: optionalOf(DYN),
  'google.protobuf.Timestamp': TIMESTAMP,
  'google.protobuf.Duration': DURATION,
};

type Subst = Map<string, CelType>;

let freshCounter = 0;
function fresh(): CelType {
  return param(`_var${freshCounter++}`);
}

export class Checker {
  private readonly issues: CelIssue[] = [];
  private sub: Subst = new Map();
  private readonly types = new Map<Expr, CelType>();
  private readonly overloads = new Map<Expr, readonly Overload[]>();
  private readonly qualified = new Map<Expr, string>();
  private readonly namespaced = new Map<Expr, string>();
  private readonly typeIdents = new Map<Expr, string>();
  private scopes: Map<string, CelType>[] = [];

  constructor(
    private readonly source: string,
    private readonly vars: ReadonlyMap<string, CelType>,
    private readonly registry: Registry,
    private readonly container = '',
  ) {}

  check(e: Expr): { checked: CheckedExpr; issues: CelIssue[] } {
    const t = this.visit(e);
    for (const [k, v] of this.types) this.types.set(k, this.resolve(v, true));
    return {
      checked: {
        type: this.resolve(t, true),
        types: this.types,
        overloads: this.overloads,
        qualified: this.qualified,
        namespaced: this.namespaced,
        typeIdents: this.typeIdents,
      },
      issues: this.issues,
    };
  }

  private error(pos: number, msg: string): CelType {
    this.issues.push(issueAt(this.source, pos, msg));
    return ERROR;
  }

  private set(e: Expr, t: CelType): CelType {
    this.types.set(e, t);
    return t;
  }

  private visit(e: Expr): CelType {
    return this.set(e, this.visitInner(e));
  }

  private lookupLocal(name: string): CelType | undefined {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const t = (this.scopes[i] as Map<string, CelType>).get(name);
      if (t !== undefined) return t;
    }
    return undefined;
  }

  /** Candidate full names for a (possibly qualified) name in the container, most specific first. */
  private candidates(name: string, rooted: boolean): string[] {
    if (rooted || this.container === '') return [name];
    const out: string[] = [];
    const parts = this.container.split('.');
    for (let i = parts.length; i > 0; i--) out.push(parts.slice(0, i).join('.') + '.' + name);
    out.push(name);
    return out;
  }

  private lookupName(name: string, rooted: boolean): { name: string; type: CelType } | undefined {
    if (!rooted && !name.includes('.')) {
      const l = this.lookupLocal(name);
      if (l !== undefined) return { name, type: l };
    }
    for (const c of this.candidates(name, rooted)) {
      const v = this.vars.get(c);
      if (v !== undefined) return { name: c, type: v };
      const ty = TYPE_IDENTS[c];
      if (ty !== undefined) return { name: c, type: typeOf(ty) };
    }
    return undefined;
  }

  /** `a.b.c` as a dotted name when every step is a plain field selection on an identifier. */
  private qualifiedName(e: Expr): { name: string; rooted: boolean } | undefined {
    if (e.kind === 'ident') return { name: e.name, rooted: e.rooted };
    if (e.kind === 'select' && !e.test && !e.optional) {
      const inner = this.qualifiedName(e.operand);
      return inner && { name: `${inner.name}.${e.field}`, rooted: inner.rooted };
    }
    return undefined;
  }

  private visitInner(e: Expr): CelType {
    switch (e.kind) {
      case 'const':
        return constType(e.value);
      case 'ident': {
        const r = this.lookupName(e.name, e.rooted);
        if (r === undefined) return this.error(e.pos, `undeclared reference to '${e.name}' (in container '${this.container}')`);
        if (r.type.kind === 'type' && TYPE_IDENTS[r.name] !== undefined && this.vars.get(r.name) === undefined) this.typeIdents.set(e, r.name);
        else if (r.name !== e.name || e.rooted) this.qualified.set(e, r.name);
        return r.type;
      }
      case 'select': {
        // A dotted name may be one declared variable (cel-go resolves the longest match).
        if (!e.test && !e.optional) {
          const q = this.qualifiedName(e);
          if (q !== undefined) {
            const first = q.name.split('.')[0] as string;
            if (q.rooted || this.lookupLocal(first) === undefined) {
              const r = this.lookupName(q.name, q.rooted);
              if (r !== undefined) {
                if (r.type.kind === 'type' && TYPE_IDENTS[r.name] !== undefined) this.typeIdents.set(e, r.name);
                else this.qualified.set(e, r.name);
                return r.type;
              }
            }
          }
        }
        const ot = this.resolve(this.visit(e.operand), false);
        if (e.optional || ot.kind === 'optional') {
          // a.?b, and selection on an optional value (optional chaining): optional result.
          const inner = ot.kind === 'optional' ? ot.elem : ot;
          const ft = this.fieldType(e, inner, e.field);
          return e.test ? BOOL : optionalOf(ft);
        }
        const ft = this.fieldType(e, ot, e.field);
        return e.test ? BOOL : ft;
      }
      case 'index': {
        const ot = this.resolve(this.visit(e.operand), false);
        const it = this.visit(e.index);
        if (e.optional) {
          const inner = ot.kind === 'optional' ? ot.elem : ot;
          return optionalOf(this.indexType(e, inner, it));
        }
        if (ot.kind === 'optional') return optionalOf(this.indexType(e, ot.elem, it));
        return this.indexType(e, ot, it);
      }
      case 'list': {
        let elem: CelType = fresh();
        for (let i = 0; i < e.elems.length; i++) {
          let t = this.visit(e.elems[i] as Expr);
          if (e.optional[i]) {
            const r = this.resolve(t, false);
            if (r.kind === 'optional') t = r.elem;
            else if (!isDynOrError(r)) this.error((e.elems[i] as Expr).pos, `expected type 'optional_type' but found '${formatType(r)}'`);
          }
          elem = this.joinHomogeneous(elem, t, e.elems[i] as Expr);
        }
        return listOf(elem);
      }
      case 'map': {
        let k: CelType = fresh();
        let v: CelType = fresh();
        for (const en of e.entries) {
          const kt = this.resolve(this.visit(en.key), false);
          if (!isDynOrError(kt) && !['int', 'uint', 'bool', 'string'].includes(kt.name) && kt.kind !== 'param')
            this.error(en.key.pos, `unsupported map key type: ${formatType(kt)}`);
          k = this.joinHomogeneous(k, kt, en.key);
          let vt = this.visit(en.value);
          if (en.optional) {
            const r = this.resolve(vt, false);
            if (r.kind === 'optional') vt = r.elem;
            else if (!isDynOrError(r)) this.error(en.value.pos, `expected type 'optional_type' but found '${formatType(r)}'`);
          }
          v = this.joinHomogeneous(v, vt, en.value);
        }
        return mapOf(k, v);
      }
      case 'struct':
        for (const f of e.fields) this.visit(f.value);
        return this.error(e.pos, `undeclared reference to '${e.typeName}' (in container '${this.container}'): message construction is not supported`);
      case 'bind': {
        const it = this.visit(e.init);
        this.scopes.push(new Map([[e.name, it]]));
        const bt = this.visit(e.body);
        this.scopes.pop();
        return bt;
      }
      case 'macro':
        return this.visitMacro(e);
      case 'call': {
        // ext strings marks format()'s arguments exempt from homogeneous literals
        // (cel.HomogeneousAggregateLiteralExemptFunctions): '%s %d'.format(['a', 1]).
        if (e.fn !== 'format' || e.target === undefined) return this.visitCall(e);
        this.exempt++;
        try {
          return this.visitCall(e);
        } finally {
          this.exempt--;
        }
      }
    }
  }

  /** > 0 while checking the arguments of a call exempt from homogeneous literals. */
  private exempt = 0;

  private fieldType(e: Expr, ot: CelType, field: string): CelType {
    switch (ot.kind) {
      case 'object': {
        const f = ot.fields.get(field);
        if (f === undefined) return this.error(e.pos, `undefined field '${field}'`);
        return f;
      }
      case 'map':
        if (!this.unify(ot.key, STRING)) return this.error(e.pos, `type '${formatType(ot)}' does not support field selection`);
        return ot.value;
      case 'prim':
        if (ot.name === 'dyn' || ot.name === 'error') return DYN;
        break;
      case 'param':
        return DYN;
      default:
        break;
    }
    return this.error(e.pos, `type '${formatType(ot)}' does not support field selection`);
  }

  private indexType(e: Expr, ot: CelType, it: CelType): CelType {
    const rit = this.resolve(it, false);
    switch (ot.kind) {
      case 'list':
        if (!isDynOrError(rit) && rit.name !== 'int' && rit.name !== 'uint' && rit.kind !== 'param')
          return this.error(e.pos, `found no matching overload for '_[_]' applied to '(${formatType(ot)}, ${formatType(rit)})'`);
        return ot.elem;
      case 'map':
        if (!this.unify(ot.key, it)) return this.error(e.pos, `found no matching overload for '_[_]' applied to '(${formatType(ot)}, ${formatType(rit)})'`);
        return ot.value;
      case 'object':
        if (!this.unify(STRING, it)) return this.error(e.pos, `found no matching overload for '_[_]' applied to '(${formatType(ot)}, ${formatType(rit)})'`);
        if (e.kind === 'index' && e.index.kind === 'const' && typeof e.index.value === 'string') {
          const f = ot.fields.get(e.index.value);
          if (f !== undefined) return f;
        }
        return DYN;
      case 'prim':
        if (ot.name === 'dyn' || ot.name === 'error') return DYN;
        break;
      case 'param':
        return DYN;
      default:
        break;
    }
    return this.error(e.pos, `found no matching overload for '_[_]' applied to '(${formatType(ot)}, ${formatType(rit)})'`);
  }

  private visitMacro(e: Extract<Expr, { kind: 'macro' }>): CelType {
    const rt = this.resolve(this.visit(e.range), false);
    let t1: CelType;
    let t2: CelType | undefined;
    let keyType: CelType = DYN;
    let elemType: CelType = DYN;
    const two = e.v2 !== undefined;
    if (e.macro === 'optMap' || e.macro === 'optFlatMap') {
      if (rt.kind === 'optional') t1 = rt.elem;
      else if (isDynOrError(rt)) t1 = DYN;
      else return this.error(e.pos, `found no matching overload for '${e.macro}' applied to '${formatType(rt)}'`);
    } else if (rt.kind === 'list') {
      keyType = INT;
      elemType = rt.elem;
      t1 = two ? INT : rt.elem;
      t2 = two ? rt.elem : undefined;
    } else if (rt.kind === 'map') {
      keyType = rt.key;
      elemType = rt.key;
      t1 = rt.key;
      t2 = two ? rt.value : undefined;
    } else if (rt.kind === 'object') {
      keyType = STRING;
      elemType = STRING;
      t1 = STRING;
      t2 = two ? DYN : undefined;
    } else if (isDynOrError(rt) || rt.kind === 'param') {
      t1 = DYN;
      t2 = two ? DYN : undefined;
    } else {
      return this.error(e.range.pos, `expression of type '${formatType(rt)}' cannot be range of a comprehension (must be list, map, or dynamic)`);
    }
    const scope = new Map<string, CelType>([[e.v1, t1]]);
    if (e.v2 !== undefined && t2 !== undefined) scope.set(e.v2, t2);
    this.scopes.push(scope);
    if (e.filter !== undefined) this.expectBool(e.filter, this.visit(e.filter));
    const bt = this.visit(e.body);
    this.scopes.pop();
    switch (e.macro) {
      case 'all':
      case 'exists':
      case 'exists_one':
        this.expectBool(e.body, bt);
        return BOOL;
      case 'filter':
        this.expectBool(e.body, bt);
        return listOf(elemType);
      case 'map':
      case 'transformList':
        return listOf(bt);
      case 'transformMap':
        return mapOf(keyType, bt);
      case 'transformMapEntry': {
        const r = this.resolve(bt, false);
        if (r.kind === 'map') return r;
        if (isDynOrError(r)) return mapOf(DYN, DYN);
        return this.error(e.body.pos, `transformMapEntry expects a map literal, found '${formatType(r)}'`);
      }
      case 'optMap':
        return optionalOf(bt);
      case 'optFlatMap': {
        const r = this.resolve(bt, false);
        if (r.kind === 'optional' || isDynOrError(r)) return r.kind === 'optional' ? r : optionalOf(DYN);
        return this.error(e.body.pos, `optFlatMap expects an optional result, found '${formatType(r)}'`);
      }
    }
  }

  private expectBool(e: Expr, t: CelType): void {
    if (!this.unify(BOOL, t)) this.error(e.pos, `expected type 'bool' but found '${formatType(this.resolve(t, false))}'`);
  }

  private visitCall(e: Extract<Expr, { kind: 'call' }>): CelType {
    // Logical operators are not overloads: they absorb errors and short-circuit.
    if (e.fn === '_&&_' || e.fn === '_||_') {
      for (const a of e.args) {
        const t = this.visit(a);
        if (!this.unify(BOOL, t))
          this.error(e.pos, `found no matching overload for '${e.fn}' applied to '(${e.args.map((x) => formatType(this.resolve(this.types.get(x) ?? DYN, false))).join(', ')})'`);
      }
      return BOOL;
    }
    let fn = e.fn;
    let target = e.target;
    // `math.greatest(...)`, `optional.of(...)`: a namespace, not a receiver.
    if (target !== undefined) {
      const q = this.qualifiedName(target);
      if (q !== undefined && this.lookupName(q.name.split('.')[0] as string, q.rooted) === undefined) {
        const full = `${q.name}.${fn}`;
        if (this.registry.get(full)?.some((o) => !o.member)) {
          this.namespaced.set(e, full);
          fn = full;
          target = undefined;
        }
      }
    } else if (fn.startsWith('.')) fn = fn.slice(1);
    const argTypes: CelType[] = [];
    if (target !== undefined) argTypes.push(this.visit(target));
    for (const a of e.args) argTypes.push(this.visit(a));
    const all = this.registry.get(fn);
    if (all === undefined) return this.error(e.pos, `undeclared reference to '${fn}' (in container '${this.container}')`);
    const member = target !== undefined;
    const matches: Overload[] = [];
    let result: CelType | undefined;
    let resultSub: Subst | undefined;
    for (const o of all) {
      if (o.member !== member) continue;
      const n = argTypes.length;
      if (o.variadic === undefined ? o.params.length !== n : n < o.params.length) continue;
      const saved = this.sub;
      this.sub = new Map(saved);
      const local = new Map<string, CelType>();
      let ok = true;
      for (let i = 0; i < n && ok; i++) {
        const p = i < o.params.length ? (o.params[i] as CelType) : (o.variadic as CelType);
        ok = this.unify(this.instantiate(p, local), argTypes[i] as CelType);
      }
      if (ok) {
        matches.push(o);
        const rt = o.resultOf ? o.resultOf(argTypes.map((t) => this.resolve(t, true))) : this.resolve(this.instantiate(o.result, local), false);
        if (result === undefined) {
          result = rt;
          resultSub = this.sub;
        } else if (!sameType(this.resolve(result, false), rt)) {
          result = DYN;
          resultSub = undefined;
        }
      }
      this.sub = saved;
    }
    if (matches.length === 0 || result === undefined) {
      const shown = argTypes.map((t) => formatType(this.resolve(t, true)));
      const applied = member ? `${shown[0]}.(${shown.slice(1).join(', ')})` : `(${shown.join(', ')})`;
      if (argTypes.some((t) => this.resolve(t, false) === ERROR)) return ERROR;
      return this.error(e.pos, `found no matching overload for '${fn}' applied to '${applied}'`);
    }
    if (resultSub !== undefined && matches.length === 1) this.sub = resultSub;
    this.overloads.set(e, matches);
    // Literal arguments checked at compile time (regex patterns, ...).
    const offset = member ? 1 : 0;
    for (const o of matches) {
      if (o.checkLiteral === undefined) continue;
      const args = member && target !== undefined ? [target, ...e.args] : e.args;
      args.forEach((a, i) => {
        if (a.kind !== 'const') return;
        const msg = o.checkLiteral?.(i, a.value);
        if (msg !== undefined) this.error(a.pos, msg);
      });
      void offset;
      break;
    }
    return result;
  }

  /** Renames an overload's type parameters apart for one resolution attempt. */
  private instantiate(t: CelType, local: Map<string, CelType>): CelType {
    switch (t.kind) {
      case 'param': {
        let f = local.get(t.name);
        if (f === undefined) {
          f = fresh();
          local.set(t.name, f);
        }
        return f;
      }
      case 'list':
        return listOf(this.instantiate(t.elem, local));
      case 'map':
        return mapOf(this.instantiate(t.key, local), this.instantiate(t.value, local));
      case 'optional':
        return optionalOf(this.instantiate(t.elem, local));
      case 'type':
        return t.of === undefined ? t : typeOf(this.instantiate(t.of, local));
      default:
        return t;
    }
  }

  /** Follows bindings; with `final`, unbound parameters become dyn. */
  resolve(t: CelType, final: boolean): CelType {
    switch (t.kind) {
      case 'param': {
        const b = this.sub.get(t.name);
        if (b !== undefined) return this.resolve(b, final);
        return final ? DYN : t;
      }
      case 'list': {
        const el = this.resolve(t.elem, final);
        return el === t.elem ? t : { ...t, elem: el };
      }
      case 'map': {
        const k = this.resolve(t.key, final);
        const v = this.resolve(t.value, final);
        return k === t.key && v === t.value ? t : { ...t, key: k, value: v };
      }
      case 'optional':
        return optionalOf(this.resolve(t.elem, final));
      case 'type':
        return t.of === undefined ? t : typeOf(this.resolve(t.of, final));
      default:
        return t;
    }
  }

  /**
   * Element types of a literal must agree: the apiserver enables
   * cel.HomogeneousAggregateLiterals, so `[1, 'a']` is "expected type 'int' but found
   * 'string'" at the element (cel-go checker joinTypes); dyn() elements fit anything.
   */
  private joinHomogeneous(prev: CelType, t: CelType, at: Expr): CelType {
    if (this.exempt > 0) return this.join(prev, t);
    const saved = new Map(this.sub);
    if (this.unify(prev, t)) return prev;
    this.sub = saved;
    this.error(at.pos, `expected type '${formatType(this.resolve(prev, true))}' but found '${formatType(this.resolve(t, true))}'`);
    return prev;
  }

  /** Most specific common type of two element types (cel-go joins to dyn when they differ). */
  private join(a: CelType, b: CelType): CelType {
    const saved = new Map(this.sub);
    if (this.unify(a, b)) return a;
    this.sub = saved;
    return DYN;
  }

  /** Is `source` assignable to `target`, binding type parameters as needed. */
  unify(target: CelType, source: CelType): boolean {
    const t = this.resolve(target, false);
    const s = this.resolve(source, false);
    if (t.kind === 'param') {
      if (s.kind === 'param' && s.name === t.name) return true;
      if (occurs(t.name, s)) return false;
      this.sub.set(t.name, s);
      return true;
    }
    if (s.kind === 'param') {
      if (occurs(s.name, t)) return false;
      this.sub.set(s.name, t);
      return true;
    }
    if (isDynOrError(t) || isDynOrError(s)) return true;
    // cel-go: null is assignable to the well-known message types Timestamp and Duration
    // (so `null == duration('1h')` checks and is false; `null < null` fails at runtime).
    if (t.kind === 'prim' && s.kind === 'prim' && isNullable(t.name, s.name)) return true;
    // '@numeric': any of int, uint, double (math.greatest/least arguments).
    if (t.kind === 'opaque' && t.name === '@numeric') return s.kind === 'prim' && (s.name === 'int' || s.name === 'uint' || s.name === 'double');
    switch (t.kind) {
      case 'prim':
        return s.kind === 'prim' && s.name === t.name;
      case 'list':
        return s.kind === 'list' && this.unify(t.elem, s.elem);
      case 'map':
        if (s.kind === 'object') return this.unify(t.key, STRING) && this.unify(t.value, DYN);
        return s.kind === 'map' && this.unify(t.key, s.key) && this.unify(t.value, s.value);
      case 'object':
        return s.kind === 'object' ? s.objectName === t.objectName : s.kind === 'map' && this.unify(STRING, s.key);
      case 'optional':
        return s.kind === 'optional' && this.unify(t.elem, s.elem);
      case 'type':
        // Type values of different types are comparable (`type(1) == type(1u)` is false, not an error).
        if (s.kind !== 'type') return false;
        if (t.of !== undefined && s.of !== undefined) {
          const saved = new Map(this.sub);
          if (!this.unify(t.of, s.of)) this.sub = saved;
        }
        return true;
      case 'opaque':
        return s.kind === 'opaque' && s.name === t.name;
    }
  }
}

function occurs(name: string, t: CelType): boolean {
  switch (t.kind) {
    case 'param':
      return t.name === name;
    case 'list':
    case 'optional':
      return occurs(name, t.elem);
    case 'map':
      return occurs(name, t.key) || occurs(name, t.value);
    case 'type':
      return t.of !== undefined && occurs(name, t.of);
    default:
      return false;
  }
}

function isDynOrError(t: CelType): boolean {
  return t.kind === 'prim' && (t.name === 'dyn' || t.name === 'error');
}

export function sameType(a: CelType, b: CelType): boolean {
  return formatType(a) === formatType(b);
}

function constType(v: unknown): CelType {
  switch (typeof v) {
    case 'bigint':
      return INT;
    case 'number':
      return DOUBLE;
    case 'string':
      return STRING;
    case 'boolean':
      return BOOL;
    default:
      if (v === null) return NULL;
      if (v instanceof CelUint) return UINT;
      if (v instanceof Uint8Array) return BYTES;
      return DYN;
  }
}
