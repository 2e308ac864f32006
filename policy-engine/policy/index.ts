// The policy layer's public API: the admission webhook, the background audit and the CLI
// import from here.
export { compilePolicy, MAX_EXPRESSION_LENGTH, ESTIMATED_COST_WARNING } from './compile.js';
export type { CompiledPolicy, CompiledRule, CompileOptions } from './compile.js';
export { evaluate, evaluatePolicy } from './evaluate.js';
export type { EvaluateOptions, EvaluationInput } from './evaluate.js';
export { decide, violations } from './decision.js';
export type { PolicyDecision, PolicyEvaluation, RuleOutcome, RuleResult } from './decision.js';
export { exceptionApplies, findExemption, isActive, DEFAULT_CLUSTER_EXCEPTION_NAMESPACE } from './exception.js';
export { gvkOf, labelSelectorMatches, nameMatches, resourceTypeOf, PLATFORM_GROUP, PLATFORM_KINDS } from './match.js';
export * from './errors.js';
export type * from './types.js';
export { defaultSchemaResolver, type SchemaResolver } from '../schemas/index.js';
export { nativeObjects, nativeRefusals, nativeName, nativelyEnforced, toVapExpression, NATIVE_ENFORCED, NATIVE_POLICY_LABEL, type NativeObjects, type NativeOptions, type ResourceOf } from './native.js';
