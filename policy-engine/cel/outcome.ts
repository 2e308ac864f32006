// One evaluation's outcome as plain data, so tests (and `kidp cel eval`) can compare whole
// results: the CEL type name and JSON value, or the error code and message.
import type { Activation, CelEnvironment } from './api.js';
import { CelCompileError, CelEvalError } from './errors.js';
import { toJson, type Json } from './json.js';
import { celTypeName } from './values.js';

export type Outcome = { type: string; value: Json } | { error: string; message: string };

export function evaluateToOutcome(env: CelEnvironment, expression: string, activation: Activation = {}): Outcome {
  try {
    const v = env.compile(expression).evaluate(activation);
    return { type: celTypeName(v), value: toJson(v) };
  } catch (e) {
    if (e instanceof CelCompileError) return { error: e.code, message: e.issues.map((i) => `${i.line}:${i.column}: ${i.message}`).join('; ') };
    if (e instanceof CelEvalError) return { error: e.code, message: e.message };
    throw e;
  }
}
