// Public surface of the CEL engine. Callers import only from here (see api.ts).
export * from './api.js';
export { createEnvironment, type EnvironmentOptions } from './environment.js';
export { CelCompileError, CelCostLimitError, CelEvalError, type CelErrorCode } from './errors.js';
export { celTypeName, CelDuration, CelMap, CelOptional, CelTimestamp, CelTypeValue, CelUint } from './values.js';
export { toJson } from './json.js';
export { formatType, type CelType, type OpenApiSchema } from './types.js';
export { AuthorizerValue, AuthzPendingError, authzKey, requestResourceCheck, tableBackend, AUTHZ_CHECK_COST } from './lib/authz.js';
export type { AuthzAnswer, AuthzAttributes, AuthzBackend, AuthzRule, AuthzUser } from './lib/authz.js';
import { AUTHORIZER, RESOURCE_CHECK } from './lib/authz.js';
import {
  BOOL, BYTES, DOUBLE, DURATION, DYN, INT, NULL, STRING, TIMESTAMP, UINT,
  fromOpenApiSchema, listOf, mapOf, optionalOf, type CelType, type OpenApiSchema,
} from './types.js';

/** Type builders for declaring variables. */
export const types = {
  dyn: DYN,
  bool: BOOL,
  int: INT,
  uint: UINT,
  double: DOUBLE,
  string: STRING,
  bytes: BYTES,
  null: NULL,
  timestamp: TIMESTAMP,
  duration: DURATION,
  list: (elem: CelType): CelType => listOf(elem),
  map: (key: CelType, value: CelType): CelType => mapOf(key, value),
  optional: (elem: CelType): CelType => optionalOf(elem),
  fromOpenApiSchema: (schema: OpenApiSchema, name?: string): CelType => fromOpenApiSchema(schema, name),
  /** `authorizer` and `authorizer.requestResource` (VAP's authz variables). */
  authorizer: AUTHORIZER,
  resourceCheck: RESOURCE_CHECK,
} as const;
