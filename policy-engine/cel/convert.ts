// Plain JSON inputs -> CEL values, steered by the declared type.
//
// Kubernetes hands CEL unstructured objects typed by the CRD schema: `integer` fields are
// int, `number` fields double (an integral JSON number there is still a double). Under
// `dyn` (no schema) we turn integral JSON numbers into int and the rest into double; the
// apiserver never sees schema-less JSON numbers, so this is our choice, made so that
// `--vars` files and `object.spec.replicas >= 2` behave as authors expect.
//
// Objects and arrays are converted once per (declared type, input object) and cached in
// a WeakMap: every rule of every policy evaluated against the same admission object shares
// the work. Inputs must therefore not be mutated between evaluations.
import { LazyFieldMap } from './lazy-map.js';
import { CelEvalError } from './errors.js';
import { parseDuration, parseTimestamp } from './lib/time.js';
import type { CelType } from './types.js';
import { CelMap, CelOptional, CelUint } from './values.js';

export type Converter = (raw: unknown) => unknown;

const converters = new WeakMap<CelType, Converter>();

function jsonNumber(n: number): unknown {
  return Number.isInteger(n) && Number.isSafeInteger(n) ? BigInt(n) : n;
}

export function converterFor(t: CelType): Converter {
  const hit = converters.get(t);
  if (hit) return hit;
  const c = build(t);
  converters.set(t, c);
  return c;
}

/**
 * Plain JSON containers (as opposed to CEL values, which pass through unchanged). A plain
 * object's prototype is some realm's Object.prototype, whose own prototype is null; this
 * test holds for objects from another realm too (structuredClone under jest's vm modules,
 * worker messages), where `=== Object.prototype` would not.
 */
function isJsonContainer(v: object): boolean {
  if (Array.isArray(v)) return true;
  const p: unknown = Object.getPrototypeOf(v);
  return p === null || Object.getPrototypeOf(p) === null;
}

function cached(f: (raw: object) => unknown): Converter {
  const cache = new WeakMap<object, unknown>();
  return (raw) => {
    if (typeof raw !== 'object' || raw === null) return dynConvert(raw);
    if (!isJsonContainer(raw)) return raw;
    let v = cache.get(raw);
    if (v === undefined) {
      v = f(raw);
      cache.set(raw, v);
    }
    return v;
  };
}

const dynCache = new WeakMap<object, unknown>();

export function dynConvert(raw: unknown): unknown {
  switch (typeof raw) {
    case 'number':
      return jsonNumber(raw);
    case 'string':
    case 'boolean':
    case 'bigint':
      return raw;
    case 'undefined':
      return null;
    case 'object': {
      if (raw === null || !isJsonContainer(raw)) return raw;
      let v = dynCache.get(raw);
      if (v !== undefined) return v;
      if (Array.isArray(raw)) v = raw.map(dynConvert);
      else v = new CelMap(new LazyFieldMap(raw as Record<string, unknown>, (_k, x) => dynConvert(x)));
      dynCache.set(raw, v);
      return v;
    }
    default:
      throw new CelEvalError(`cannot convert a JavaScript ${typeof raw} to a CEL value`);
  }
}

function build(t: CelType): Converter {
  switch (t.kind) {
    case 'prim':
      switch (t.name) {
        case 'int':
          return (r) => (typeof r === 'number' && Number.isInteger(r) ? BigInt(r) : dynConvert(r));
        case 'double':
          return (r) => (typeof r === 'number' ? r : typeof r === 'bigint' ? Number(r) : dynConvert(r));
        case 'uint':
          return (r) =>
            typeof r === 'number' && Number.isInteger(r) && r >= 0 ? new CelUint(BigInt(r)) : typeof r === 'bigint' && r >= 0n ? new CelUint(r) : dynConvert(r);
        case 'bytes':
          return (r) => (typeof r === 'string' ? Uint8Array.from(Buffer.from(r, 'base64')) : dynConvert(r));
        case 'google.protobuf.Timestamp':
          return (r) => (typeof r === 'string' ? parseTimestamp(r) : dynConvert(r));
        case 'google.protobuf.Duration':
          return (r) => (typeof r === 'string' ? parseDuration(r) : dynConvert(r));
        default:
          return dynConvert;
      }
    case 'list': {
      const el = converterFor(t.elem);
      return cached((raw) => (Array.isArray(raw) ? raw.map(el) : dynConvert(raw)));
    }
    case 'map': {
      const vc = converterFor(t.value);
      return cached((raw) => (Array.isArray(raw) ? dynConvert(raw) : new CelMap(new LazyFieldMap(raw as Record<string, unknown>, (_k, x) => vc(x)))));
    }
    case 'object': {
      const fields = new Map<string, Converter>();
      for (const [k, ft] of t.fields) fields.set(k, converterFor(ft));
      return cached((raw) =>
        Array.isArray(raw) ? dynConvert(raw) : new CelMap(new LazyFieldMap(raw as Record<string, unknown>, (k, x) => (fields.get(k) ?? dynConvert)(x))),
      );
    }
    case 'optional': {
      const el = converterFor(t.elem);
      return (r) => (r instanceof CelOptional ? r : r === undefined ? CelOptional.NONE : CelOptional.of(el(r)));
    }
    default:
      return dynConvert;
  }
}
