// The policy layer's one catalogue of errors (STYLE.md §7): a stable code per class, a
// message that says what was wrong, where, and what to do, and always a `cause` (the
// underlying error, or undefined when the problem was found here).

/** A place inside a Policy or input file, e.g. `rules[2] "require-backup"` at 1:14. */
export interface SourceLocation {
  /** What holds the problem: `rule "x"`, `matchCondition "y"`, `variable "z"`, `spec.rules`, a file. */
  where: string;
  line?: number;
  column?: number;
}

export type PolicyErrorCode =
  | 'KIDP_POLICY_INVALID'
  | 'KIDP_POLICY_NO_RULES'
  | 'KIDP_POLICY_DUPLICATE_NAME'
  | 'KIDP_POLICY_EXPRESSION_TOO_LARGE'
  | 'KIDP_POLICY_COMPILE'
  | 'KIDP_INPUT_YAML'
  | 'KIDP_INPUT_INVALID'
  | 'KIDP_INPUT_TOO_DEEP'
  | 'KIDP_SUITE_INVALID';

export abstract class KidpPolicyError extends Error {
  abstract readonly code: PolicyErrorCode;
  readonly locations: readonly SourceLocation[];

  constructor(message: string, options: { cause?: unknown; locations?: readonly SourceLocation[] } = {}) {
    super(message, { cause: options.cause });
    this.locations = options.locations ?? [];
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** The Policy object itself is malformed (missing spec, bad mode, bad selector). */
export class PolicyInvalidError extends KidpPolicyError {
  readonly code = 'KIDP_POLICY_INVALID';
}

/** A Policy must say something: `spec.rules` is empty or missing. */
export class PolicyNoRulesError extends KidpPolicyError {
  readonly code = 'KIDP_POLICY_NO_RULES';
}

/** Two rules (or variables, or matchConditions) share a name. */
export class PolicyDuplicateNameError extends KidpPolicyError {
  readonly code = 'KIDP_POLICY_DUPLICATE_NAME';
}

/** An expression is longer than the limit (Kubernetes caps CEL expressions at 5 KiB). */
export class PolicyExpressionTooLargeError extends KidpPolicyError {
  readonly code = 'KIDP_POLICY_EXPRESSION_TOO_LARGE';
}

/** One or more expressions do not parse or type-check; `locations` has every position. */
export class PolicyCompileError extends KidpPolicyError {
  readonly code = 'KIDP_POLICY_COMPILE';
}

/** A YAML or JSON input does not parse; `locations` has file, line and column. */
export class InputYamlError extends KidpPolicyError {
  readonly code = 'KIDP_INPUT_YAML';
}

/** An input parses but has the wrong shape (e.g. --vars is not a mapping). */
export class InputInvalidError extends KidpPolicyError {
  readonly code = 'KIDP_INPUT_INVALID';
}

/** An input nests deeper than we are willing to walk (guards the stack and the evaluator). */
export class InputTooDeepError extends KidpPolicyError {
  readonly code = 'KIDP_INPUT_TOO_DEEP';
}

/** A policy test suite file is malformed. */
export class SuiteInvalidError extends KidpPolicyError {
  readonly code = 'KIDP_SUITE_INVALID';
}

/** Formats `where` with line/column as `rule "x" (line 1, column 14)`. */
export function formatLocation(loc: SourceLocation): string {
  if (loc.line === undefined) return loc.where;
  return `${loc.where} (line ${loc.line}, column ${loc.column ?? 1})`;
}
