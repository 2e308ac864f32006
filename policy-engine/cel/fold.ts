// Write-time checks of constant conversions. The apiserver builds programs with
// cel.OptOptimize, which evaluates a type conversion of a constant (int('x'),
// duration('1d'), timestamp('bad'), uint(-1)) when the program is made, and fails the
// Program - so Kubernetes refuses such an expression when the policy is written
// (cel-go interpreter/decorators.go maybeOptimizeConstUnary, plus the duration/timestamp
// literal validators of base.go). Here the same calls are run at compile time.
import type { CelIssue } from './api.js';
import type { CheckedExpr } from './checker.js';
import { CelEvalError, issueAt } from './errors.js';
import type { AnyImpl, Overload } from './lib/registry.js';
import type { Expr } from './parse/ast.js';
import { celTypeName } from './values.js';

/** cel-go overloads.IsTypeConversionFunction. */
const CONVERSIONS = new Set(['bool', 'bytes', 'double', 'duration', 'dyn', 'int', 'string', 'timestamp', 'type', 'uint']);

function children(e: Expr): Expr[] {
  switch (e.kind) {
    case 'const':
    case 'ident':
      return [];
    case 'select':
      return [e.operand];
    case 'index':
      return [e.operand, e.index];
    case 'call':
      return e.target !== undefined ? [e.target, ...e.args] : e.args;
    case 'list':
      return e.elems;
    case 'map':
      return e.entries.flatMap((en) => [en.key, en.value]);
    case 'struct':
      return e.fields.map((f) => f.value);
    case 'macro':
      return e.filter !== undefined ? [e.range, e.body, e.filter] : [e.range, e.body];
    case 'bind':
      return [e.init, e.body];
  }
}

export function constantConversionProblems(source: string, root: Expr, checked: CheckedExpr): CelIssue[] {
  const issues: CelIssue[] = [];
  const visit = (e: Expr): void => {
    for (const c of children(e)) visit(c);
    if (e.kind !== 'call' || e.target !== undefined || e.args.length !== 1 || !CONVERSIONS.has(e.fn)) return;
    const arg = e.args[0] as Expr;
    if (arg.kind !== 'const') return;
    const tag = celTypeName(arg.value);
    const o = (checked.overloads.get(e) ?? []).find((x: Overload) => x.params.length === 1 && (x.tags[0] === null || x.tags[0] === tag));
    if (o === undefined) return;
    try {
      (o.impl as AnyImpl)(arg.value);
    } catch (err) {
      if (!(err instanceof CelEvalError)) throw err;
      const what = e.fn === 'duration' || e.fn === 'timestamp' ? `invalid ${e.fn} argument` : `type conversion error from '${tag}' to '${e.fn}'`;
      issues.push(issueAt(source, arg.pos, `${what}: ${err.message}`));
    }
  };
  visit(root);
  return issues;
}
