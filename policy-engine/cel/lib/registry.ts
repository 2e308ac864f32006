// Function declarations: one list of overloads serves the checker (signatures), the
// planner (implementations) and the cost estimator/tracker (cost functions).
import type { CelType } from '../types.js';

/** Implementations take CEL values of the declared types (the dispatcher guarantees it). */
export type Impl = (...args: never[]) => unknown;
export type AnyImpl = (...args: unknown[]) => unknown;

/** Size of an argument for cost purposes (string length, list size, ...), at runtime. */
export type RuntimeCost = (args: readonly unknown[]) => number;
/** Estimated cost bounds from argument size bounds, at compile time. */
export type EstimatedCost = (sizes: readonly SizeRange[], result?: SizeRange) => { min: number; max: number };

export interface SizeRange {
  min: number;
  max: number;
}

export interface Overload {
  readonly id: string;
  readonly fn: string;
  /** Receiver-style (`x.f()`); params[0] is then the receiver. */
  readonly member: boolean;
  readonly params: readonly CelType[];
  /** When set, any number (>= params.length) of trailing args of this type. */
  readonly variadic?: CelType;
  readonly result: CelType;
  readonly impl: Impl;
  /** Runtime type tags of params for dispatch; null matches anything. */
  readonly tags: readonly (string | null)[];
  /** Extra runtime cost on top of the base 1 for a call. */
  readonly cost?: RuntimeCost;
  readonly estimate?: EstimatedCost;
  /**
   * Compile-time argument check for a literal argument (e.g. a regex pattern), returning
   * a problem message or undefined.
   */
  /** Result type computed from the argument types (for mixed-type variadics). */
  readonly resultOf?: (argTypes: readonly CelType[]) => CelType;
  readonly checkLiteral?: (index: number, value: unknown) => string | undefined;
}

export function runtimeTag(t: CelType): string | null {
  switch (t.kind) {
    case 'prim':
      return t.name === 'dyn' ? null : t.name;
    case 'list':
      return 'list';
    case 'map':
    case 'object':
      return 'map';
    case 'optional':
      return 'optional_type';
    case 'type':
      return 'type';
    case 'opaque':
      return t.name.startsWith('@') ? null : t.name;
    case 'param':
      return null;
  }
}

export class Registry {
  readonly byName = new Map<string, Overload[]>();

  add(o: Omit<Overload, 'tags' | 'fn'> & { fn?: string }, name: string): void {
    const full: Overload = { ...o, fn: name, tags: o.params.map(runtimeTag) };
    const list = this.byName.get(name);
    if (list) list.push(full);
    else this.byName.set(name, [full]);
  }

  /** A global function: name(args). */
  global(name: string, id: string, params: CelType[], result: CelType, impl: Impl, extra?: Partial<Overload>): void {
    this.add({ id, member: false, params, result, impl, ...extra }, name);
  }

  /** A member function: recv.name(args); params[0] is the receiver. */
  member(name: string, id: string, params: CelType[], result: CelType, impl: Impl, extra?: Partial<Overload>): void {
    this.add({ id, member: true, params, result, impl, ...extra }, name);
  }

  get(name: string): readonly Overload[] | undefined {
    return this.byName.get(name);
  }
}
