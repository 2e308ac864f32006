// Recursive-descent parser for CEL (cel-spec langdef.md grammar), with the macros of the
// Kubernetes environment recognised at parse time as cel-go does.
//
// We parse ourselves because no library of the cel-js family parses the optional syntax
// (`a.?b`, `l[?0]`, `{?k: v}`, `[?x]`) that Kubernetes enables; see the commit message
// for the comparison.
import { CelCompileError, issueAt } from '../errors.js';
import type { CelIssue } from '../api.js';
import type { Expr, MacroKind } from './ast.js';
import { LexError, tokenize, type Token } from './lexer.js';

/** cel-go's default parser limits. */
const MAX_RECURSION_DEPTH = 250;
export const MAX_EXPRESSION_LENGTH = 100_000;

const RESERVED = new Set([
  'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop',
  'package', 'namespace', 'return', 'var', 'void', 'while',
]);

class ParseFail extends Error {
  constructor(
    message: string,
    readonly pos: number,
  ) {
    super(message);
  }
}

export function parse(source: string): Expr {
  if (source.length > MAX_EXPRESSION_LENGTH)
    throw new CelCompileError(source, [issueAt(source, 0, `expression of ${source.length} characters exceeds the limit of ${MAX_EXPRESSION_LENGTH}`)]);
  let tokens: Token[];
  try {
    tokens = tokenize(source);
  } catch (e) {
    if (e instanceof LexError) throw new CelCompileError(source, [issueAt(source, e.pos, e.message)], { cause: e });
    throw e;
  }
  const p = new Parser(tokens);
  try {
    const e = p.expr();
    if (p.peek().type !== 'eof') p.fail(`mismatched input '${p.peek().text}' expecting <EOF>`);
    return e;
  } catch (e) {
    if (e instanceof ParseFail) {
      const issue: CelIssue = issueAt(source, e.pos, e.message);
      throw new CelCompileError(source, [issue], { cause: e });
    }
    throw e;
  }
}

class Parser {
  private i = 0;
  private depth = 0;
  constructor(private readonly toks: Token[]) {}

  peek(k = 0): Token {
    return this.toks[Math.min(this.i + k, this.toks.length - 1)] as Token;
  }
  next(): Token {
    const t = this.peek();
    if (this.i < this.toks.length - 1) this.i++;
    return t;
  }
  isPunct(s: string, k = 0): boolean {
    const t = this.peek(k);
    return t.type === 'punct' && t.text === s;
  }
  accept(s: string): boolean {
    if (this.isPunct(s)) {
      this.i++;
      return true;
    }
    return false;
  }
  expect(s: string): Token {
    if (!this.isPunct(s)) this.fail(`mismatched input '${this.peek().text}' expecting '${s}'`);
    return this.next();
  }
  fail(msg: string, pos = this.peek().pos): never {
    throw new ParseFail(msg, pos);
  }
  private enter(): void {
    if (++this.depth > MAX_RECURSION_DEPTH) this.fail('expression recursion limit exceeded');
  }

  expr(): Expr {
    this.enter();
    const cond = this.or();
    let out = cond;
    if (this.isPunct('?')) {
      const q = this.next();
      const a = this.or();
      this.expect(':');
      const b = this.expr();
      out = call(q.pos, '_?_:_', undefined, [cond, a, b]);
    }
    this.depth--;
    return out;
  }

  private or(): Expr {
    let l = this.and();
    while (this.isPunct('||')) {
      const op = this.next();
      const r = this.and();
      l = call(op.pos, '_||_', undefined, [l, r]);
    }
    return l;
  }

  private and(): Expr {
    let l = this.relation();
    while (this.isPunct('&&')) {
      const op = this.next();
      const r = this.relation();
      l = call(op.pos, '_&&_', undefined, [l, r]);
    }
    return l;
  }

  private relation(): Expr {
    let l = this.addition();
    for (;;) {
      const t = this.peek();
      let fn: string | undefined;
      if (t.type === 'punct') {
        fn = { '<': '_<_', '<=': '_<=_', '>': '_>_', '>=': '_>=_', '==': '_==_', '!=': '_!=_' }[t.text];
      } else if (t.type === 'ident' && t.text === 'in') fn = '@in';
      if (fn === undefined) return l;
      this.next();
      this.enter();
      const r = this.addition();
      this.depth--;
      l = call(t.pos, fn, undefined, [l, r]);
    }
  }

  private addition(): Expr {
    let l = this.multiplication();
    while (this.isPunct('+') || this.isPunct('-')) {
      const op = this.next();
      this.enter();
      const r = this.multiplication();
      this.depth--;
      l = call(op.pos, op.text === '+' ? '_+_' : '_-_', undefined, [l, r]);
    }
    return l;
  }

  private multiplication(): Expr {
    let l = this.unary();
    while (this.isPunct('*') || this.isPunct('/') || this.isPunct('%')) {
      const op = this.next();
      this.enter();
      const r = this.unary();
      this.depth--;
      l = call(op.pos, `_${op.text}_`, undefined, [l, r]);
    }
    return l;
  }

  private unary(): Expr {
    this.enter();
    let out: Expr;
    // cel-go's grammar: `(ops+='!')+ member` and `(ops+='-')+ member`; an even run of
    // operators is the member itself and an odd one a single call (parser.go VisitNegate,
    // VisitLogicalNot), so `--'a'` is 'a' and `--9223372036854775808` an invalid literal.
    if (this.isPunct('!')) {
      const ops: Token[] = [];
      while (this.isPunct('!')) ops.push(this.next());
      out = this.member();
      if (ops.length % 2 === 1) out = call((ops[0] as Token).pos, '!_', undefined, [out]);
    } else if (this.isPunct('-')) {
      const ops: Token[] = [];
      while (this.isPunct('-')) ops.push(this.next());
      const t = this.peek();
      if (ops.length === 1 && (t.type === 'int' || t.type === 'double') && !this.isPostfix(1)) {
        // One minus before a number is the literal's sign (so -9223372036854775808 is valid).
        this.next();
        if (t.type === 'int' && (t.value as bigint) > 2n ** 63n) this.fail('invalid int literal', (ops[0] as Token).pos);
        const v = t.type === 'int' ? -(t.value as bigint) : -(t.value as number);
        out = { kind: 'const', value: v, pos: (ops[0] as Token).pos, id: 0 };
      } else {
        out = this.member();
        if (ops.length % 2 === 1) out = call((ops[0] as Token).pos, '-_', undefined, [out]);
      }
    } else out = this.member();
    this.depth--;
    return out;
  }

  private isPostfix(k: number): boolean {
    return this.isPunct('.', k) || this.isPunct('[', k) || this.isPunct('.?', k);
  }

  private member(): Expr {
    let e = this.primary();
    for (;;) {
      if (this.isPunct('.') || this.isPunct('.?')) {
        const dot = this.next();
        const optional = dot.text === '.?';
        const f = this.next();
        let field: string;
        // Reserved words are fine as field and method names (cel-spec parse tests).
        if (f.type === 'ident') field = f.text;
        else if (f.type === 'quoted_ident') field = f.text;
        else this.fail(`mismatched input '${f.text}' expecting IDENTIFIER`, f.pos);
        if (!optional && f.type === 'ident' && this.isPunct('(')) {
          const lp = this.next();
          const args = this.args(')');
          e = this.makeCall(lp.pos, f.text, e, args, dot.pos);
        } else {
          e = { kind: 'select', operand: e, field, test: false, optional, pos: dot.pos, id: 0 };
        }
        continue;
      }
      if (this.isPunct('[')) {
        const lb = this.next();
        const optional = this.accept('?');
        this.enter();
        const idx = this.expr();
        this.depth--;
        this.expect(']');
        e = { kind: 'index', operand: e, index: idx, optional, pos: lb.pos, id: 0 };
        continue;
      }
      return e;
    }
  }

  private args(close: string): Expr[] {
    const out: Expr[] = [];
    if (this.accept(close)) return out;
    for (;;) {
      out.push(this.expr());
      if (this.accept(close)) return out;
      this.expect(',');
    }
  }

  private primary(): Expr {
    const t = this.peek();
    // The grammar's literal carries its own sign (`sign=MINUS? NUM_INT`): after `!` a
    // primary may still be a negative number, as in `!!-1`.
    if (this.isPunct('-')) {
      const n = this.peek(1);
      if (n.type === 'int' || n.type === 'double') {
        this.next();
        this.next();
        if (n.type === 'int' && (n.value as bigint) > 2n ** 63n) this.fail('invalid int literal', t.pos);
        return { kind: 'const', value: n.type === 'int' ? -(n.value as bigint) : -(n.value as number), pos: t.pos, id: 0 };
      }
    }
    switch (t.type) {
      case 'int':
      case 'uint':
      case 'double':
      case 'string':
      case 'bytes':
        this.next();
        if (t.type === 'int' && (t.value as bigint) > 2n ** 63n - 1n) this.fail('invalid int literal', t.pos);
        return { kind: 'const', value: t.value, pos: t.pos, id: 0 };
      case 'ident':
        return this.identOrCall(false);
      case 'punct':
        if (t.text === '.') {
          this.next();
          if (this.peek().type !== 'ident') this.fail(`mismatched input '${this.peek().text}' expecting IDENTIFIER`);
          return this.identOrCall(true);
        }
        if (t.text === '(') {
          this.next();
          const e = this.expr();
          this.expect(')');
          return e;
        }
        if (t.text === '[') {
          this.next();
          const elems: Expr[] = [];
          const optional: boolean[] = [];
          while (!this.isPunct(']')) {
            optional.push(this.accept('?'));
            elems.push(this.expr());
            if (!this.accept(',')) break;
          }
          this.expect(']');
          return { kind: 'list', elems, optional, pos: t.pos, id: 0 };
        }
        if (t.text === '{') {
          this.next();
          const entries: { key: Expr; value: Expr; optional: boolean }[] = [];
          while (!this.isPunct('}')) {
            const optional = this.accept('?');
            const key = this.expr();
            this.expect(':');
            const value = this.expr();
            entries.push({ key, value, optional });
            if (!this.accept(',')) break;
          }
          this.expect('}');
          return { kind: 'map', entries, pos: t.pos, id: 0 };
        }
        break;
      case 'quoted_ident':
        this.fail(`unexpected quoted identifier`, t.pos);
        break;
      case 'eof':
        this.fail(`mismatched input '<EOF>'`);
    }
    return this.fail(`extraneous input '${t.text}'`);
  }

  private identOrCall(rooted: boolean): Expr {
    const t = this.next();
    const name = t.text;
    if (name === 'true' || name === 'false') {
      if (rooted) this.fail(`mismatched input '${name}' expecting IDENTIFIER`, t.pos);
      return { kind: 'const', value: name === 'true', pos: t.pos, id: 0 };
    }
    if (name === 'null') {
      if (rooted) this.fail(`mismatched input '${name}' expecting IDENTIFIER`, t.pos);
      return { kind: 'const', value: null, pos: t.pos, id: 0 };
    }
    if (name === 'in' || RESERVED.has(name)) this.fail(`reserved identifier: ${name}`, t.pos);
    if (this.isPunct('(')) {
      const lp = this.next();
      const args = this.args(')');
      return this.makeCall(lp.pos, rooted ? '.' + name : name, undefined, args, t.pos);
    }
    if (this.isPunct('{')) {
      // Message construction: parsed so the checker can say it is unsupported.
      let typeName = name;
      const lb = this.next();
      const fields: { name: string; value: Expr; optional: boolean }[] = [];
      while (!this.isPunct('}')) {
        const optional = this.accept('?');
        const f = this.next();
        if (f.type !== 'ident' && f.type !== 'quoted_ident') this.fail(`mismatched input '${f.text}' expecting IDENTIFIER`, f.pos);
        this.expect(':');
        fields.push({ name: f.text, value: this.expr(), optional });
        if (!this.accept(',')) break;
      }
      this.expect('}');
      if (rooted) typeName = '.' + typeName;
      return { kind: 'struct', typeName, fields, pos: lb.pos, id: 0 };
    }
    return { kind: 'ident', name, rooted, pos: t.pos, id: 0 };
  }

  /**
   * cel.block / cel.index / cel.iterVar / cel.accuVar: cel-go's common-subexpression form
   * (ext bindings), turned into nested binds over reserved '@' names.
   */
  private celBlock(fn: string, args: Expr[], pos: number): Expr | undefined {
    if (fn === 'block' && args.length === 2) {
      const list = args[0] as Expr;
      if (list.kind !== 'list') this.fail('cel.block requires a list literal', list.pos);
      let body = args[1] as Expr;
      for (let i = list.elems.length - 1; i >= 0; i--) body = { kind: 'bind', name: `@index${i}`, init: list.elems[i] as Expr, body, pos, id: 0 };
      return body;
    }
    if (fn === 'index' && args.length === 1) {
      const n = intArg(args[0]);
      if (n === undefined) this.fail('cel.index requires an int literal', pos);
      return { kind: 'ident', name: `@index${n}`, rooted: false, pos, id: 0 };
    }
    if ((fn === 'iterVar' || fn === 'accuVar') && args.length === 2) {
      const a = intArg(args[0]);
      const b = intArg(args[1]);
      if (a === undefined || b === undefined) this.fail(`cel.${fn} requires int literals`, pos);
      return { kind: 'ident', name: `@${fn}:${a}:${b}`, rooted: false, pos, id: 0 };
    }
    return undefined;
  }

  /** Builds a call, or a macro node when the name and arity match a macro. */
  private makeCall(pos: number, fn: string, target: Expr | undefined, args: Expr[], fnPos: number): Expr {
    if (target === undefined) {
      if (fn === 'has' && args.length === 1) {
        const a = args[0] as Expr;
        if (a.kind !== 'select' || a.optional) this.fail('invalid argument to has() macro', a.pos);
        return { ...a, test: true };
      }
      return call(pos, fn, undefined, args);
    }
    // No cel.bind / cel.block macros: the apiserver's base environment declares neither
    // (k8s.io/apiserver pkg/cel/environment/base.go has no ext.Bindings).
    if (fn === 'sortBy' && args.length === 2) {
      // cel-go ext lists: l.sortBy(v, key) sorts l by the keys l.map(v, key).
      const v = args[0] as Expr;
      if (v.kind !== 'ident' || v.rooted) this.fail('argument must be a simple name', v.pos);
      const keys: Expr = { kind: 'macro', macro: 'map', range: target, v1: v.name, v2: undefined, body: args[1] as Expr, filter: undefined, pos, id: 0 };
      return call(pos, '@sortByAssociatedKeys', undefined, [target, keys]);
    }
    const macro = macroFor(fn, args.length);
    if (macro === undefined) return call(pos, fn, target, args);
    const { kind, vars, hasFilter } = macro;
    const names: string[] = [];
    for (let k = 0; k < vars; k++) {
      const v = args[k] as Expr;
      if (v.kind !== 'ident' || v.rooted) this.fail('argument must be a simple name', v.pos);
      names.push(v.name);
    }
    if (vars === 2 && names[0] === names[1]) this.fail(`duplicate variable name: ${names[0]}`, (args[1] as Expr).pos);
    for (const nm of names) if (nm === '__result__' || nm === '@result') this.fail(`iteration variable overwrites accumulator variable`, fnPos);
    const filter = hasFilter ? (args[vars] as Expr) : undefined;
    const body = args[args.length - 1] as Expr;
    return { kind: 'macro', macro: kind, range: target, v1: names[0] as string, v2: names[1], body, filter, pos, id: 0 };
  }
}

function intArg(e: Expr | undefined): number | undefined {
  return e !== undefined && e.kind === 'const' && typeof e.value === 'bigint' ? Number(e.value) : undefined;
}

function call(pos: number, fn: string, target: Expr | undefined, args: Expr[]): Expr {
  return { kind: 'call', fn, target, args, pos, id: 0 };
}

/** Macro table: name and argument count -> macro kind, iteration variables, filter. */
function macroFor(fn: string, n: number): { kind: MacroKind; vars: number; hasFilter: boolean } | undefined {
  switch (fn) {
    case 'all':
    case 'exists':
      if (n === 2) return { kind: fn, vars: 1, hasFilter: false };
      if (n === 3) return { kind: fn, vars: 2, hasFilter: false };
      return undefined;
    case 'exists_one':
    case 'existsOne':
      if (n === 2) return { kind: 'exists_one', vars: 1, hasFilter: false };
      if (n === 3) return { kind: 'exists_one', vars: 2, hasFilter: false };
      return undefined;
    case 'map':
      if (n === 2) return { kind: 'map', vars: 1, hasFilter: false };
      if (n === 3) return { kind: 'map', vars: 1, hasFilter: true };
      return undefined;
    case 'filter':
      return n === 2 ? { kind: 'filter', vars: 1, hasFilter: false } : undefined;
    case 'transformList':
    case 'transformMap':
    case 'transformMapEntry':
      if (n === 3) return { kind: fn, vars: 2, hasFilter: false };
      if (n === 4) return { kind: fn, vars: 2, hasFilter: true };
      return undefined;
    case 'optMap':
    case 'optFlatMap':
      return n === 2 ? { kind: fn, vars: 1, hasFilter: false } : undefined;
    default:
      return undefined;
  }
}
