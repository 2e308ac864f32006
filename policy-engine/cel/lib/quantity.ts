// Kubernetes resource quantities (k8s.io/apiserver/pkg/cel/library quantity.go semantics):
// quantity('500m'), isQuantity, sign, isInteger, asInteger, asApproximateFloat, add, sub,
// compareTo, isGreaterThan, isLessThan. Values are exact rationals (mantissa / 10^k, or
// times 1024^k for binary suffixes), so '1Gi' and '1073741824' compare equal.
import { CelEvalError } from '../errors.js';
import { BOOL, DOUBLE, INT, QUANTITY, STRING } from '../types.js';
import { INT64_MAX, INT64_MIN, type CelOpaque } from '../values.js';
import type { Registry } from './registry.js';

type Format = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

const BINARY: Record<string, bigint> = { Ki: 1n << 10n, Mi: 1n << 20n, Gi: 1n << 30n, Ti: 1n << 40n, Pi: 1n << 50n, Ei: 1n << 60n };
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

function gcd(a: bigint, b: bigint): bigint {
  a = a < 0n ? -a : a;
  b = b < 0n ? -b : b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

export class Quantity implements CelOpaque {
  readonly celType = 'kubernetes.Quantity';
  /** Exact value num/den, den > 0, reduced. */
  readonly num: bigint;
  readonly den: bigint;
  constructor(
    num: bigint,
    den: bigint,
    readonly format: Format,
    /**
     * resource.Quantity holds an int64Amount or, for what that cannot hold exactly (a
     * binary suffix on a fraction, more than 18 digits), an inf.Dec; AsInt64 - and so
     * isInteger()/asInteger() - fails on the inf.Dec form even for whole values.
     */
    readonly decForm = false,
  ) {
    const g = gcd(num, den) || 1n;
    this.num = num / g;
    this.den = den / g;
  }
  cmp(o: Quantity): number {
    const a = this.num * o.den;
    const b = o.num * this.den;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  equals(other: unknown): boolean {
    return other instanceof Quantity && this.cmp(other) === 0;
  }
  /** Kubernetes prints a quantity in canonical form ('1.5Gi' is 1536Mi, '0.5' is 500m). */
  toString(): string {
    return canonical(this);
  }
}

/** k8s's quantity syntax: <signed decimal number><suffix>. */
const QUANTITY_RE = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;

/** Parsed quantities are immutable, so rules that parse the same literal share one. */
const parsed = new Map<string, Quantity>();
const PARSED_MAX = 1000;

export function parseQuantity(s: string): Quantity {
  let q = parsed.get(s);
  if (q === undefined) {
    q = parseQuantityUncached(s);
    if (parsed.size >= PARSED_MAX) parsed.clear();
    parsed.set(s, q);
  }
  return q;
}

function parseQuantityUncached(s: string): Quantity {
  const m = QUANTITY_RE.exec(s);
  if (!m) throw new CelEvalError(`quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': '${s}'`);
  const neg = m[1] === '-';
  const [intPart, frac = ''] = (m[2] as string).split('.') as [string, string?];
  let num = BigInt((intPart || '0') + frac);
  let den = 10n ** BigInt(frac.length);
  const suffix = m[3] ?? '';
  let format: Format = 'DecimalSI';
  if (suffix in BINARY) {
    num *= BINARY[suffix] as bigint;
    format = 'BinarySI';
  } else if (suffix in DECIMAL) {
    const e = DECIMAL[suffix] as number;
    if (e >= 0) num *= 10n ** BigInt(e);
    else den *= 10n ** BigInt(-e);
  } else {
    const e = Number(suffix.slice(1));
    if (Math.abs(e) > 1000) throw new CelEvalError(`quantity exponent out of range: '${s}'`);
    if (e >= 0) num *= 10n ** BigInt(e);
    else den *= 10n ** BigInt(-e);
    format = 'DecimalExponent';
  }
  // Kubernetes keeps nano precision: anything finer rounds up (away from zero's floor).
  const nanoDen = 1_000_000_000n;
  if (nanoDen % den !== 0n && den > nanoDen) {
    const scaled = (num * nanoDen + den - 1n) / den;
    num = scaled;
    den = nanoDen;
  }
  const mantissa = (m[2] as string).replace('.', '').replace(/^0+/, '');
  const decForm = ((m[2] as string).includes('.') && format === 'BinarySI') || mantissa.length > 18;
  return new Quantity(neg ? -num : num, den, format, decForm);
}

/** A readable canonical form for computed quantities, in the first operand's format. */
function canonical(q: Quantity): string {
  const sign = q.num < 0n ? '-' : '';
  const n = q.num < 0n ? -q.num : q.num;
  if (q.den === 1n && q.format === 'BinarySI' && n !== 0n) {
    for (const [suf, mul] of Object.entries(BINARY).reverse()) if (n % mul === 0n) return `${sign}${n / mul}${suf}`;
    if (n < 1024n) return `${sign}${n}`;
  }
  // Decimal: the largest SI suffix (or e-exponent) that keeps an integer mantissa.
  const scaled = (n * 1_000_000_000n) / q.den; // value in nano units (exact after parse rounding)
  if (scaled === 0n) return '0';
  const entries = Object.entries(DECIMAL).sort((a, b) => b[1] - a[1]);
  for (const [suf, e] of entries) {
    const div = 10n ** BigInt(e + 9);
    if (scaled % div === 0n) {
      if (q.format === 'DecimalExponent') return `${sign}${scaled / div}${e === 0 ? '' : `e${e}`}`;
      return `${sign}${scaled / div}${suf}`;
    }
  }
  return `${sign}${scaled}n`;
}

function asQuantity(v: Quantity | bigint): Quantity {
  return typeof v === 'bigint' ? new Quantity(v, 1n, 'DecimalSI') : v;
}

function addQ(a: Quantity, b: Quantity | bigint, sign: bigint): Quantity {
  const o = asQuantity(b);
  return new Quantity(a.num * o.den + sign * o.num * a.den, a.den * o.den, a.format, a.decForm || o.decForm);
}

function isInt64(q: Quantity): boolean {
  return !q.decForm && q.den === 1n && q.num >= INT64_MIN && q.num <= INT64_MAX;
}

export function registerQuantity(r: Registry): void {
  r.global('quantity', 'string_to_quantity', [STRING], QUANTITY, parseQuantity);
  r.global('isQuantity', 'is_quantity_string', [STRING], BOOL, (s: string) => QUANTITY_RE.test(s));
  r.global('sign', 'quantity_sign', [QUANTITY], INT, (q: Quantity) => (q.num > 0n ? 1n : q.num < 0n ? -1n : 0n));
  r.member('isInteger', 'quantity_is_integer', [QUANTITY], BOOL, isInt64);
  r.member('asInteger', 'quantity_as_integer', [QUANTITY], INT, (q: Quantity) => {
    if (!isInt64(q)) throw new CelEvalError('cannot convert value to integer');
    return q.num;
  });
  r.member('asApproximateFloat', 'quantity_as_approximate_float', [QUANTITY], DOUBLE, (q: Quantity) => Number(q.num) / Number(q.den));
  r.member('add', 'quantity_add', [QUANTITY, QUANTITY], QUANTITY, (a: Quantity, b: Quantity) => addQ(a, b, 1n));
  r.member('add', 'quantity_add_int', [QUANTITY, INT], QUANTITY, (a: Quantity, b: bigint) => addQ(a, b, 1n));
  r.member('sub', 'quantity_sub', [QUANTITY, QUANTITY], QUANTITY, (a: Quantity, b: Quantity) => addQ(a, b, -1n));
  r.member('sub', 'quantity_sub_int', [QUANTITY, INT], QUANTITY, (a: Quantity, b: bigint) => addQ(a, b, -1n));
  r.member('compareTo', 'quantity_compare_to', [QUANTITY, QUANTITY], INT, (a: Quantity, b: Quantity) => BigInt(a.cmp(b)));
  r.member('isGreaterThan', 'quantity_is_greater_than', [QUANTITY, QUANTITY], BOOL, (a: Quantity, b: Quantity) => a.cmp(b) > 0);
  r.member('isLessThan', 'quantity_is_less_than', [QUANTITY, QUANTITY], BOOL, (a: Quantity, b: Quantity) => a.cmp(b) < 0);
}
