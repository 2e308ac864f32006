// Evaluates a CRD's x-kubernetes-validations rules offline with KIDP's CEL engine, so
// validateManifest gives the apiserver's verdict on cross-field rules too. `self` is
// declared dyn: the rules here are simple field comparisons, and a rule is compiled once
// per process.
import { createEnvironment, types, type CompiledExpression } from '../policy-engine/cel/index.js';
import type { CelRuleCheck } from './index.js';

const compiled = new WeakMap<object, Map<string, CompiledExpression>>();

export const celRuleCheck: CelRuleCheck = (rule, self, schema) => {
  try {
    let bySchema = compiled.get(schema);
    if (!bySchema) {
      bySchema = new Map();
      compiled.set(schema, bySchema);
    }
    let program = bySchema.get(rule);
    if (!program) {
      const selfType = types.fromOpenApiSchema(schema as Parameters<typeof types.fromOpenApiSchema>[0]);
      program = createEnvironment({ variables: { self: selfType } }).compile(rule);
      bySchema.set(rule, program);
    }
    return program.evaluate({ self }) === true;
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
};
