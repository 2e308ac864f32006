// Schemas that type `object`, `oldObject`, `namespaceObject` and `request` when a Policy is
// compiled: KIDP kinds from crds/ (the single source of truth), core kinds from core.ts.

import { schemaForKind } from '../../crds/index.js';
import { admissionRequestSchema, coreSchemas, objectMetaSchema, type OpenApiSchema } from './core.js';

export { admissionRequestSchema, coreSchemas, objectMetaSchema, type OpenApiSchema };

/** Returns the openAPIV3 schema for a resource type as selectors spell it, or undefined. */
export type SchemaResolver = (resourceType: string) => OpenApiSchema | undefined;

/**
 * CRDs declare `metadata: {type: object}` and leave ObjectMeta to the apiserver; policies
 * read labels and names, so give them the real ObjectMeta shape as the apiserver does.
 */
export function withObjectMeta(schema: OpenApiSchema): OpenApiSchema {
  const properties = (schema.properties ?? {}) as Record<string, unknown>;
  return { ...schema, properties: { ...properties, metadata: objectMetaSchema } };
}

// Same kind -> same schema object, so compiled CEL types (cached by schema) are shared.
const platformCache = new Map<string, OpenApiSchema | undefined>();

function platformSchema(kind: string): OpenApiSchema | undefined {
  if (platformCache.has(kind)) return platformCache.get(kind);
  const schema = schemaForKind(kind, 'platform.kidp.io') as OpenApiSchema | undefined;
  const result = schema ? withObjectMeta(schema) : undefined;
  platformCache.set(kind, result);
  return result;
}

/** KIDP kinds first (`Service` is platform.kidp.io's), then the core kinds. */
export const defaultSchemaResolver: SchemaResolver = (resourceType) =>
  (resourceType.includes('.') ? undefined : platformSchema(resourceType)) ?? coreSchemas[resourceType];
