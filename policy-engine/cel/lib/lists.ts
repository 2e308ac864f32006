// Kubernetes lists library (isSorted, sum, min, max, indexOf, lastIndexOf), cel-go ext
// lists (slice, flatten, distinct, reverse, sort, sortBy, lists.range, first, last),
// ext sets (sets.contains/equivalent/intersects) and the Kubernetes regex functions
// find/findAll.
import { CelEvalError } from '../errors.js';
import { BOOL, BYTES, DURATION, DYN, INT, STRING, TIMESTAMP, UINT, DOUBLE, listOf, optionalOf, param } from '../types.js';
import { CelDuration, CelOptional, CelUint, celCompare, celEquals, celTypeName, checkInt, checkUint } from '../values.js';
import { checkRe2, compileRe2 } from './regex.js';
import type { Registry } from './registry.js';
import { STRING_COST_FACTOR, strSize } from './standard.js';

const A = param('A');
/** cel-go ext lists / Kubernetes lists comparableTypes. */
const COMPARABLE = [INT, UINT, DOUBLE, BOOL, DURATION, TIMESTAMP, STRING, BYTES];

function ordered(l: readonly unknown[], fn: string): void {
  for (let i = 1; i < l.length; i++) {
    if (celTypeName(l[i]) !== celTypeName(l[0]) && !(isNum(l[i]) && isNum(l[0])))
      throw new CelEvalError(`${fn}: list elements must have the same type, found ${celTypeName(l[0])} and ${celTypeName(l[i])}`);
  }
}
function isNum(v: unknown): boolean {
  return typeof v === 'bigint' || typeof v === 'number' || v instanceof CelUint;
}

function cmpOrThrow(a: unknown, b: unknown): number {
  const c = celCompare(a, b);
  return c ?? 0;
}

function sum(l: readonly unknown[], zero: unknown): unknown {
  if (l.length === 0) return zero;
  let acc = l[0];
  for (let i = 1; i < l.length; i++) {
    const x = l[i];
    if (typeof acc === 'bigint' && typeof x === 'bigint') acc = checkInt(acc + x);
    else if (acc instanceof CelUint && x instanceof CelUint) acc = checkUint(acc.value + x.value);
    else if (typeof acc === 'number' && typeof x === 'number') acc = acc + x;
    else if (acc instanceof CelDuration && x instanceof CelDuration) acc = new CelDuration(acc.nanos + x.nanos);
    else throw new CelEvalError(`sum: no such overload for ${celTypeName(acc)} + ${celTypeName(x)}`);
  }
  return acc;
}

function minMax(l: readonly unknown[], want: number, fn: string): unknown {
  if (l.length === 0) throw new CelEvalError(`${fn} called on empty list`);
  ordered(l, fn);
  let best = l[0];
  for (let i = 1; i < l.length; i++) if (cmpOrThrow(l[i], best) === want) best = l[i];
  return best;
}

function indexOf(l: readonly unknown[], x: unknown, last: boolean): bigint {
  if (last) {
    for (let i = l.length - 1; i >= 0; i--) if (celEquals(l[i], x)) return BigInt(i);
  } else for (let i = 0; i < l.length; i++) if (celEquals(l[i], x)) return BigInt(i);
  return -1n;
}

function flatten(l: readonly unknown[], depth: bigint): unknown[] {
  if (depth < 0n) throw new CelEvalError('level must be non-negative');
  const out: unknown[] = [];
  for (const x of l) {
    if (Array.isArray(x) && depth > 0n) out.push(...flatten(x, depth - 1n));
    else out.push(x);
  }
  return out;
}

function sortList(l: readonly unknown[], keys?: readonly unknown[]): unknown[] {
  const k = keys ?? l;
  ordered(k, 'sort');
  for (const x of k)
    if (!(isNum(x) || typeof x === 'string' || typeof x === 'boolean' || x instanceof Uint8Array || x instanceof CelDuration || celTypeName(x) === 'google.protobuf.Timestamp'))
      throw new CelEvalError(`sort: list elements of type ${celTypeName(x)} are not comparable`);
  const idx = l.map((_, i) => i);
  idx.sort((a, b) => cmpOrThrow(k[a], k[b]));
  return idx.map((i) => l[i]);
}

export function registerLists(r: Registry): void {
  const lin = (args: readonly unknown[]): number => strSize(args[0]);
  // isSorted/min/max (Kubernetes lists) and sort/sortBy (ext lists) are declared per
  // comparable element type, so a list of lists or maps is a compile error, as there.
  for (const t of COMPARABLE) {
    r.member('isSorted', `list_${t.name}_is_sorted`, [listOf(t)], BOOL, (l: readonly unknown[]) => {
      ordered(l, 'isSorted');
      for (let i = 1; i < l.length; i++) if (cmpOrThrow(l[i - 1], l[i]) > 0) return false;
      return true;
    }, { cost: lin });
    r.member('min', `list_${t.name}_min`, [listOf(t)], t, (l: readonly unknown[]) => minMax(l, -1, 'min'), { cost: lin });
    r.member('max', `list_${t.name}_max`, [listOf(t)], t, (l: readonly unknown[]) => minMax(l, 1, 'max'), { cost: lin });
    r.member('sort', `list_${t.name}_sort`, [listOf(t)], listOf(t), (l: readonly unknown[]) => sortList(l), { cost: lin });
    r.global('@sortByAssociatedKeys', `list_${t.name}_sortByAssociatedKeys`, [listOf(A), listOf(t)], listOf(A), (l: readonly unknown[], keys: readonly unknown[]) => sortList(l, keys), { cost: lin });
  }
  r.member('sum', 'list_int_sum', [listOf(INT)], INT, (l: readonly unknown[]) => sum(l, 0n), { cost: lin });
  r.member('sum', 'list_uint_sum', [listOf(UINT)], UINT, (l: readonly unknown[]) => sum(l, new CelUint(0n)), { cost: lin });
  r.member('sum', 'list_double_sum', [listOf(DOUBLE)], DOUBLE, (l: readonly unknown[]) => sum(l, 0), { cost: lin });
  r.member('sum', 'list_duration_sum', [listOf(DURATION)], DURATION, (l: readonly unknown[]) => sum(l, new CelDuration(0n)), { cost: lin });
  r.member('indexOf', 'list_index_of', [listOf(A), A], INT, (l: readonly unknown[], x: unknown) => indexOf(l, x, false), { cost: lin });
  r.member('lastIndexOf', 'list_last_index_of', [listOf(A), A], INT, (l: readonly unknown[], x: unknown) => indexOf(l, x, true), { cost: lin });
  // Kubernetes lists library v1 (base environment from 1.37).
  // <dyn>.includes(<dyn>): a list contains it, or the receiver equals it.
  r.member('includes', 'list_includes_dyn_dyn', [DYN, DYN], BOOL, (l: unknown, x: unknown) => (Array.isArray(l) ? indexOf(l, x, false) >= 0n : celEquals(l, x)), { cost: lin });
  r.member('slice', 'list_slice', [listOf(A), INT, INT], listOf(A), (l: readonly unknown[], s: bigint, e: bigint) => {
    if (s < 0n || e < 0n) throw new CelEvalError(`cannot slice(${s}, ${e}), negative indexes not supported`);
    if (s > e) throw new CelEvalError(`cannot slice(${s}, ${e}), start index must be less than or equal to end index`);
    if (e > BigInt(l.length)) throw new CelEvalError(`cannot slice(${s}, ${e}), list is length ${l.length}`);
    return l.slice(Number(s), Number(e));
  }, { cost: lin });
  r.member('flatten', 'list_flatten', [listOf(listOf(A))], listOf(A), (l: readonly unknown[]) => flatten(l, 1n), { cost: lin });
  r.member('flatten', 'list_flatten_int', [listOf(DYN), INT], listOf(DYN), flatten, { cost: lin });
  r.member('distinct', 'list_distinct', [listOf(A)], listOf(A), (l: readonly unknown[]) => {
    const out: unknown[] = [];
    for (const x of l) if (!out.some((y) => celEquals(x, y))) out.push(x);
    return out;
  }, { cost: (a) => strSize(a[0]) * strSize(a[0]) });
  r.member('reverse', 'list_reverse', [listOf(A)], listOf(A), (l: readonly unknown[]) => [...l].reverse(), { cost: lin });
  r.global('lists.range', 'lists_range', [INT], listOf(INT), (n: bigint) => {
    if (n < 0n) throw new CelEvalError(`lists.range: size must be non-negative, got ${n}`);
    if (n > 1_000_000n) throw new CelEvalError(`lists.range: size ${n} exceeds maximum allowed (1000000)`);
    const out: bigint[] = [];
    for (let i = 0n; i < n; i++) out.push(i);
    return out;
  }, { cost: (a) => (typeof a[0] === 'bigint' && a[0] > 0n && a[0] <= 1_000_000n ? Number(a[0]) : 1) });
  r.member('first', 'list_first', [listOf(A)], optionalOf(A), (l: readonly unknown[]) => (l.length ? CelOptional.of(l[0]) : CelOptional.NONE));
  r.member('last', 'list_last', [listOf(A)], optionalOf(A), (l: readonly unknown[]) => (l.length ? CelOptional.of(l[l.length - 1]) : CelOptional.NONE));

  // ---- sets ----
  const contains = (a: readonly unknown[], b: readonly unknown[]): boolean => b.every((x) => a.some((y) => celEquals(x, y)));
  const quad = (args: readonly unknown[]): number => strSize(args[0]) * strSize(args[1]);
  r.global('sets.contains', 'list_sets_contains_list', [listOf(A), listOf(A)], BOOL, contains, { cost: quad });
  r.global('sets.equivalent', 'list_sets_equivalent_list', [listOf(A), listOf(A)], BOOL, (a: readonly unknown[], b: readonly unknown[]) => contains(a, b) && contains(b, a), { cost: quad });
  r.global('sets.intersects', 'list_sets_intersects_list', [listOf(A), listOf(A)], BOOL, (a: readonly unknown[], b: readonly unknown[]) => a.some((x) => b.some((y) => celEquals(x, y))), { cost: quad });

  // ---- regex (Kubernetes) ----
  const reCost = (args: readonly unknown[]): number => Math.ceil(strSize(args[0]) * STRING_COST_FACTOR) * Math.ceil(strSize(args[1]) * 0.25);
  const checkPattern = (i: number, v: unknown): string | undefined => (i === 1 && typeof v === 'string' ? checkRe2(v) : undefined);
  r.member('find', 'string_find_string', [STRING, STRING], STRING, (s: string, re: string) => compileRe2(re).find(s), { cost: reCost, checkLiteral: checkPattern });
  // Go's FindAllString takes an int; a count beyond the input's length is "all".
  const findAll = (s: string, re: string, n = -1n): string[] => compileRe2(re).findAll(s, n < 0n || n > BigInt(s.length + 1) ? -1 : Number(n));
  r.member('findAll', 'string_find_all_string', [STRING, STRING], listOf(STRING), (s: string, re: string) => findAll(s, re), { cost: reCost, checkLiteral: checkPattern });
  r.member('findAll', 'string_find_all_string_int', [STRING, STRING, INT], listOf(STRING), findAll, { cost: reCost, checkLiteral: checkPattern });
}
