// `kidp cel eval --vars FILE`: one YAML/JSON mapping of variable name to value, checked
// for what CEL can hold. Apart from cel-eval.ts so that `cel eval` without --vars loads no
// YAML parser nor the policy layer.

import { InputInvalidError } from '../policy-engine/policy/index.js';
import { readYamlFile } from '../policy-engine/suite/yaml-input.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** CEL reserved words cannot be variable names (cel-spec, "Syntax"). */
const RESERVED = new Set([
  'true', 'false', 'null', 'in', 'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import',
  'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while',
]);

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

