// The CEL engine's error catalogue (STYLE.md §7): one class per failure kind, a stable
// `code`, and `cause` always carried when there is one.
import type { CelIssue } from './api.js';

export type CelErrorCode = 'CEL_COMPILE' | 'CEL_EVAL' | 'CEL_COST_LIMIT';

/** Parse or type-check failure; `issues` holds every problem found, with positions. */
export class CelCompileError extends Error {
  readonly code: CelErrorCode = 'CEL_COMPILE';
  readonly issues: CelIssue[];
  readonly source: string;
  constructor(source: string, issues: CelIssue[], options?: { cause?: unknown }) {
    super(formatIssues(source, issues), options);
    this.name = 'CelCompileError';
    this.issues = issues;
    this.source = source;
  }
}

/** Evaluation failed (no such key, division by zero, overflow, no matching overload, ...). */
export class CelEvalError extends Error {
  readonly code: CelErrorCode = 'CEL_EVAL';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CelEvalError';
  }
}

/** Runtime cost went over the per-call limit or the shared policy budget. */
export class CelCostLimitError extends CelEvalError {
  override readonly code: CelErrorCode = 'CEL_COST_LIMIT';
  readonly limit: number;
  readonly scope: 'call' | 'budget' | 'regex';
  constructor(limit: number, scope: 'call' | 'budget' | 'regex', options?: { cause?: unknown }) {
    super(
      scope === 'call'
        ? `operation cancelled: actual cost limit exceeded (per-call limit ${limit})`
        : scope === 'budget'
          ? `operation cancelled: policy cost budget exceeded (limit ${limit})`
          : `operation cancelled: regex work limit exceeded (input length x pattern size over ${limit} steps)`,
      options,
    );
    this.scope = scope;
    this.name = 'CelCostLimitError';
    this.limit = limit;
  }
}

/** Renders issues the way cel-go does: `ERROR: <input>:1:5: message` plus a caret line. */
export function formatIssues(source: string, issues: readonly CelIssue[]): string {
  const lines = source.split('\n');
  return issues
    .map((i) => {
      const text = lines[i.line - 1] ?? '';
      const caret = `${' '.repeat(Math.max(0, i.column - 1))}^`;
      return `ERROR: <input>:${i.line}:${i.column}: ${i.message}\n | ${text}\n | ${caret}`;
    })
    .join('\n');
}

/** 1-based line/column of a 0-based offset, counting code points as cel-go does. */
export function issueAt(source: string, offset: number, message: string): CelIssue {
  let line = 1;
  let col = 1;
  const end = Math.min(offset, source.length);
  for (let i = 0; i < end; i++) {
    const c = source.charCodeAt(i);
    if (c === 10) {
      line++;
      col = 1;
    } else if (c < 0xdc00 || c > 0xdfff) {
      col++;
    }
  }
  return { message, line, column: col, offset };
}
