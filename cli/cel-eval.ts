// `kidp cel eval '<expr>' [--vars FILE]`: compile and evaluate one expression in the same
// environment policies get, and print `{"type": T, "value": V}`.
// Exit codes: 0 evaluated; 1 evaluation error (cost limit included); 2 the expression does
// not parse or type-check, or the input is unusable. --vars is read by cel-vars.ts, loaded
// only when given: this module loads the CEL environment and nothing else (start-up time).

import { CelCompileError, CelEvalError, createEnvironment, celTypeName, toJson, types, type CelTypeRef } from '../policy-engine/cel/index.js';

/**
 * The apiserver's limit on one expression, as policy/compile.ts's MAX_EXPRESSION_LENGTH
 * (cel-eval.test.ts holds them equal). Not imported from policy/index.ts: that loads the
 * schema resolver and ajv, which `cel eval` does not use, for a third of its start-up.
 */
export const MAX_EXPRESSION_LENGTH = 5 * 1024;

export type CelEvalOutcome =
  | { exit: 0; line: string }
  | { exit: 1 | 2; error: string };

/** `{"type": T, "value": V}` exactly as the issue specifies it. */
export function formatResult(value: unknown): string {
  return `{"type": ${JSON.stringify(celTypeName(value))}, "value": ${JSON.stringify(toJson(value))}}`;
}

export function celEval(expression: string, vars: Record<string, unknown>): CelEvalOutcome {
  const bytes = Buffer.byteLength(expression, 'utf8');
  if (bytes > MAX_EXPRESSION_LENGTH) {
    return { exit: 2, error: `expression is ${bytes} bytes, over the limit of ${MAX_EXPRESSION_LENGTH} (the apiserver's)` };
  }
  const declared: Record<string, CelTypeRef> = {};
  for (const name of Object.keys(vars)) declared[name] = types.dyn;
  let program;
  try {
    program = createEnvironment({ variables: declared }).compile(expression);
  } catch (err) {
    if (err instanceof CelCompileError) return { exit: 2, error: err.message };
    if (err instanceof RangeError) return { exit: 2, error: `expression nests too deeply to compile (${err.message})` };
    throw err;
  }
  try {
    const value = program.evaluate(vars);
    return { exit: 0, line: formatResult(value) };
  } catch (err) {
    if (err instanceof CelEvalError) return { exit: 1, error: err.message };
    if (err instanceof RangeError) return { exit: 1, error: `evaluation nests too deeply (${err.message})` };
    throw err;
  }
}
