// The parsed expression tree. Macros are kept as their own node kinds (not expanded into
// generic comprehensions) so the planner can run them as tight loops; their semantics,
// including error absorption in all/exists, follow cel-go's expansions.

export type MacroKind =
  | 'all'
  | 'exists'
  | 'exists_one'
  | 'map'
  | 'filter'
  | 'transformList'
  | 'transformMap'
  | 'transformMapEntry'
  | 'optMap'
  | 'optFlatMap';

interface Base {
  /** 0-based offset used for error positions. */
  pos: number;
  /** Filled in by the checker. */
  id: number;
}

export type Expr =
  | (Base & { kind: 'const'; value: unknown })
  | (Base & { kind: 'ident'; name: string; rooted: boolean })
  | (Base & { kind: 'select'; operand: Expr; field: string; test: boolean; optional: boolean })
  | (Base & { kind: 'index'; operand: Expr; index: Expr; optional: boolean })
  | (Base & { kind: 'call'; fn: string; target: Expr | undefined; args: Expr[] })
  | (Base & { kind: 'list'; elems: Expr[]; optional: boolean[] })
  | (Base & { kind: 'map'; entries: { key: Expr; value: Expr; optional: boolean }[] })
  | (Base & { kind: 'struct'; typeName: string; fields: { name: string; value: Expr; optional: boolean }[] })
  | (Base & {
      kind: 'macro';
      macro: MacroKind;
      range: Expr;
      /** Iteration variable(s); for two-variable forms, v1 is the index/key and v2 the value. */
      v1: string;
      v2: string | undefined;
      /** Predicate (all/exists/exists_one), transform (map/transform*), or filter-only body. */
      body: Expr;
      filter: Expr | undefined;
    })
  | (Base & { kind: 'bind'; name: string; init: Expr; body: Expr });

export type ExprKind = Expr['kind'];

/**
 * Visits `e` and its sub-expressions depth-first, each with the comprehension and cel.bind
 * variables in scope there (`bound`): what a question about free identifiers needs (which
 * declared variables an expression reads). `visit` returning false skips the node's
 * sub-expressions.
 */
export function walkScoped(e: Expr, visit: (e: Expr, bound: ReadonlySet<string>) => boolean | void, bound: ReadonlySet<string> = new Set()): void {
  if (visit(e, bound) === false) return;
  const go = (x: Expr, scope = bound) => walkScoped(x, visit, scope);
  const within = (...names: (string | undefined)[]): ReadonlySet<string> => {
    const s = new Set(bound);
    for (const n of names) if (n !== undefined) s.add(n);
    return s;
  };
  switch (e.kind) {
    case 'const':
    case 'ident':
      return;
    case 'select':
      return go(e.operand);
    case 'index':
      go(e.operand);
      return go(e.index);
    case 'call':
      if (e.target) go(e.target);
      for (const a of e.args) go(a);
      return;
    case 'list':
      for (const x of e.elems) go(x);
      return;
    case 'map':
      for (const x of e.entries) {
        go(x.key);
        go(x.value);
      }
      return;
    case 'struct':
      for (const f of e.fields) go(f.value);
      return;
    case 'macro': {
      go(e.range);
      const scope = within(e.v1, e.v2);
      go(e.body, scope);
      if (e.filter) go(e.filter, scope);
      return;
    }
    case 'bind':
      go(e.init);
      return go(e.body, within(e.name));
  }
}
