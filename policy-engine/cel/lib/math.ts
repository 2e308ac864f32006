// cel-go ext math (math.greatest/least/ceil/.../bit ops/sqrt) and ext encoders (base64).
import { CelEvalError } from '../errors.js';
import { BOOL, BYTES, DOUBLE, DYN, INT, STRING, UINT, listOf, opaque, type CelType } from '../types.js';
import { CelUint, INT64_MIN, celCompare, celTypeName } from '../values.js';
import type { Registry } from './registry.js';

/** Pseudo-type for variadic numeric arguments: int, uint or double (checker.ts). */
export const NUMERIC = opaque('@numeric');

function isNum(v: unknown): boolean {
  return typeof v === 'bigint' || typeof v === 'number' || v instanceof CelUint;
}

function pick(fn: string, vals: readonly unknown[], want: number): unknown {
  if (vals.length === 0) throw new CelEvalError(`${fn}(list) argument must not be empty`);
  let best = vals[0];
  if (!isNum(best)) throw new CelEvalError(`${fn}(${celTypeName(best)}): no such overload`);
  for (let i = 1; i < vals.length; i++) {
    const v = vals[i];
    if (!isNum(v)) throw new CelEvalError(`${fn}: no such overload for ${celTypeName(v)}`);
    if (celCompare(v, best) === want) best = v;
  }
  return best;
}

const MASK64 = (1n << 64n) - 1n;
function toSigned(v: bigint): bigint {
  return BigInt.asIntN(64, v);
}

function roundHalfAway(x: number): number {
  if (!Number.isFinite(x)) return x;
  const t = Math.trunc(x);
  return Math.abs(x - t) >= 0.5 ? t + Math.sign(x) : t;
}

function sameResult(types: readonly CelType[]): CelType {
  const names = new Set(types.map((t) => (t.kind === 'list' ? t.elem.name : t.name)));
  if (names.size === 1) {
    const n = [...names][0];
    if (n === 'int') return INT;
    if (n === 'uint') return UINT;
    if (n === 'double') return DOUBLE;
  }
  return DYN;
}

function registerMinMax(r: Registry, name: 'greatest' | 'least'): void {
  const fn = `math.${name}`;
  const want = name === 'greatest' ? 1 : -1;
  for (const t of [INT, UINT, DOUBLE]) r.global(fn, `${fn}_${t.name}`, [t], t, (v: unknown) => v);
  for (const t of [INT, UINT, DOUBLE, DYN])
    r.global(fn, `${fn}_list_${t.name}`, [listOf(t)], t, (l: readonly unknown[]) => pick(fn, l, want), {
      resultOf: (ts) => sameResult(ts),
      cost: (a) => (Array.isArray(a[0]) ? a[0].length : 1),
    });
  r.global(fn, `${fn}_variadic`, [NUMERIC, NUMERIC], DYN, (...vals: unknown[]) => pick(fn, vals, want), {
    variadic: NUMERIC,
    resultOf: (ts) => sameResult(ts),
  });
}

function shiftCount(n: bigint, fn: string): bigint {
  if (n < 0n) throw new CelEvalError(`${fn}() negative offset: ${n}`);
  return n;
}

export function registerMath(r: Registry): void {
  registerMinMax(r, 'greatest');
  registerMinMax(r, 'least');
  r.global('math.ceil', 'math_ceil_double', [DOUBLE], DOUBLE, Math.ceil);
  r.global('math.floor', 'math_floor_double', [DOUBLE], DOUBLE, Math.floor);
  r.global('math.round', 'math_round_double', [DOUBLE], DOUBLE, roundHalfAway);
  r.global('math.trunc', 'math_trunc_double', [DOUBLE], DOUBLE, Math.trunc);
  r.global('math.isInf', 'math_isInf_double', [DOUBLE], BOOL, (d: number) => d === Infinity || d === -Infinity);
  r.global('math.isNaN', 'math_isNaN_double', [DOUBLE], BOOL, (d: number) => Number.isNaN(d));
  r.global('math.isFinite', 'math_isFinite_double', [DOUBLE], BOOL, (d: number) => Number.isFinite(d));
  r.global('math.abs', 'math_abs_int', [INT], INT, (i: bigint) => {
    if (i === INT64_MIN) throw new CelEvalError('integer overflow');
    return i < 0n ? -i : i;
  });
  r.global('math.abs', 'math_abs_uint', [UINT], UINT, (u: CelUint) => u);
  r.global('math.abs', 'math_abs_double', [DOUBLE], DOUBLE, Math.abs);
  r.global('math.sign', 'math_sign_int', [INT], INT, (i: bigint) => (i > 0n ? 1n : i < 0n ? -1n : 0n));
  r.global('math.sign', 'math_sign_uint', [UINT], UINT, (u: CelUint) => new CelUint(u.value > 0n ? 1n : 0n));
  r.global('math.sign', 'math_sign_double', [DOUBLE], DOUBLE, (d: number) => (Number.isNaN(d) ? NaN : d > 0 ? 1 : d < 0 ? -1 : 0));
  r.global('math.sqrt', 'math_sqrt_int', [INT], DOUBLE, (i: bigint) => Math.sqrt(Number(i)));
  r.global('math.sqrt', 'math_sqrt_uint', [UINT], DOUBLE, (u: CelUint) => Math.sqrt(Number(u.value)));
  r.global('math.sqrt', 'math_sqrt_double', [DOUBLE], DOUBLE, Math.sqrt);
  const bin = (name: string, op: (a: bigint, b: bigint) => bigint): void => {
    r.global(`math.${name}`, `math_${name}_int_int`, [INT, INT], INT, (a: bigint, b: bigint) => toSigned(op(a, b)));
    r.global(`math.${name}`, `math_${name}_uint_uint`, [UINT, UINT], UINT, (a: CelUint, b: CelUint) => new CelUint(op(a.value, b.value) & MASK64));
  };
  bin('bitAnd', (a, b) => a & b);
  bin('bitOr', (a, b) => a | b);
  bin('bitXor', (a, b) => a ^ b);
  r.global('math.bitNot', 'math_bitNot_int', [INT], INT, (a: bigint) => ~a);
  r.global('math.bitNot', 'math_bitNot_uint', [UINT], UINT, (a: CelUint) => new CelUint(~a.value & MASK64));
  r.global('math.bitShiftLeft', 'math_bitShiftLeft_int_int', [INT, INT], INT, (a: bigint, n: bigint) => {
    const k = shiftCount(n, 'math.bitShiftLeft');
    return k >= 64n ? 0n : toSigned(a << k);
  });
  r.global('math.bitShiftLeft', 'math_bitShiftLeft_uint_int', [UINT, INT], UINT, (a: CelUint, n: bigint) => {
    const k = shiftCount(n, 'math.bitShiftLeft');
    return new CelUint(k >= 64n ? 0n : (a.value << k) & MASK64);
  });
  // cel-go shifts right logically for ints too (as if unsigned).
  r.global('math.bitShiftRight', 'math_bitShiftRight_int_int', [INT, INT], INT, (a: bigint, n: bigint) => {
    const k = shiftCount(n, 'math.bitShiftRight');
    return k >= 64n ? 0n : toSigned((a & MASK64) >> k);
  });
  r.global('math.bitShiftRight', 'math_bitShiftRight_uint_int', [UINT, INT], UINT, (a: CelUint, n: bigint) => {
    const k = shiftCount(n, 'math.bitShiftRight');
    return new CelUint(k >= 64n ? 0n : a.value >> k);
  });

  // ---- base64 (ext encoders) ----
  r.global('base64.encode', 'base64_encode_bytes', [BYTES], STRING, (b: Uint8Array) => Buffer.from(b).toString('base64'));
  r.global('base64.decode', 'base64_decode_string', [STRING], BYTES, (s: string) => {
    // Standard alphabet, padded or not (cel-go accepts both); anything else is an error.
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || (s.includes('=') && s.length % 4 !== 0) || s.replace(/=+$/, '').length % 4 === 1)
      throw new CelEvalError(`base64.decode: illegal base64 data`);
    return Uint8Array.from(Buffer.from(s, 'base64'));
  });
}
