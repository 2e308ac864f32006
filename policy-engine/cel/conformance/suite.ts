// Runs the cel-spec conformance suite (shipped as data by @bufbuild/cel-spec) against
// our engine. Protobuf message/enum tests do not apply to Kubernetes policies (there are
// no messages in the apiserver's CEL environment: objects are schema-typed maps) and are
// skipped, with the rule in isApplicable().
import { tests } from '@bufbuild/cel-spec/testdata/conformance.js';
import { createEnvironment } from '../environment.js';
import { CelCompileError, CelEvalError } from '../errors.js';
import {
  BOOL, BYTES, DOUBLE, DURATION, DYN, INT, NULL, STRING, TIMESTAMP, UINT,
  formatType, listOf, mapOf, optionalOf, typeOf, type CelType,
} from '../types.js';
import { parseDuration, parseTimestamp } from '../lib/time.js';
import {
  CelMap, CelTypeValue, CelUint, celEquals, celTypeName,
} from '../values.js';
import type { CelTypeRef } from '../api.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObj = { [k: string]: Json };

export interface ConformanceCase {
  section: string;
  id: string; // section/suite/name
  original: JsonObj;
}

export interface Outcome {
  id: string;
  section: string;
  status: 'pass' | 'fail' | 'skip';
  reason?: string;
}

interface RawSuite {
  name: string;
  suites?: RawSuite[];
  tests?: { original: JsonObj }[];
}

/** Sections that exist only to test protobuf messages and enums. */
const PROTO_SECTIONS = new Set(['proto2', 'proto2_ext', 'proto3', 'enums', 'wrappers']);
/** A test that builds, reads or expects protobuf messages, enums, wrappers or Any/Struct/Value. */
const PROTO_TEST =
  /TestAllTypes|NestedTestAllTypes|NestedEnum|GlobalEnum|NestedMessage|TestRequired|\bNullValue\b|google\.protobuf\.(Any|Struct|Value|ListValue|NullValue|Empty|FieldMask|[A-Z][A-Za-z0-9]*Value)\b|google\.protobuf\.(Timestamp|Duration)\{|cel\.expr\.conformance|"messageType"|"enumValue"|"wrapper"/;

export function allCases(): ConformanceCase[] {
  const out: ConformanceCase[] = [];
  const walk = (s: RawSuite, path: string[]): void => {
    for (const t of s.tests ?? []) out.push({ section: path[0] as string, id: [...path, String(t.original.name)].join('/'), original: t.original });
    for (const c of s.suites ?? []) walk(c, [...path, c.name]);
  };
  for (const s of (tests as unknown as RawSuite).suites ?? []) walk(s, [s.name]);
  return out;
}

/**
 * Extension sections the apiserver's base environment does not declare
 * (k8s.io/apiserver pkg/cel/environment/base.go: no ext.Bindings, cel.block, ext.Encoders,
 * ext.Math), so policies cannot use them and neither can expressions here.
 */
const NOT_IN_KUBERNETES = new Set(['bindings_ext', 'block_ext', 'encoders_ext', 'math_ext']);

export function isApplicable(c: ConformanceCase): boolean {
  if (PROTO_SECTIONS.has(c.section) || NOT_IN_KUBERNETES.has(c.section)) return false;
  const js = JSON.stringify(c.original);
  if (PROTO_TEST.test(js)) return false;
  if (/"objectValue"/.test(js) && !/"@type":"type\.googleapis\.com\/google\.protobuf\.(Timestamp|Duration)"/.test(js)) return false;
  return true;
}

function typeFromProto(t: JsonObj): CelType {
  if ('primitive' in t)
    return ({ BOOL, INT64: INT, UINT64: UINT, DOUBLE, STRING, BYTES } as Record<string, CelType>)[String(t.primitive)] ?? DYN;
  if ('listType' in t) return listOf(typeFromProto(((t.listType as JsonObj).elemType ?? {}) as JsonObj));
  if ('mapType' in t) {
    const m = t.mapType as JsonObj;
    return mapOf(typeFromProto((m.keyType ?? {}) as JsonObj), typeFromProto((m.valueType ?? {}) as JsonObj));
  }
  if ('wellKnown' in t) return t.wellKnown === 'TIMESTAMP' ? TIMESTAMP : t.wellKnown === 'DURATION' ? DURATION : DYN;
  if ('null' in t) return NULL;
  if ('type' in t) return typeOf(typeFromProto((t.type ?? {}) as JsonObj));
  if ('abstractType' in t) {
    const a = t.abstractType as JsonObj;
    if (a.name === 'optional_type') return optionalOf(typeFromProto(((a.parameterTypes as Json[])[0] ?? {}) as JsonObj));
  }
  return DYN;
}

function b64(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, 'base64'));
}

export function valueFromProto(v: JsonObj): unknown {
  if ('int64Value' in v) return BigInt(v.int64Value as string);
  if ('uint64Value' in v) return new CelUint(BigInt(v.uint64Value as string));
  if ('doubleValue' in v) {
    const d = v.doubleValue;
    return typeof d === 'number' ? d : d === 'NaN' ? NaN : d === 'Infinity' ? Infinity : d === '-Infinity' ? -Infinity : Number(d);
  }
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('bytesValue' in v) return b64(v.bytesValue as string);
  if ('nullValue' in v) return null;
  if ('listValue' in v) return (((v.listValue as JsonObj).values ?? []) as JsonObj[]).map(valueFromProto);
  if ('mapValue' in v) {
    const m = new CelMap();
    for (const e of ((v.mapValue as JsonObj).entries ?? []) as JsonObj[]) m.set(valueFromProto(e.key as JsonObj), valueFromProto(e.value as JsonObj));
    return m;
  }
  if ('typeValue' in v) return new CelTypeValue(v.typeValue as string);
  if ('objectValue' in v) {
    const o = v.objectValue as JsonObj;
    const t = String(o['@type']);
    if (t.endsWith('google.protobuf.Timestamp')) return parseTimestamp(String(o.value));
    if (t.endsWith('google.protobuf.Duration')) return parseDuration(String(o.value));
  }
  // An empty Value message is the zero value for its kind; cel-spec uses it rarely.
  if (Object.keys(v).length === 0) return null;
  throw new Error(`unsupported expected value ${JSON.stringify(v)}`);
}

/** Strict equality for checking results: same CEL type all the way down, NaN equals NaN. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (celTypeName(a) !== celTypeName(b)) return false;
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) ? Number.isNaN(b) : Object.is(a, b) || a === b;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (a instanceof CelMap && b instanceof CelMap) {
    if (a.size !== b.size) return false;
    for (const [k, v] of a.entries()) {
      if (!b.has(k)) return false;
      if (!sameValue(v, b.get(k))) return false;
    }
    return true;
  }
  return celEquals(a, b);
}

function show(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x instanceof CelMap ? Object.fromEntries([...x.entries()].map(([k, y]) => [String(k), y])) : x instanceof CelUint ? `${x.value}u` : x));
  } catch {
    return String(v);
  }
}

export function runCase(c: ConformanceCase): Outcome {
  const o = c.original;
  const base = { id: c.id, section: c.section };
  if (!isApplicable(c)) return { ...base, status: 'skip', reason: 'protobuf messages/enums' };
  try {
    const vars: Record<string, CelTypeRef> = {};
    for (const d of (o.typeEnv ?? []) as JsonObj[]) {
      if (d.ident !== undefined) vars[String(d.name)] = typeFromProto(((d.ident as JsonObj).type ?? {}) as JsonObj);
    }
    const bindings: Record<string, unknown> = {};
    for (const [k, b] of Object.entries((o.bindings ?? {}) as Record<string, JsonObj>)) {
      bindings[k] = valueFromProto((b.value ?? {}) as JsonObj);
      if (vars[k] === undefined) vars[k] = DYN;
    }
    const env = createEnvironment({ variables: vars, container: typeof o.container === 'string' ? o.container : '' });
    let compiled;
    try {
      compiled = env.compile(String(o.expr));
    } catch (e) {
      if (e instanceof CelCompileError && o.disableCheck === true && e.issues.every((i) => !/^(mismatched|extraneous|token|invalid|reserved|unterminated|expression recursion)/.test(i.message))) {
        compiled = (env as unknown as { compileUnchecked(s: string): ReturnType<typeof env.compile> }).compileUnchecked(String(o.expr));
      } else {
        if (o.evalError !== undefined && o.disableCheck !== true) return { ...base, status: 'fail', reason: `compile error instead of eval error: ${(e as Error).message.split('\n')[0]}` };
        return { ...base, status: 'fail', reason: `compile: ${(e as Error).message.split('\n')[0]}` };
      }
    }
    if (o.checkOnly === true) {
      const want = o.typedResult !== undefined ? ((o.typedResult as JsonObj).deducedType as JsonObj | undefined) : undefined;
      if (want !== undefined && formatType(typeFromProto(want)) !== formatType(compiled.outputType as CelType))
        return { ...base, status: 'fail', reason: `type ${formatType(compiled.outputType as CelType)}, want ${formatType(typeFromProto(want))}` };
      return { ...base, status: 'pass' };
    }
    let got: unknown;
    try {
      got = compiled.evaluate(bindings);
    } catch (e) {
      if (o.evalError !== undefined && e instanceof CelEvalError) return { ...base, status: 'pass' };
      return { ...base, status: 'fail', reason: `eval: ${(e as Error).message}` };
    }
    if (o.evalError !== undefined) return { ...base, status: 'fail', reason: `got ${show(got)}, want an error` };
    let wantV: JsonObj | undefined = o.value as JsonObj | undefined;
    if (o.typedResult !== undefined) {
      const tr = o.typedResult as JsonObj;
      wantV = tr.result as JsonObj;
      const dt = tr.deducedType as JsonObj | undefined;
      if (dt !== undefined && formatType(typeFromProto(dt)) !== formatType(compiled.outputType as CelType))
        return { ...base, status: 'fail', reason: `type ${formatType(compiled.outputType as CelType)}, want ${formatType(typeFromProto(dt))}` };
    }
    if (wantV === undefined) return { ...base, status: 'pass' };
    const want = valueFromProto(wantV);
    if (!sameValue(got, want)) return { ...base, status: 'fail', reason: `got ${show(got)}, want ${show(want)}` };
    return { ...base, status: 'pass' };
  } catch (e) {
    return { ...base, status: 'fail', reason: `crash: ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ')}` };
  }
}

export function runAll(): Outcome[] {
  return allCases().map(runCase);
}

export interface SectionCounts {
  pass: number;
  fail: number;
  skip: number;
}

export function countBySection(outcomes: readonly Outcome[]): Map<string, SectionCounts> {
  const m = new Map<string, SectionCounts>();
  for (const o of outcomes) {
    const c = m.get(o.section) ?? { pass: 0, fail: 0, skip: 0 };
    c[o.status]++;
    m.set(o.section, c);
  }
  return m;
}
