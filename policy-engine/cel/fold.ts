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
import type { CelType } from './types.js';
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

const NOT_CONSTANT = Symbol('not constant');

export function constantConversionProblems(source: string, root: Expr, checked: CheckedExpr): CelIssue[] {
  const issues: CelIssue[] = [];
  // Returns the node's value when it is a constant (a literal, or a folded conversion of
  // one, as cel-go folds inner calls first), else NOT_CONSTANT.
  const visit = (e: Expr): unknown => {
    if (e.kind === 'const') return e.value;
    const kids = children(e).map(visit);
    if (e.kind !== 'call' || e.target !== undefined || e.args.length !== 1 || !CONVERSIONS.has(e.fn)) return NOT_CONSTANT;
    const value = kids[0];
    if (value === NOT_CONSTANT) return NOT_CONSTANT;
    const arg = e.args[0] as Expr;
    const tag = celTypeName(value);
    const o = (checked.overloads.get(e) ?? []).find((x: Overload) => x.params.length === 1 && (x.tags[0] === null || x.tags[0] === tag));
    if (o === undefined) {
      issues.push(issueAt(source, arg.pos, `no such overload: ${e.fn}(${tag})`));
      return NOT_CONSTANT;
    }
    try {
      return (o.impl as AnyImpl)(value);
    } catch (err) {
      if (!(err instanceof CelEvalError)) throw err;
      const what = e.fn === 'duration' || e.fn === 'timestamp' ? `invalid ${e.fn} argument` : `type conversion error from '${tag}' to '${e.fn}'`;
      issues.push(issueAt(source, arg.pos, `${what}: ${err.message}`));
      return NOT_CONSTANT;
    }
  };
  visit(root);
  return issues;
}

/** Kinds each format verb accepts (cel-go ext/formatting.go stringFormatChecker). */
const VERB_KINDS: Record<string, readonly string[]> = {
  d: ['int', 'uint'],
  o: ['int', 'uint'],
  f: ['double', 'string'],
  e: ['double', 'string'],
  b: ['int', 'uint', 'bool'],
  x: ['int', 'uint', 'string', 'bytes'],
  X: ['int', 'uint', 'string', 'bytes'],
};
const STRING_KINDS = ['list', 'map', 'int', 'uint', 'double', 'bool', 'string', 'google.protobuf.Timestamp', 'bytes', 'google.protobuf.Duration', 'type', 'null_type'];
/** cel-go's wording of each clause's type error. */
const VERB_ERRORS: Record<string, string> = {
  d: 'decimal clause can only be used on integers',
  o: 'octal clause can only be used on integers',
  f: 'fixed-point clause can only be used on doubles',
  e: 'scientific clause can only be used on doubles',
  b: 'only integers and bools can be formatted as binary',
  x: 'only integers, byte buffers, and strings can be formatted as hex',
  X: 'only integers, byte buffers, and strings can be formatted as hex',
};

function kindOf(t: CelType | undefined): string {
  if (t === undefined) return 'dyn';
  switch (t.kind) {
    case 'prim':
      return t.name;
    case 'list':
      return 'list';
    case 'map':
    case 'object':
      return 'map';
    case 'type':
      return 'type';
    case 'param':
      return 'dyn';
    default:
      return t.name;
  }
}

/**
 * ext strings' format validator (the apiserver's strings v2 registers it): a format()
 * call on a literal string with a list literal is checked when written - unknown clauses,
 * missing or extra arguments, and an argument whose static type the clause cannot print.
 */
export function formatCallProblems(source: string, root: Expr, checked: CheckedExpr): CelIssue[] {
  const issues: CelIssue[] = [];
  const stringOk = (e: Expr): Expr | undefined => {
    const k = kindOf(checked.types.get(e));
    if (k !== 'dyn' && !STRING_KINDS.includes(k)) return e;
    if (e.kind === 'list') for (const x of e.elems) { const bad = stringOk(x); if (bad) return bad; }
    if (e.kind === 'map') for (const en of e.entries) { const bad = stringOk(en.key) ?? stringOk(en.value); if (bad) return bad; }
    return undefined;
  };
  const check = (e: Expr): void => {
    for (const c of children(e)) check(c);
    if (e.kind !== 'call' || e.fn !== 'format' || e.target?.kind !== 'const' || typeof e.target.value !== 'string') return;
    const list = e.args[0];
    if (e.args.length !== 1 || list?.kind !== 'list') return;
    const fmt = e.target.value;
    const args = list.elems;
    let used = 0;
    for (let i = 0; i < fmt.length; i++) {
      if (fmt[i] !== '%') continue;
      i++;
      if (i >= fmt.length) return void issues.push(issueAt(source, e.pos, 'unexpected end of string'));
      if (fmt[i] === '%') continue;
      if (fmt[i] === '.') {
        i++;
        while (i < fmt.length && fmt[i]! >= '0' && fmt[i]! <= '9') i++;
      }
      const verb = fmt[i];
      if (verb === undefined) return void issues.push(issueAt(source, e.pos, 'unexpected end of string'));
      if (verb !== 's' && VERB_KINDS[verb] === undefined)
        return void issues.push(issueAt(source, e.pos, `could not parse formatting clause: unrecognized formatting clause "${verb}"`));
      const arg = args[used];
      if (arg === undefined) return void issues.push(issueAt(source, e.pos, `index ${used} out of range`));
      used++;
      if (verb === 's') {
        const bad = stringOk(arg);
        if (bad) return void issues.push(issueAt(source, bad.pos, `error during formatting: string clause can only be used on strings, bools, bytes, ints, doubles, maps, lists, types, durations, and timestamps, was given ${kindOf(checked.types.get(bad))}`));
        continue;
      }
      const k = kindOf(checked.types.get(arg));
      if (k !== 'dyn' && !(VERB_KINDS[verb] as readonly string[]).includes(k))
        return void issues.push(issueAt(source, arg.pos, `error during formatting: ${VERB_ERRORS[verb]}, was given ${k}`));
    }
    if (args.length > used) issues.push(issueAt(source, e.pos, `too many arguments supplied to string.format (expected ${used}, got ${args.length})`));
  };
  check(root);
  return issues;
}
