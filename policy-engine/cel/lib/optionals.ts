// Optional values (cel-go ext optional library, enabled in Kubernetes since 1.29).
// `or` / `orValue` are also planned lazily in planner.ts; these are their signatures.
import { BOOL, DYN, listOf, optionalOf, param } from '../types.js';
import { CelEvalError } from '../errors.js';
import { CelMap, CelOptional, CelUint, CelTimestamp, CelDuration } from '../values.js';
import type { Registry } from './registry.js';

const A = param('A');

/** The zero value test behind optional.ofNonZeroValue. */
export function isZeroValue(v: unknown): boolean {
  switch (typeof v) {
    case 'bigint':
      return v === 0n;
    case 'number':
      return v === 0;
    case 'string':
      return v === '';
    case 'boolean':
      return v === false;
    default:
      if (v === null) return true;
      if (v instanceof CelUint) return v.value === 0n;
      if (Array.isArray(v)) return v.length === 0;
      if (v instanceof CelMap) return v.size === 0;
      if (v instanceof Uint8Array) return v.length === 0;
      if (v instanceof CelTimestamp || v instanceof CelDuration) return v.nanos === 0n;
      if (v instanceof CelOptional) return !v.hasValue;
      return false;
  }
}

export function registerOptionals(r: Registry): void {
  r.global('optional.of', 'optional_of', [A], optionalOf(A), (v: unknown) => CelOptional.of(v));
  r.global('optional.ofNonZeroValue', 'optional_ofNonZeroValue', [A], optionalOf(A), (v: unknown) =>
    isZeroValue(v) ? CelOptional.NONE : CelOptional.of(v),
  );
  r.global('optional.none', 'optional_none', [], optionalOf(DYN), () => CelOptional.NONE);
  r.member('value', 'optional_value', [optionalOf(A)], A, (o: CelOptional) => {
    if (!o.hasValue) throw new CelEvalError('optional.none() dereference');
    return o.value;
  });
  r.member('hasValue', 'optional_hasValue', [optionalOf(A)], BOOL, (o: CelOptional) => o.hasValue);
  r.member('or', 'optional_or_optional', [optionalOf(A), optionalOf(A)], optionalOf(A), (o: CelOptional, b: CelOptional) =>
    o.hasValue ? o : b,
  );
  r.member('orValue', 'optional_orValue_value', [optionalOf(A), A], A, (o: CelOptional, b: unknown) => (o.hasValue ? o.value : b));
  // cel-go OptionalTypes (version 2+ as the apiserver enables them): the present values of
  // a list of optionals, in order.
  const unwrap = (l: readonly unknown[]): unknown[] => {
    const out: unknown[] = [];
    for (const o of l) {
      if (!(o instanceof CelOptional)) throw new CelEvalError(`optional.unwrap: list element is not an optional`);
      if (o.hasValue) out.push(o.value);
    }
    return out;
  };
  r.global('optional.unwrap', 'optional_unwrap', [listOf(optionalOf(A))], listOf(A), unwrap, { cost: (a) => (Array.isArray(a[0]) ? a[0].length : 1) });
  r.member('unwrapOpt', 'optional_unwrapOpt', [listOf(optionalOf(A))], listOf(A), unwrap, { cost: (a) => (Array.isArray(a[0]) ? a[0].length : 1) });
}
