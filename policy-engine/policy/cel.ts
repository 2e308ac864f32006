// The policy layer's one door to the CEL engine (policy-engine/cel/, api.ts is the contract).
import type { CelType } from '../cel/index.js';
import type { CelTypeRef } from '../cel/api.js';

export {
  createEnvironment,
  types,
  CelCompileError,
  CelEvalError,
  CelCostLimitError,
  CelMap,
  celTypeName,
  toJson,
  PER_CALL_COST_LIMIT,
  PER_POLICY_COST_LIMIT,
  MATCH_CONDITIONS_COST_LIMIT,
  AuthorizerValue,
  AuthzPendingError,
  authzKey,
  requestResourceCheck,
  tableBackend,
} from '../cel/index.js';
export type { AuthzAnswer, AuthzAttributes, AuthzBackend, AuthzRule, AuthzUser } from '../cel/index.js';
export type { CelType, CelEnvironment, CelIssue, CelTypeRef, CompiledExpression, CostBudget, OpenApiSchema as CelOpenApiSchema } from '../cel/index.js';

/**
 * An object type with known fields, for `variables` (each field typed by the variable's
 * compiled output type, as Kubernetes does). The engine's `types` has no constructor for
 * this, so this builds its object type; every CelTypeRef the engine hands out is a CelType.
 * TODO(cel): replace with a types.object(name, fields) from index.ts when it exists.
 */
export function objectType(objectName: string, fields: Readonly<Record<string, CelTypeRef>>): CelTypeRef {
  const map = new Map<string, CelType>();
  for (const [k, t] of Object.entries(fields)) map.set(k, t as CelType);
  const t: CelType = { kind: 'object', name: 'map', objectName, fields: map, required: new Set(Object.keys(fields)) };
  return t;
}
