// The CEL standard library (cel-spec langdef.md "Standard Definitions") with the
// cross-type numeric comparisons that Kubernetes enables.
import { CelEvalError } from '../errors.js';
import {
  BOOL, BYTES, DOUBLE, DURATION, DYN, INT, NULL, STRING, TIMESTAMP, UINT,
  listOf, mapOf, param, typeOf, type CelType,
} from '../types.js';
import {
  CelDuration, CelMap, CelTimestamp, CelTypeValue, CelUint, INT64_MAX, INT64_MIN, UINT64_MAX,
  celCompare, celEquals, celTypeName, checkInt, checkUint, decodeUtf8, encodeUtf8, formatDuration, formatTimestamp,
} from '../values.js';
import { checkRe2, compileRe2 } from './regex.js';
import type { Registry } from './registry.js';
import { millisOf, parseDuration, parseTimestamp, timeParts, timestampFromSeconds } from './time.js';

const A = param('A');
const B = param('B');
const NANOS = 1_000_000_000n;

/** cel-go's string traversal cost factor: 0.1 per character. */
export const STRING_COST_FACTOR = 0.1;
/** Stands for an argument of a given size when estimating cost at compile time. */
export class SizeStandIn {
  constructor(readonly size: number) {}
}
export function strSize(v: unknown): number {
  if (v instanceof SizeStandIn) return v.size;
  if (typeof v === 'string') return v.length;
  if (v instanceof Uint8Array) return v.length;
  if (Array.isArray(v)) return v.length;
  if (v instanceof CelMap) return v.size;
  return 1;
}

export function codePointLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) n--;
  }
  return n;
}

// 2^63 as a double: the first double above int64 range.
const MAX_DOUBLE_INT = 2 ** 63;

export function doubleToInt(d: number): bigint {
  if (!Number.isFinite(d) || d <= -9.223372036854776e18 || d >= MAX_DOUBLE_INT) throw new CelEvalError('integer overflow: double out of int range');
  return BigInt(Math.trunc(d));
}

/** Go's fmt %g, as cel-go's string(double) prints. */
export function formatDouble(d: number): string {
  if (Number.isNaN(d)) return 'NaN';
  if (d === Infinity) return '+Inf';
  if (d === -Infinity) return '-Inf';
  if (d === 0) return Object.is(d, -0) ? '-0' : '0';
  const e = d.toExponential(); // shortest round-trip digits
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(e) as RegExpExecArray;
  const exp = Number(m[4]);
  // cel-go prints doubles with Go's %g: shortest digits, and %e when the exponent is
  // below -4 or at least 6 (strconv uses precision 6 for that choice when shortest).
  if (exp < -4 || exp >= 6) {
    const mant = m[3] ? `${m[2]}.${m[3]}` : (m[2] as string);
    const ae = Math.abs(exp);
    return `${m[1]}${mant}e${exp < 0 ? '-' : '+'}${ae < 10 ? '0' : ''}${ae}`;
  }
  return String(d);
}

function parseIntStrict(s: string): bigint {
  if (!/^[+-]?\d+$/.test(s)) throw new CelEvalError(`cannot convert '${s}' to int`);
  return checkIntConv(BigInt(s));
}
function checkIntConv(v: bigint): bigint {
  if (v < INT64_MIN || v > INT64_MAX) throw new CelEvalError('integer overflow in conversion');
  return v;
}

function parseDoubleStrict(s: string): number {
  const t = s.trim();
  if (/^[+-]?(inf|infinity)$/i.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  if (/^nan$/i.test(t)) return NaN;
  if (t !== s || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) throw new CelEvalError(`cannot convert '${s}' to double`);
  return Number(t);
}

const BOOL_STRINGS: Record<string, boolean> = {
  '1': true, t: true, T: true, true: true, TRUE: true, True: true,
  '0': false, f: false, F: false, false: false, FALSE: false, False: false,
};

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function addDurationNanos(t: CelTimestamp, d: bigint): CelTimestamp {
  return new CelTimestamp(t.nanos + d, t.offsetSeconds);
}

/** cel-go v0.29: an ordering with NaN on either side is an error, not false. */
function ordered(a: unknown, b: unknown): number {
  const c = celCompare(a, b);
  if (c === undefined) throw new CelEvalError('NaN values cannot be ordered');
  return c;
}

function cmp(op: string): (a: unknown, b: unknown) => boolean {
  switch (op) {
    case '_<_':
      return (a, b) => ordered(a, b) === -1;
    case '_<=_':
      return (a, b) => ordered(a, b) <= 0;
    case '_>_':
      return (a, b) => ordered(a, b) === 1;
    default:
      return (a, b) => ordered(a, b) >= 0;
  }
}

function tsGetter(name: string, f: (p: ReturnType<typeof timeParts>, t: CelTimestamp) => number | bigint, r: Registry): void {
  const wrap = (t: CelTimestamp, tz?: string): bigint => {
    const v = f(timeParts(t, tz), t);
    return typeof v === 'bigint' ? v : BigInt(v);
  };
  r.member(name, `timestamp_to_${name}`, [TIMESTAMP], INT, (t: CelTimestamp) => wrap(t));
  r.member(name, `timestamp_to_${name}_with_tz`, [TIMESTAMP, STRING], INT, (t: CelTimestamp, tz: string) => wrap(t, tz));
}

export function registerStandard(r: Registry): void {
  // ---- logic / comparison ----
  r.global('!_', 'logical_not', [BOOL], BOOL, (a: boolean) => !a);
  r.global('_==_', 'equals', [A, A], BOOL, (a: unknown, b: unknown) => celEquals(a, b), {
    cost: (args) => Math.ceil(Math.min(strSize(args[0]), strSize(args[1])) * STRING_COST_FACTOR),
  });
  r.global('_!=_', 'not_equals', [A, A], BOOL, (a: unknown, b: unknown) => !celEquals(a, b), {
    cost: (args) => Math.ceil(Math.min(strSize(args[0]), strSize(args[1])) * STRING_COST_FACTOR),
  });
  // No int/uint/double cross-type == overloads: cel-go declares none, so `1 == 1.0` is a
  // compile error there and needs dyn(); at runtime celEquals compares numbers across types.
  r.global('_?_:_', 'conditional', [BOOL, A, A], A, (c: boolean, a: unknown, b: unknown) => (c ? a : b));
  const ordered: CelType[] = [BOOL, INT, UINT, DOUBLE, STRING, BYTES, TIMESTAMP, DURATION];
  const numeric: CelType[] = [INT, UINT, DOUBLE];
  for (const op of ['_<_', '_<=_', '_>_', '_>=_']) {
    const f = cmp(op);
    for (const t of ordered)
      r.global(op, `${op}_${t.name}`, [t, t], BOOL, f, t === STRING || t === BYTES ? { cost: (args) => Math.ceil(Math.min(strSize(args[0]), strSize(args[1])) * STRING_COST_FACTOR) } : undefined);
    for (const a of numeric) for (const b of numeric) if (a !== b) r.global(op, `${op}_${a.name}_${b.name}`, [a, b], BOOL, f);
  }
  r.global('@in', 'in_list', [A, listOf(A)], BOOL, (x: unknown, l: readonly unknown[]) => {
    for (const e of l) if (celEquals(x, e)) return true;
    return false;
  }, { cost: (args) => strSize(args[1]) });
  r.global('@in', 'in_map', [A, mapOf(A, B)], BOOL, (x: unknown, m: CelMap) => {
    try {
      return m.has(x);
    } catch {
      return false;
    }
  });

  // ---- arithmetic ----
  r.global('_+_', 'add_int64', [INT, INT], INT, (a: bigint, b: bigint) => checkInt(a + b));
  r.global('_+_', 'add_uint64', [UINT, UINT], UINT, (a: CelUint, b: CelUint) => checkUint(a.value + b.value));
  r.global('_+_', 'add_double', [DOUBLE, DOUBLE], DOUBLE, (a: number, b: number) => a + b);
  r.global('_+_', 'add_string', [STRING, STRING], STRING, (a: string, b: string) => a + b, {
    cost: (args) => Math.ceil((strSize(args[0]) + strSize(args[1])) * STRING_COST_FACTOR),
  });
  r.global('_+_', 'add_bytes', [BYTES, BYTES], BYTES, concatBytes, {
    cost: (args) => Math.ceil((strSize(args[0]) + strSize(args[1])) * STRING_COST_FACTOR),
  });
  r.global('_+_', 'add_list', [listOf(A), listOf(A)], listOf(A), (a: readonly unknown[], b: readonly unknown[]) => (a.length === 0 ? b : b.length === 0 ? a : [...a, ...b]), {
    cost: (args) => Math.ceil((strSize(args[0]) + strSize(args[1])) * STRING_COST_FACTOR),
  });
  r.global('_+_', 'add_timestamp_duration', [TIMESTAMP, DURATION], TIMESTAMP, (t: CelTimestamp, d: CelDuration) => addDurationNanos(t, d.nanos));
  r.global('_+_', 'add_duration_timestamp', [DURATION, TIMESTAMP], TIMESTAMP, (d: CelDuration, t: CelTimestamp) => addDurationNanos(t, d.nanos));
  r.global('_+_', 'add_duration_duration', [DURATION, DURATION], DURATION, (a: CelDuration, b: CelDuration) => new CelDuration(a.nanos + b.nanos));
  r.global('_-_', 'subtract_int64', [INT, INT], INT, (a: bigint, b: bigint) => checkInt(a - b));
  r.global('_-_', 'subtract_uint64', [UINT, UINT], UINT, (a: CelUint, b: CelUint) => checkUint(a.value - b.value));
  r.global('_-_', 'subtract_double', [DOUBLE, DOUBLE], DOUBLE, (a: number, b: number) => a - b);
  r.global('_-_', 'subtract_timestamp_timestamp', [TIMESTAMP, TIMESTAMP], DURATION, (a: CelTimestamp, b: CelTimestamp) => new CelDuration(a.nanos - b.nanos));
  r.global('_-_', 'subtract_timestamp_duration', [TIMESTAMP, DURATION], TIMESTAMP, (t: CelTimestamp, d: CelDuration) => addDurationNanos(t, -d.nanos));
  r.global('_-_', 'subtract_duration_duration', [DURATION, DURATION], DURATION, (a: CelDuration, b: CelDuration) => new CelDuration(a.nanos - b.nanos));
  r.global('_*_', 'multiply_int64', [INT, INT], INT, (a: bigint, b: bigint) => checkInt(a * b));
  r.global('_*_', 'multiply_uint64', [UINT, UINT], UINT, (a: CelUint, b: CelUint) => checkUint(a.value * b.value));
  r.global('_*_', 'multiply_double', [DOUBLE, DOUBLE], DOUBLE, (a: number, b: number) => a * b);
  r.global('_/_', 'divide_int64', [INT, INT], INT, (a: bigint, b: bigint) => {
    if (b === 0n) throw new CelEvalError('division by zero');
    return checkInt(a / b);
  });
  r.global('_/_', 'divide_uint64', [UINT, UINT], UINT, (a: CelUint, b: CelUint) => {
    if (b.value === 0n) throw new CelEvalError('division by zero');
    return new CelUint(a.value / b.value);
  });
  r.global('_/_', 'divide_double', [DOUBLE, DOUBLE], DOUBLE, (a: number, b: number) => a / b);
  r.global('_%_', 'modulo_int64', [INT, INT], INT, (a: bigint, b: bigint) => {
    if (b === 0n) throw new CelEvalError('modulus by zero');
    if (a === INT64_MIN && b === -1n) throw new CelEvalError('integer overflow');
    return a % b;
  });
  r.global('_%_', 'modulo_uint64', [UINT, UINT], UINT, (a: CelUint, b: CelUint) => {
    if (b.value === 0n) throw new CelEvalError('modulus by zero');
    return new CelUint(a.value % b.value);
  });
  r.global('-_', 'negate_int64', [INT], INT, (a: bigint) => checkInt(-a));
  r.global('-_', 'negate_double', [DOUBLE], DOUBLE, (a: number) => -a);

  // ---- index / size ----
  r.global('_[_]', 'index_list', [listOf(A), INT], A, indexList);
  r.global('_[_]', 'index_map', [mapOf(A, B), A], B, indexMap);
  for (const [t, f] of [
    [STRING, (s: string) => BigInt(codePointLength(s))],
    [BYTES, (b: Uint8Array) => BigInt(b.length)],
    [listOf(A), (l: readonly unknown[]) => BigInt(l.length)],
    [mapOf(A, B), (m: CelMap) => BigInt(m.size)],
  ] as const) {
    r.global('size', `size_${t.name}`, [t], INT, f);
    r.member('size', `${t.name}_size`, [t], INT, f);
  }

  // ---- conversions ----
  r.global('int', 'int64_to_int64', [INT], INT, (a: bigint) => a);
  r.global('int', 'uint64_to_int64', [UINT], INT, (a: CelUint) => checkIntConv(a.value));
  r.global('int', 'double_to_int64', [DOUBLE], INT, doubleToInt);
  r.global('int', 'string_to_int64', [STRING], INT, parseIntStrict);
  r.global('int', 'timestamp_to_int64', [TIMESTAMP], INT, (t: CelTimestamp) => t.seconds);
  r.global('int', 'duration_to_int64', [DURATION], INT, (d: CelDuration) => d.nanos);
  r.global('uint', 'uint64_to_uint64', [UINT], UINT, (a: CelUint) => a);
  r.global('uint', 'int64_to_uint64', [INT], UINT, (a: bigint) => {
    if (a < 0n) throw new CelEvalError('unsigned integer overflow in conversion');
    return new CelUint(a);
  });
  r.global('uint', 'double_to_uint64', [DOUBLE], UINT, (d: number) => {
    if (!Number.isFinite(d) || d <= -1 || d >= 18446744073709551616) throw new CelEvalError('unsigned integer overflow: double out of uint range');
    return new CelUint(BigInt(Math.trunc(d)));
  });
  r.global('uint', 'string_to_uint64', [STRING], UINT, (s: string) => {
    if (!/^\d+$/.test(s)) throw new CelEvalError(`cannot convert '${s}' to uint`);
    const v = BigInt(s);
    if (v > UINT64_MAX) throw new CelEvalError('unsigned integer overflow in conversion');
    return new CelUint(v);
  });
  r.global('double', 'double_to_double', [DOUBLE], DOUBLE, (d: number) => d);
  r.global('double', 'int64_to_double', [INT], DOUBLE, (a: bigint) => Number(a));
  r.global('double', 'uint64_to_double', [UINT], DOUBLE, (a: CelUint) => Number(a.value));
  r.global('double', 'string_to_double', [STRING], DOUBLE, parseDoubleStrict);
  r.global('string', 'string_to_string', [STRING], STRING, (s: string) => s);
  r.global('string', 'int64_to_string', [INT], STRING, (a: bigint) => a.toString());
  r.global('string', 'uint64_to_string', [UINT], STRING, (a: CelUint) => a.value.toString());
  r.global('string', 'double_to_string', [DOUBLE], STRING, formatDouble);
  r.global('string', 'bool_to_string', [BOOL], STRING, (b: boolean) => String(b));
  r.global('string', 'bytes_to_string', [BYTES], STRING, (b: Uint8Array) => {
    try {
      return decodeUtf8(b, true);
    } catch (e) {
      throw new CelEvalError('invalid UTF-8 in bytes, cannot convert to string', { cause: e });
    }
  });
  r.global('string', 'timestamp_to_string', [TIMESTAMP], STRING, formatTimestamp);
  r.global('string', 'duration_to_string', [DURATION], STRING, formatDuration);
  r.global('bytes', 'bytes_to_bytes', [BYTES], BYTES, (b: Uint8Array) => b);
  r.global('bytes', 'string_to_bytes', [STRING], BYTES, encodeUtf8);
  r.global('bool', 'bool_to_bool', [BOOL], BOOL, (b: boolean) => b);
  r.global('bool', 'string_to_bool', [STRING], BOOL, (s: string) => {
    const v = BOOL_STRINGS[s];
    if (v === undefined) throw new CelEvalError(`cannot convert '${s}' to bool`);
    return v;
  });
  r.global('timestamp', 'timestamp_to_timestamp', [TIMESTAMP], TIMESTAMP, (t: CelTimestamp) => t);
  r.global('timestamp', 'string_to_timestamp', [STRING], TIMESTAMP, parseTimestamp);
  r.global('timestamp', 'int64_to_timestamp', [INT], TIMESTAMP, timestampFromSeconds);
  r.global('duration', 'duration_to_duration', [DURATION], DURATION, (d: CelDuration) => d);
  r.global('duration', 'string_to_duration', [STRING], DURATION, parseDuration);
  r.global('dyn', 'to_dyn', [A], DYN, (a: unknown) => a);
  r.global('type', 'type', [A], typeOf(A), (a: unknown) => new CelTypeValue(celTypeName(a)));

  // ---- strings ----
  const strCost = (args: readonly unknown[]): number => Math.ceil(strSize(args[1]) * STRING_COST_FACTOR);
  r.member('contains', 'contains_string', [STRING, STRING], BOOL, (a: string, b: string) => a.includes(b), {
    cost: (args) => Math.ceil(strSize(args[0]) * STRING_COST_FACTOR * strSize(args[1]) * STRING_COST_FACTOR),
  });
  r.member('startsWith', 'starts_with_string', [STRING, STRING], BOOL, (a: string, b: string) => a.startsWith(b), { cost: strCost });
  r.member('endsWith', 'ends_with_string', [STRING, STRING], BOOL, (a: string, b: string) => a.endsWith(b), { cost: strCost });
  const matches = (s: string, re: string): boolean => compileRe2(re).matches(s);
  const reCost = (args: readonly unknown[]): number =>
    Math.ceil(1 + strSize(args[0]) * STRING_COST_FACTOR) * Math.ceil(strSize(args[1]) * 0.25);
  const checkPattern = (i: number, v: unknown): string | undefined => (i === 1 && typeof v === 'string' ? checkRe2(v) : undefined);
  r.member('matches', 'matches_string', [STRING, STRING], BOOL, matches, { cost: reCost, checkLiteral: checkPattern });
  r.global('matches', 'matches', [STRING, STRING], BOOL, matches, { cost: reCost, checkLiteral: checkPattern });

  // ---- timestamps and durations ----
  tsGetter('getFullYear', (p) => p.year, r);
  tsGetter('getMonth', (p) => p.month, r);
  tsGetter('getDayOfYear', (p) => p.dayOfYear, r);
  tsGetter('getDayOfMonth', (p) => p.day - 1, r);
  tsGetter('getDate', (p) => p.day, r);
  tsGetter('getDayOfWeek', (p) => p.weekday, r);
  tsGetter('getHours', (p) => p.hour, r);
  tsGetter('getMinutes', (p) => p.minute, r);
  tsGetter('getSeconds', (p) => p.second, r);
  tsGetter('getMilliseconds', (_p, t) => millisOf(t), r);
  r.member('getHours', 'duration_to_hours', [DURATION], INT, (d: CelDuration) => d.nanos / (3600n * NANOS));
  r.member('getMinutes', 'duration_to_minutes', [DURATION], INT, (d: CelDuration) => d.nanos / (60n * NANOS));
  r.member('getSeconds', 'duration_to_seconds', [DURATION], INT, (d: CelDuration) => d.nanos / NANOS);
  // cel-go: the whole duration in milliseconds (duration('1.5s').getMilliseconds() == 1500).
  r.member('getMilliseconds', 'duration_to_milliseconds', [DURATION], INT, (d: CelDuration) => d.nanos / 1_000_000n);
  void NULL;
}

export function indexList(l: readonly unknown[], i: unknown): unknown {
  let k: number;
  if (typeof i === 'bigint') k = i < 0n || i >= BigInt(l.length) ? -1 : Number(i);
  else if (i instanceof CelUint) k = i.value >= BigInt(l.length) ? -1 : Number(i.value);
  else if (typeof i === 'number') {
    if (!Number.isInteger(i)) throw new CelEvalError(`unsupported index value: ${i}`);
    k = i < 0 || i >= l.length ? -1 : i;
  } else throw new CelEvalError(`no such overload: _[_](list, ${celTypeName(i)})`);
  if (k < 0) throw new CelEvalError(`index out of bounds: ${String(i instanceof CelUint ? i.value : i)}`);
  return l[k];
}

export function indexMap(m: CelMap, k: unknown): unknown {
  const v = m.get(k);
  if (v === undefined) throw new CelEvalError(`no such key: ${k instanceof CelUint ? k.value : String(k)}`);
  return v;
}
