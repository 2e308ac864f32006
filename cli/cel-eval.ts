// `kidp cel eval '<expr>' [--vars FILE]`: compile and evaluate one expression in the same
// environment policies get, and print `{"type": T, "value": V}`.
// Exit codes: 0 evaluated; 1 evaluation error (cost limit included); 2 the expression does
// not parse or type-check, or the input is unusable.

import { CelCompileError, CelEvalError, createEnvironment, celTypeName, toJson, types, type CelTypeRef } from '../policy-engine/cel/index.js';
import { InputInvalidError, MAX_EXPRESSION_LENGTH } from '../policy-engine/policy/index.js';
import { readYamlFile } from '../policy-engine/suite/yaml-input.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** CEL reserved words cannot be variable names (cel-spec, "Syntax"). */
const RESERVED = new Set([
  'true', 'false', 'null', 'in', 'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import',
  'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while',
]);

export type CelEvalOutcome =
  | { exit: 0; line: string }
  | { exit: 1 | 2; error: string };

/** Checks --vars values: integers must fit int64 (CEL's int), and nothing but JSON-like data. */
function checkValue(v: unknown, path: string, file: string): void {
  if (typeof v === 'bigint') {
    if (v < INT64_MIN || v > INT64_MAX) {
      throw new InputInvalidError(`${file}: ${path}: integer ${v} is outside CEL's int range (64-bit); write it as a string or a double`);
    }
    return;
  }
  if (v === null || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return;
  if (Array.isArray(v)) {
    v.forEach((item, i) => checkValue(item, `${path}[${i}]`, file));
    return;
  }
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const [k, item] of Object.entries(v)) checkValue(item, `${path}.${k}`, file);
    return;
  }
  throw new InputInvalidError(`${file}: ${path}: unsupported value of type ${typeof v}; use JSON-like data`);
}

/** Reads --vars: one YAML/JSON mapping of variable name to value. */
export function readVars(file: string): Record<string, unknown> {
  const docs = readYamlFile(file, { intAsBigInt: true });
  if (docs.length === 0) return {};
  const first = docs[0]!;
  if (docs.length > 1) throw new InputInvalidError(`${file}: --vars takes one document, found ${docs.length}`);
  const value = first.value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InputInvalidError(`${file}:${first.line}: --vars must be a mapping of variable names to values, not ${Array.isArray(value) ? 'a list' : typeof value}`);
  }
  for (const [name, v] of Object.entries(value)) {
    if (!IDENTIFIER.test(name) || RESERVED.has(name)) {
      throw new InputInvalidError(`${file}: ${JSON.stringify(name)} is not a valid CEL variable name (letters, digits, _; not a reserved word)`);
    }
    checkValue(v, name, file);
  }
  return value as Record<string, unknown>;
}

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
