// Which rules of a Policy read the admission request (`request`, `oldObject`), directly or
// through `variables`. A stored object has no request: the background audit reports such
// rules `skip`, never `fail` (issue 6 item 2), and the impact preview replays recorded
// decisions for them instead.
//
// This walks the parsed expression from the CEL engine's parser: the compiled program does
// not say which variables it reads, and a text search would be fooled by string literals
// and comprehension variables.
import { parse } from '../policy-engine/cel/parse/parser.js';
import { walkScoped, type Expr } from '../policy-engine/cel/parse/ast.js';
import type { CompiledPolicy } from '../policy-engine/policy/index.js';

interface Reads {
  /** Whether one of the watched names (request, oldObject) is read. */
  request: boolean;
  variables: Set<string>;
  /** `variables` used whole (e.g. iterated): every variable counts as read. */
  allVariables: boolean;
}

function walk(e: Expr, reads: Reads, watched: ReadonlySet<string>): void {
  walkScoped(e, (n, bound) => {
    if (n.kind === 'ident' && !bound.has(n.name)) {
      if (watched.has(n.name)) reads.request = true;
      if (n.name === 'variables') reads.allVariables = true;
    }
    if (n.kind === 'select' && n.operand.kind === 'ident' && n.operand.name === 'variables' && !bound.has('variables')) {
      reads.variables.add(n.field);
      return false;
    }
    return true;
  });
}

function readsOf(source: string, watched: ReadonlySet<string>): Reads {
  const reads: Reads = { request: false, variables: new Set(), allVariables: false };
  walk(parse(source), reads, watched);
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
