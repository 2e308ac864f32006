// Compile-time cost estimate in the apiserver's units (cel-go checker/cost.go model, with
// Kubernetes' size assumptions): a [min, max] range of the runtime cost, where sizes of
// strings/lists/maps come from maxLength/maxItems/maxProperties when the schema has them,
// else from the worst case a 3 MiB request can hold.
import type { CostEstimate } from './api.js';
import type { CheckedExpr } from './checker.js';
import type { Registry } from './lib/registry.js';
import { SizeStandIn } from './lib/standard.js';
import type { Expr } from './parse/ast.js';
import type { CelType } from './types.js';

/** k8s.io/apiserver: the largest request body the apiserver accepts. */
export const MAX_REQUEST_SIZE_BYTES = 3 * 1024 * 1024;
/** cel-go: cost of creating a list / map literal. */
export const LIST_CREATE_COST = 10;
export const MAP_CREATE_COST = 30;

interface Est {
  min: number;
  max: number;
  /** Size range of the result (string length, list/map size). */
  size: { min: number; max: number };
}

/** Smallest JSON encoding of a value of the type, to bound how many fit in a request. */
function minSerializedSize(t: CelType): number {
  switch (t.kind) {
    case 'prim':
      switch (t.name) {
        case 'string':
        case 'bytes':
          return 2; // ""
        case 'bool':
          return 4; // true
        case 'null_type':
          return 4;
        case 'google.protobuf.Timestamp':
          return 4; // "Z" style lower bound
        case 'google.protobuf.Duration':
          return 4;
        default:
          return 1;
      }
    case 'list':
    case 'map':
    case 'object':
      return 2;
    default:
      return 1;
  }
}

export function maxSizeOf(t: CelType): number {
  switch (t.kind) {
    case 'prim':
      if (t.name === 'string' || t.name === 'bytes') return 'maxLength' in t && t.maxLength !== undefined ? t.maxLength : MAX_REQUEST_SIZE_BYTES - 2;
      // Unknown shape: as large as a request can make it (a list of 1-byte elements).
      if (t.name === 'dyn') return Math.floor((MAX_REQUEST_SIZE_BYTES - 2) / 2);
      return 1;
    case 'list':
      return t.maxItems ?? Math.floor((MAX_REQUEST_SIZE_BYTES - 2) / (minSerializedSize(t.elem) + 1));
    case 'map':
      return t.maxProperties ?? Math.floor((MAX_REQUEST_SIZE_BYTES - 2) / (minSerializedSize(t.value) + 4));
    case 'object':
      return t.fields.size;
    default:
      return 1;
  }
}

const add = (a: number, b: number): number => Math.min(Number.MAX_SAFE_INTEGER, a + b);
const mul = (a: number, b: number): number => Math.min(Number.MAX_SAFE_INTEGER, a * b);

export function estimateCost(e: Expr, checked: CheckedExpr, registry: Registry): CostEstimate {
  const locals = new Map<string, CelType>();
  const typeOf = (x: Expr): CelType => checked.types.get(x) ?? { kind: 'prim', name: 'dyn' };
  const sizeOfType = (t: CelType): { min: number; max: number } => ({ min: 0, max: maxSizeOf(t) });

  const visit = (x: Expr): Est => {
    if (checked.typeIdents.has(x)) return { min: 0, max: 0, size: { min: 1, max: 1 } };
    if (checked.qualified.has(x)) return { min: 1, max: 1, size: sizeOfType(typeOf(x)) };
    switch (x.kind) {
      case 'const': {
        const n = typeof x.value === 'string' ? x.value.length : x.value instanceof Uint8Array ? x.value.length : 1;
        return { min: 0, max: 0, size: { min: n, max: n } };
      }
      case 'ident': {
        const t = locals.get(x.name) ?? typeOf(x);
        return { min: 1, max: 1, size: sizeOfType(t) };
      }
      case 'select': {
        const o = visit(x.operand);
        return { min: o.min + 1, max: add(o.max, 1), size: sizeOfType(typeOf(x)) };
      }
      case 'index': {
        const o = visit(x.operand);
        const i = visit(x.index);
        return { min: o.min + i.min + 1, max: add(add(o.max, i.max), 1), size: sizeOfType(typeOf(x)) };
      }
      case 'list': {
        let min = LIST_CREATE_COST;
        let max = LIST_CREATE_COST;
        for (const el of x.elems) {
          const r = visit(el);
          min += r.min;
          max = add(max, r.max);
        }
        return { min, max, size: { min: x.elems.length, max: x.elems.length } };
      }
      case 'map': {
        let min = MAP_CREATE_COST;
        let max = MAP_CREATE_COST;
        for (const en of x.entries) {
          const k = visit(en.key);
          const v = visit(en.value);
          min += k.min + v.min;
          max = add(max, add(k.max, v.max));
        }
        return { min, max, size: { min: x.entries.length, max: x.entries.length } };
      }
      case 'struct':
        return { min: 40, max: 40, size: { min: 1, max: 1 } };
      case 'bind': {
        const i = visit(x.init);
        const saved = locals.get(x.name);
        locals.set(x.name, typeOf(x.init));
        const b = visit(x.body);
        if (saved === undefined) locals.delete(x.name);
        else locals.set(x.name, saved);
        return { min: i.min + b.min, max: add(i.max, b.max), size: b.size };
      }
      case 'macro': {
        const r = visit(x.range);
        const rt = typeOf(x.range);
        const n = x.macro === 'optMap' || x.macro === 'optFlatMap' ? { min: 0, max: 1 } : r.size;
        const saved = [locals.get(x.v1), x.v2 !== undefined ? locals.get(x.v2) : undefined];
        const elem: CelType = rt.kind === 'list' ? rt.elem : rt.kind === 'map' ? rt.key : rt.kind === 'optional' ? rt.elem : { kind: 'prim', name: 'dyn' };
        const val: CelType = rt.kind === 'list' ? rt.elem : rt.kind === 'map' ? rt.value : { kind: 'prim', name: 'dyn' };
        if (x.v2 === undefined) locals.set(x.v1, elem);
        else {
          locals.set(x.v1, { kind: 'prim', name: rt.kind === 'list' ? 'int' : 'dyn' });
          locals.set(x.v2, val);
        }
        const body = visit(x.body);
        const filter = x.filter !== undefined ? visit(x.filter) : { min: 0, max: 0 };
        if (saved[0] === undefined) locals.delete(x.v1);
        else locals.set(x.v1, saved[0]);
        if (x.v2 !== undefined) {
          if (saved[1] === undefined) locals.delete(x.v2);
          else locals.set(x.v2, saved[1]);
        }
        const step = x.macro === 'all' || x.macro === 'exists' || x.macro === 'exists_one' ? 2 : 1;
        const per = { min: step + body.min + filter.min, max: add(add(step, body.max), filter.max) };
        return {
          min: r.min + mul(n.min, per.min),
          max: add(r.max, mul(n.max, per.max)),
          size: x.macro === 'all' || x.macro === 'exists' || x.macro === 'exists_one' ? { min: 1, max: 1 } : { min: 0, max: n.max },
        };
      }
      case 'call': {
        const target = checked.namespaced.has(x) ? undefined : x.target;
        const args = (target !== undefined ? [target, ...x.args] : x.args).map(visit);
        if (x.fn === '_&&_' || x.fn === '_||_') {
          const [l, r] = args as [Est, Est];
          return { min: l.min, max: add(l.max, r.max), size: { min: 1, max: 1 } };
        }
        if (x.fn === '_?_:_') {
          const [c, a, b] = args as [Est, Est, Est];
          return {
            min: c.min + Math.min(a.min, b.min),
            max: add(c.max, Math.max(a.max, b.max)),
            size: { min: Math.min(a.size.min, b.size.min), max: Math.max(a.size.max, b.size.max) },
          };
        }
        let min = 1;
        let max = 1;
        for (const a of args) {
          min += a.min;
          max = add(max, a.max);
        }
        const ovs = checked.overloads.get(x) ?? registry.get(x.fn) ?? [];
        let extra = { min: 0, max: 0 };
        for (const o of ovs) {
          if (o.estimate) {
            const r = o.estimate(args.map((a) => a.size));
            extra = { min: Math.max(extra.min, r.min), max: Math.max(extra.max, r.max) };
          } else if (o.cost) {
            // Size-dependent runtime cost without its own estimator: bound it with the
            // same function applied to the largest argument sizes.
            const lo = o.cost(args.map((a) => new SizeStandIn(a.size.min)));
            const hi = o.cost(args.map((a) => new SizeStandIn(a.size.max)));
            extra = { min: Math.max(extra.min, lo), max: Math.max(extra.max, hi) };
          }
        }
        const rt = typeOf(x);
        let size = sizeOfType(rt);
        if (x.fn === '_+_' && args.length === 2) {
          const [a, b] = args as [Est, Est];
          size = { min: a.size.min + b.size.min, max: add(a.size.max, b.size.max) };
        }
        return { min: min + extra.min, max: add(max, extra.max), size };
      }
    }
  };
  const r = visit(e);
  return { min: r.min, max: r.max };
}
