// Runtime representation of CEL values. Chosen for speed on JSON-shaped inputs:
//   int -> bigint, uint -> CelUint, double -> number, bool -> boolean, string -> string,
//   bytes -> Uint8Array, null -> null, list -> readonly unknown[], map -> CelMap,
//   timestamp -> CelTimestamp, duration -> CelDuration, type -> CelTypeValue,
//   optional -> CelOptional, Kubernetes library types -> classes implementing CelOpaque.
import { CelEvalError } from './errors.js';

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
export const UINT64_MAX = 2n ** 64n - 1n;

export class CelUint {
  constructor(readonly value: bigint) {}
}

/** A Kubernetes library value (quantity, IP, CIDR, URL, semver, ...). */
export interface CelOpaque {
  readonly celType: string;
  equals(other: unknown): boolean;
  toString(): string;
}

export function isOpaque(v: unknown): v is CelOpaque {
  return typeof v === 'object' && v !== null && 'celType' in v;
}

const NANOS = 1_000_000_000n;
/** 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z, the range CEL allows. */
export const TIMESTAMP_MIN_SECONDS = -62135596800n;
export const TIMESTAMP_MAX_SECONDS = 253402300799n;
/** cel-go's duration range: about ±10000 years, and within int64 nanoseconds. */
const DURATION_MAX_NANOS = INT64_MAX;

export class CelTimestamp {
  /**
   * Nanoseconds since the Unix epoch, and the UTC offset (seconds) it was written with:
   * cel-go keeps a timestamp's location, so string(timestamp('...-02:00')) keeps -02:00;
   * comparisons and the (UTC-default) getters use the instant only.
   */
  constructor(
    readonly nanos: bigint,
    readonly offsetSeconds = 0,
  ) {
    const s = floorDiv(nanos, NANOS);
    if (s < TIMESTAMP_MIN_SECONDS || s > TIMESTAMP_MAX_SECONDS) throw new CelEvalError('timestamp out of range');
  }
  get seconds(): bigint {
    return floorDiv(this.nanos, NANOS);
  }
  /** Sub-second nanoseconds, 0..999999999. */
  get subNanos(): number {
    return Number(this.nanos - this.seconds * NANOS);
  }
  toString(): string {
    return formatTimestamp(this);
  }
}

export class CelDuration {
  constructor(readonly nanos: bigint) {
    if (nanos > DURATION_MAX_NANOS || nanos < -DURATION_MAX_NANOS) throw new CelEvalError('duration out of range');
  }
  toString(): string {
    return formatDuration(this);
  }
}

export class CelTypeValue {
  constructor(readonly name: string) {}
  toString(): string {
    return this.name;
  }
}

export class CelOptional {
  static readonly NONE = new CelOptional(undefined, false);
  private constructor(
    readonly value: unknown,
    readonly hasValue: boolean,
  ) {}
  static of(v: unknown): CelOptional {
    return new CelOptional(v, true);
  }
}

export type MapKey = string | bigint | boolean;

/**
 * What a CelMap keeps its entries in: a Map, or a lazy view that converts on read
 * (lazy-map.ts, policy variables). Iteration is in insertion (or source) order.
 */
export interface MapStore {
  readonly size: number;
  get(key: MapKey): unknown;
  has(key: MapKey): boolean;
  set(key: MapKey, value: unknown): unknown;
  keys(): IterableIterator<MapKey>;
  [Symbol.iterator](): IterableIterator<[MapKey, unknown]>;
}

/**
 * A CEL map. Keys are normalised so that heterogeneous numeric keys find each other
 * (`{1: 'a'}[1u]`, `{1: 'a'}[1.0]`), as cel-go does; uint keys are remembered so that
 * iteration gives back the key with its original type.
 */
export class CelMap {
  readonly m: MapStore;
  uintKeys: Set<bigint> | undefined;
  constructor(m?: MapStore) {
    this.m = m ?? new Map();
  }
  get size(): number {
    return this.m.size;
  }
  /** undefined when absent (CEL values are never undefined). */
  get(key: unknown): unknown {
    const k = lookupKey(key);
    return k === undefined ? undefined : this.m.get(k);
  }
  has(key: unknown): boolean {
    const k = lookupKey(key);
    return k !== undefined && this.m.has(k);
  }
  /** Keys as CEL values. */
  *keys(): IterableIterator<unknown> {
    const u = this.uintKeys;
    for (const k of this.m.keys()) yield u !== undefined && typeof k === 'bigint' && u.has(k) ? new CelUint(k) : k;
  }
  *entries(): IterableIterator<[unknown, unknown]> {
    const u = this.uintKeys;
    for (const [k, v] of this.m) yield [u !== undefined && typeof k === 'bigint' && u.has(k) ? new CelUint(k) : k, v];
  }
  /** Adds an entry; returns false when the key already exists. */
  set(key: unknown, value: unknown, overwrite = false): boolean {
    const k = storeKey(key);
    if (this.m.has(k) && !overwrite) return false;
    this.m.set(k, value);
    if (key instanceof CelUint) (this.uintKeys ??= new Set()).add(k as bigint);
    return true;
  }
  static fromRecord(rec: Readonly<Record<string, unknown>>): CelMap {
    return new CelMap(new Map(Object.entries(rec)));
  }
}

function storeKey(key: unknown): MapKey {
  switch (typeof key) {
    case 'string':
    case 'bigint':
    case 'boolean':
      return key;
    default:
      if (key instanceof CelUint) return key.value;
      throw new CelEvalError(`unsupported key type: ${celTypeName(key)}`);
  }
}

function lookupKey(key: unknown): MapKey | undefined {
  switch (typeof key) {
    case 'string':
    case 'bigint':
    case 'boolean':
      return key;
    case 'number':
      return Number.isInteger(key) ? BigInt(key) : undefined;
    default:
      if (key instanceof CelUint) return key.value;
      if (key === null || isOpaque(key) || key instanceof CelTypeValue || key instanceof CelTimestamp || key instanceof CelDuration || Array.isArray(key) || key instanceof CelMap || key instanceof Uint8Array || key instanceof CelOptional)
        throw new CelEvalError(`unsupported key type: ${celTypeName(key)}`);
      return undefined;
  }
}

/** The name CEL's type() gives a value. */
export function celTypeName(v: unknown): string {
  switch (typeof v) {
    case 'bigint':
      return 'int';
    case 'number':
      return 'double';
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'object':
      if (v === null) return 'null_type';
      if (Array.isArray(v)) return 'list';
      if (v instanceof CelMap) return 'map';
      if (v instanceof CelUint) return 'uint';
      if (v instanceof Uint8Array) return 'bytes';
      if (v instanceof CelTimestamp) return 'google.protobuf.Timestamp';
      if (v instanceof CelDuration) return 'google.protobuf.Duration';
      if (v instanceof CelTypeValue) return 'type';
      if (v instanceof CelOptional) return 'optional_type';
      if (isOpaque(v)) return v.celType;
      return 'unknown';
    default:
      return 'unknown';
  }
}

// ---------- equality and ordering (heterogeneous numeric, as in cel-go) ----------

function numEqIntDouble(i: bigint, d: number): boolean {
  if (!Number.isFinite(d) || !Number.isInteger(d)) return false;
  return BigInt(d) === i;
}

export function celEquals(a: unknown, b: unknown): boolean {
  if (a === b) {
    // An opaque value decides even about itself (the authz values have no equality).
    if (typeof a === 'object' && a !== null && isOpaque(a)) return a.equals(b);
    return typeof a !== 'number' || !Number.isNaN(a);
  }
  switch (typeof a) {
    case 'bigint':
      if (b instanceof CelUint) return a === b.value;
      if (typeof b === 'number') return numEqIntDouble(a, b);
      return false;
    case 'number':
      if (typeof b === 'bigint') return numEqIntDouble(b, a);
      if (b instanceof CelUint) return numEqIntDouble(b.value, a);
      return false;
    case 'string':
    case 'boolean':
      return false;
    case 'object':
      if (a instanceof CelUint) {
        if (b instanceof CelUint) return a.value === b.value;
        return typeof b === 'bigint' || typeof b === 'number' ? celEquals(b, a) : false;
      }
      if (a === null || b === null || typeof b !== 'object') return false;
      if (Array.isArray(a)) {
        if (!Array.isArray(b) || a.length !== b.length) return false;
        for (let i = 0; i < a.length; i++) if (!celEquals(a[i], b[i])) return false;
        return true;
      }
      if (a instanceof CelMap) {
        if (!(b instanceof CelMap) || a.size !== b.size) return false;
        for (const [k, v] of a.m) {
          if (!b.m.has(k)) return false;
          if (!celEquals(v, b.m.get(k))) return false;
        }
        return true;
      }
      if (a instanceof Uint8Array) {
        if (!(b instanceof Uint8Array) || a.length !== b.length) return false;
        for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
        return true;
      }
      if (a instanceof CelTimestamp) return b instanceof CelTimestamp && a.nanos === b.nanos;
      if (a instanceof CelDuration) return b instanceof CelDuration && a.nanos === b.nanos;
      if (a instanceof CelTypeValue) return b instanceof CelTypeValue && a.name === b.name;
      if (a instanceof CelOptional) {
        if (!(b instanceof CelOptional)) return false;
        if (!a.hasValue || !b.hasValue) return a.hasValue === b.hasValue;
        return celEquals(a.value, b.value);
      }
      if (isOpaque(a)) return a.equals(b);
      return false;
    default:
      return false;
  }
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Compares an integer with a double the way cel-go does: as doubles (lossy for |i| > 2^53). */
function cmpIntDouble(i: bigint, d: number): number | undefined {
  if (Number.isNaN(d)) return undefined;
  const x = Number(i);
  return x < d ? -1 : x > d ? 1 : 0;
}

/** -1/0/1, undefined for NaN comparisons; throws no_such_overload for unordered types. */
export function celCompare(a: unknown, b: unknown): number | undefined {
  switch (typeof a) {
    case 'bigint':
      if (typeof b === 'bigint') return cmpBig(a, b);
      if (typeof b === 'number') return cmpIntDouble(a, b);
      if (b instanceof CelUint) return cmpBig(a, b.value);
      break;
    case 'number':
      if (typeof b === 'number') {
        if (Number.isNaN(a) || Number.isNaN(b)) return undefined;
        return a < b ? -1 : a > b ? 1 : 0;
      }
      if (typeof b === 'bigint') {
        const c = cmpIntDouble(b, a);
        return c === undefined ? undefined : -c;
      }
      if (b instanceof CelUint) {
        const c = cmpIntDouble(b.value, a);
        return c === undefined ? undefined : -c;
      }
      break;
    case 'string':
      if (typeof b === 'string') return compareStrings(a, b);
      break;
    case 'boolean':
      if (typeof b === 'boolean') return a === b ? 0 : a ? 1 : -1;
      break;
    case 'object':
      if (a instanceof CelUint) {
        if (b instanceof CelUint) return cmpBig(a.value, b.value);
        if (typeof b === 'bigint') return cmpBig(a.value, b);
        if (typeof b === 'number') return cmpIntDouble(a.value, b);
      } else if (a instanceof Uint8Array && b instanceof Uint8Array) {
        const n = Math.min(a.length, b.length);
        for (let i = 0; i < n; i++) if (a[i] !== b[i]) return (a[i] as number) < (b[i] as number) ? -1 : 1;
        return a.length - b.length === 0 ? 0 : a.length < b.length ? -1 : 1;
      } else if (a instanceof CelTimestamp && b instanceof CelTimestamp) return cmpBig(a.nanos, b.nanos);
      else if (a instanceof CelDuration && b instanceof CelDuration) return cmpBig(a.nanos, b.nanos);
      break;
  }
  throw noSuchOverload('_<_', [a, b]);
}

/** Code-point order (UTF-8 byte order), which is what cel-go's string comparison uses. */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      const xs = x >= 0xd800 && x <= 0xdfff;
      const ys = y >= 0xd800 && y <= 0xdfff;
      if (xs !== ys) return xs ? 1 : -1;
      return x < y ? -1 : 1;
    }
  }
  return a.length < b.length ? -1 : 1;
}

export function noSuchOverload(fn: string, args: readonly unknown[]): CelEvalError {
  return new CelEvalError(`no such overload: ${fn}(${args.map(celTypeName).join(', ')})`);
}

// ---------- int64 / uint64 arithmetic with overflow errors ----------

export function checkInt(v: bigint): bigint {
  if (v < INT64_MIN || v > INT64_MAX) throw new CelEvalError('integer overflow');
  return v;
}
export function checkUint(v: bigint): CelUint {
  if (v < 0n || v > UINT64_MAX) throw new CelEvalError('unsigned integer overflow');
  return new CelUint(v);
}

// ---------- timestamp / duration text forms ----------

export function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
}

export function formatTimestamp(t: CelTimestamp): string {
  const off = t.offsetSeconds;
  const secs = t.seconds + BigInt(off);
  const nanos = t.subNanos;
  const d = new Date(Number(secs) * 1000);
  const y = d.getUTCFullYear();
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  let frac = '';
  if (nanos !== 0) {
    frac = '.' + String(nanos).padStart(9, '0');
    frac = frac.replace(/0+$/, '');
  }
  const zone = off === 0 ? 'Z' : `${off < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(off) / 3600))}:${pad(Math.floor((Math.abs(off) % 3600) / 60))}`;
  return `${pad(y, 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${frac}${zone}`;
}

/** Like Go's protojson duration: seconds with up to 9 fractional digits, e.g. "1.5s". */
export function formatDuration(d: CelDuration): string {
  const neg = d.nanos < 0n;
  const abs = neg ? -d.nanos : d.nanos;
  const s = abs / NANOS;
  const ns = abs % NANOS;
  let frac = '';
  if (ns !== 0n) frac = '.' + String(ns).padStart(9, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${s}${frac}s`;
}

/** Bytes -> string with U+FFFD for invalid UTF-8, as Go does. */
const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8Strict = new TextDecoder('utf-8', { fatal: true });
export function decodeUtf8(b: Uint8Array, strict: boolean): string {
  return (strict ? utf8Strict : utf8).decode(b);
}
const utf8Encoder = new TextEncoder();
export function encodeUtf8(s: string): Uint8Array {
  return utf8Encoder.encode(s);
}
