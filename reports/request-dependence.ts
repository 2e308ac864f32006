// Which rules of a Policy read the admission request (`request`, `oldObject`), directly or
// through `variables`. A stored object has no request: the background audit reports such
// rules `skip`, never `fail` (issue 6 item 2), and the impact preview replays recorded
// decisions for them instead.
//
// This walks the parsed expression from the CEL engine's parser: the compiled program does
// not say which variables it reads, and a text search would be fooled by string literals
// and comprehension variables.
import { parse } from '../policy-engine/cel/parse/parser.js';
import type { Expr } from '../policy-engine/cel/parse/ast.js';
import type { CompiledPolicy } from '../policy-engine/policy/index.js';

interface Reads {
  /** Whether one of the watched names (request, oldObject) is read. */
  request: boolean;
  variables: Set<string>;
  /** `variables` used whole (e.g. iterated): every variable counts as read. */
  allVariables: boolean;
}

function walk(e: Expr, bound: ReadonlySet<string>, reads: Reads, watched: ReadonlySet<string>): void {
  switch (e.kind) {
    case 'const':
      return;
    case 'ident':
      if (bound.has(e.name)) return;
      if (watched.has(e.name)) reads.request = true;
      if (e.name === 'variables') reads.allVariables = true;
      return;
    case 'select':
      if (e.operand.kind === 'ident' && e.operand.name === 'variables' && !bound.has('variables')) {
        reads.variables.add(e.field);
        return;
      }
      return walk(e.operand, bound, reads, watched);
    case 'index':
      walk(e.operand, bound, reads, watched);
      return walk(e.index, bound, reads, watched);
    case 'call':
      if (e.target) walk(e.target, bound, reads, watched);
      for (const a of e.args) walk(a, bound, reads, watched);
      return;
    case 'list':
      for (const x of e.elems) walk(x, bound, reads, watched);
      return;
    case 'map':
      for (const x of e.entries) {
        walk(x.key, bound, reads, watched);
        walk(x.value, bound, reads, watched);
      }
      return;
    case 'struct':
      for (const f of e.fields) walk(f.value, bound, reads, watched);
      return;
    case 'macro': {
      walk(e.range, bound, reads, watched);
      const inner = new Set(bound);
      inner.add(e.v1);
      if (e.v2 !== undefined) inner.add(e.v2);
      walk(e.body, inner, reads, watched);
      if (e.filter) walk(e.filter, inner, reads, watched);
      return;
    }
    case 'bind': {
      walk(e.init, bound, reads, watched);
      const inner = new Set(bound);
      inner.add(e.name);
      return walk(e.body, inner, reads, watched);
    }
  }
}

function readsOf(source: string, watched: ReadonlySet<string>): Reads {
  const reads: Reads = { request: false, variables: new Set(), allVariables: false };
  walk(parse(source), new Set(), reads, watched);
  return reads;
}

function dependsOnRequest(r: Reads, dependentVariables: ReadonlySet<string>): boolean {
  if (r.request) return true;
  if (r.allVariables) return dependentVariables.size > 0;
  return [...r.variables].some((x) => dependentVariables.has(x));
}

/** Rule names (of a compiled, hence parseable, Policy) whose verdict depends on the request. */
export function requestDependentRules(policy: CompiledPolicy): Set<string> {
  // `authorizer` checks the requesting user: a stored object has none.
  return rulesReading(policy, new Set(['request', 'oldObject', 'authorizer']));
}

/** Rules that read `oldObject`: a decision record cannot replay them (it keeps no objects). */
export function oldObjectRules(policy: CompiledPolicy): Set<string> {
  return rulesReading(policy, new Set(['oldObject']));
}

function rulesReading(policy: CompiledPolicy, watched: ReadonlySet<string>): Set<string> {
  const spec = policy.source.spec;
  const dependentVariables = new Set<string>();
  // Variables are in order and may only read earlier ones.
  for (const v of spec.variables ?? []) {
    if (dependsOnRequest(readsOf(v.expression, watched), dependentVariables)) dependentVariables.add(v.name);
  }
  const out = new Set<string>();
  for (const rule of spec.rules) {
    if (dependsOnRequest(readsOf(rule.expression, watched), dependentVariables)) out.add(rule.name);
  }
  return out;
}
