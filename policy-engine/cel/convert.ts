// Plain JSON inputs -> CEL values, steered by the declared type.
//
// Kubernetes hands CEL unstructured objects typed by the CRD schema: `integer` fields are
// int, `number` fields double (an integral JSON number there is still a double). Under
// `dyn` (no schema) we turn integral JSON numbers into int and the rest into double; the
// apiserver never sees schema-less JSON numbers, so this is our choice, made so that
// `--vars` files and `object.spec.replicas >= 2` behave as authors expect.
//
// A variable's object or array is converted once per (declared type, input object): every
// rule of every policy evaluated against the same admission object shares the work, and
// the lazily converted fields inside it. Inputs must therefore not be mutated between
// evaluations. The cache holds the last few inputs per declared type, strongly: a WeakMap
// keyed by short-lived request objects made V8's scavenges 30-500x slower (ephemeron
// entries survive young-generation collection and are promoted), which showed as 4-5 ms
// pauses in the webhook's tail latency. Nested values need no cache: the containing
// lazy map keeps what it has converted.
import { LazyFieldMap } from './lazy-map.js';
import { CelEvalError } from './errors.js';
import { parseDuration, parseTimestamp } from './lib/time.js';
import type { CelType } from './types.js';
import { CelMap, CelOptional, CelUint } from './values.js';

export type Converter = (raw: unknown) => unknown;

/** Entry converters (cached), for variables. */
const converters = new WeakMap<CelType, Converter>();
/** Nested converters (uncached), for fields and elements inside a converted value. */
const nestedConverters = new WeakMap<CelType, Converter>();


function jsonNumber(n: number): unknown {
  return Number.isInteger(n) && Number.isSafeInteger(n) ? BigInt(n) : n;
}

/** The converter for a variable declared with type `t`. */
export function converterFor(t: CelType): Converter {
  let c = converters.get(t);
  if (!c) {
    const nested = nestedConverterFor(t);
    if (t.kind === 'optional') {
      const el = converterFor(t.elem);
      c = (r) => (r instanceof CelOptional ? r : r === undefined ? CelOptional.NONE : CelOptional.of(el(r)));
    } else if (t.kind === 'list' || t.kind === 'map' || t.kind === 'object' || nested === dynNested) {
      c = recent(nested);
    } else {
      c = nested;
    }
    converters.set(t, c);
  }
  return c;
}

function nestedConverterFor(t: CelType): Converter {
  let c = nestedConverters.get(t);
  if (!c) {
    c = build(t);
    nestedConverters.set(t, c);
  }
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

const RECENT = 4;

/** `convert` with an identity cache of the last RECENT containers it converted. */
function recent(convert: Converter): Converter {
  const keys: (object | undefined)[] = new Array<object | undefined>(RECENT).fill(undefined);
  const values: unknown[] = new Array<unknown>(RECENT).fill(undefined);
  let next = 0;
  return (raw) => {
    if (typeof raw !== 'object' || raw === null) return convert(raw);
    for (let i = 0; i < RECENT; i++) if (keys[i] === raw) return values[i];
    const v = convert(raw);
    if (v !== raw) {
      keys[next] = raw;
      values[next] = v;
      next = (next + 1) % RECENT;
    }
    return v;
  };
}

/** Containers only; anything else goes to dynNested. */
function container(f: (raw: object) => unknown): Converter {
  return (raw) => {
    if (typeof raw !== 'object' || raw === null || !isJsonContainer(raw)) return dynNested(raw);
    return f(raw);
  };
}

/** A JSON value as CEL sees it under `dyn`. */
export const dynConvert: Converter = recent(dynNested);

function dynNested(raw: unknown): unknown {
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
      if (Array.isArray(raw)) return raw.map(dynNested);
      return new CelMap(new LazyFieldMap(raw as Record<string, unknown>, dynField));
    }
    default:
      throw new CelEvalError(`cannot convert a JavaScript ${typeof raw} to a CEL value`);
  }
}

function dynField(_key: string, value: unknown): unknown {
  return dynNested(value);
}

function build(t: CelType): Converter {
  switch (t.kind) {
    case 'prim':
      switch (t.name) {
        case 'int':
          return (r) => (typeof r === 'number' && Number.isInteger(r) ? BigInt(r) : dynNested(r));
        case 'double':
          return (r) => (typeof r === 'number' ? r : typeof r === 'bigint' ? Number(r) : dynNested(r));
        case 'uint':
          return (r) =>
            typeof r === 'number' && Number.isInteger(r) && r >= 0 ? new CelUint(BigInt(r)) : typeof r === 'bigint' && r >= 0n ? new CelUint(r) : dynNested(r);
        case 'bytes':
          return (r) => (typeof r === 'string' ? Uint8Array.from(Buffer.from(r, 'base64')) : dynNested(r));
        case 'google.protobuf.Timestamp':
          return (r) => (typeof r === 'string' ? parseTimestamp(r) : dynNested(r));
        case 'google.protobuf.Duration':
          return (r) => (typeof r === 'string' ? parseDuration(r) : dynNested(r));
        default:
          return dynNested;
      }
    case 'list': {
      const el = nestedConverterFor(t.elem);
      return container((raw) => (Array.isArray(raw) ? raw.map(el) : dynNested(raw)));
    }
    case 'map': {
      const vc = nestedConverterFor(t.value);
      const value = (_k: string, x: unknown): unknown => vc(x);
      return container((raw) => (Array.isArray(raw) ? dynNested(raw) : new CelMap(new LazyFieldMap(raw as Record<string, unknown>, value))));
    }
    case 'object': {
      const fields = new Map<string, Converter>();
      for (const [k, ft] of t.fields) fields.set(k, nestedConverterFor(ft));
      const field = (k: string, x: unknown): unknown => (fields.get(k) ?? dynNested)(x);
      return container((raw) => (Array.isArray(raw) ? dynNested(raw) : new CelMap(new LazyFieldMap(raw as Record<string, unknown>, field))));
    }
    case 'optional': {
      const el = nestedConverterFor(t.elem);
      return (r) => (r instanceof CelOptional ? r : r === undefined ? CelOptional.NONE : CelOptional.of(el(r)));
    }
    default:
      return dynNested;
  }
}
