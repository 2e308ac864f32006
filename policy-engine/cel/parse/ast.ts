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
