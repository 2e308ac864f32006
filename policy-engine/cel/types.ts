// Static CEL types: what the checker reasons about. `name` is what CEL's type() prints,
// so each type is also a CelTypeRef (api.ts).
import type { CelTypeRef } from './api.js';

export type PrimName =
  | 'dyn'
  | 'bool'
  | 'int'
  | 'uint'
  | 'double'
  | 'string'
  | 'bytes'
  | 'null_type'
  | 'google.protobuf.Timestamp'
  | 'google.protobuf.Duration'
  | 'error';

export type CelType =
  | { readonly kind: 'prim'; readonly name: PrimName }
  | { readonly kind: 'list'; readonly name: 'list'; readonly elem: CelType; readonly maxItems?: number }
  | {
      readonly kind: 'map';
      readonly name: 'map';
      readonly key: CelType;
      readonly value: CelType;
      readonly maxProperties?: number;
    }
  | { readonly kind: 'optional'; readonly name: 'optional_type'; readonly elem: CelType }
  | { readonly kind: 'type'; readonly name: 'type'; readonly of: CelType | undefined }
  | { readonly kind: 'param'; readonly name: string }
  /** A Kubernetes library type: kubernetes.Quantity, net.IP, net.CIDR, kubernetes.URL, kubernetes.Semver, ... */
  | { readonly kind: 'opaque'; readonly name: string }
  /**
   * A structured object from an OpenAPI schema. At runtime it is a map; statically its
   * fields are known, so unknown fields and wrong comparisons are compile errors.
   */
  | {
      readonly kind: 'object';
      readonly name: 'map';
      readonly objectName: string;
      readonly fields: ReadonlyMap<string, CelType>;
      readonly required: ReadonlySet<string>;
    }
  /** A string with a known maximum length (from maxLength), for cost estimation. */
  | { readonly kind: 'prim'; readonly name: 'string' | 'bytes'; readonly maxLength?: number };

export function prim(name: PrimName): CelType {
  return { kind: 'prim', name };
}

export const DYN = prim('dyn');
export const BOOL = prim('bool');
export const INT = prim('int');
export const UINT = prim('uint');
export const DOUBLE = prim('double');
export const STRING = prim('string');
export const BYTES = prim('bytes');
export const NULL = prim('null_type');
export const TIMESTAMP = prim('google.protobuf.Timestamp');
export const DURATION = prim('google.protobuf.Duration');
export const ERROR = prim('error');

export function listOf(elem: CelType): CelType {
  return { kind: 'list', name: 'list', elem };
}
export function mapOf(key: CelType, value: CelType): CelType {
  return { kind: 'map', name: 'map', key, value };
}
export function optionalOf(elem: CelType): CelType {
  return { kind: 'optional', name: 'optional_type', elem };
}
export function typeOf(of: CelType | undefined): CelType {
  return { kind: 'type', name: 'type', of };
}
export function param(name: string): CelType {
  return { kind: 'param', name };
}
export function opaque(name: string): CelType {
  return { kind: 'opaque', name };
}

export const QUANTITY = opaque('kubernetes.Quantity');
export const URL_TYPE = opaque('kubernetes.URL');
export const IP = opaque('net.IP');
export const CIDR = opaque('net.CIDR');
export const SEMVER = opaque('kubernetes.Semver');

/** Renders a type as cel-go does in messages: list(int), map(string, dyn), optional_type(int). */
export function formatType(t: CelType): string {
  switch (t.kind) {
    case 'prim':
      return t.name;
    case 'list':
      return `list(${formatType(t.elem)})`;
    case 'map':
      return `map(${formatType(t.key)}, ${formatType(t.value)})`;
    case 'optional':
      return `optional_type(${formatType(t.elem)})`;
    case 'type':
      return t.of === undefined ? 'type' : `type(${formatType(t.of)})`;
    case 'param':
      return t.name;
    case 'opaque':
      return t.name;
    case 'object':
      return t.objectName;
  }
}

export function isCelType(t: CelTypeRef): t is CelType {
  return typeof t === 'object' && t !== null && 'kind' in t;
}

/** The OpenAPI v3 schema subset that CRDs use. */
export interface OpenApiSchema {
  type?: string;
  format?: string;
  properties?: Record<string, OpenApiSchema>;
  additionalProperties?: OpenApiSchema | boolean;
  items?: OpenApiSchema;
  required?: string[];
  maxLength?: number;
  maxItems?: number;
  maxProperties?: number;
  nullable?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  anyOf?: OpenApiSchema[];
  allOf?: OpenApiSchema[];
  oneOf?: OpenApiSchema[];
}

/**
 * Turns a CRD openAPIV3Schema into a CEL type the way the apiserver does
 * (k8s.io/apiserver/pkg/cel/common SchemaDeclType): objects with properties become object
 * types with checked field names; integer -> int, number -> double, int-or-string -> dyn;
 * preserve-unknown-fields or property-less objects -> map(string, dyn) (or the type of
 * additionalProperties); date-time strings -> timestamp, duration strings -> duration.
 */
export function fromOpenApiSchema(schema: OpenApiSchema, objectName = 'object'): CelType {
  if (schema['x-kubernetes-int-or-string']) return DYN;
  if (schema['x-kubernetes-embedded-resource'] && !schema.properties) return mapOf(STRING, DYN);
  switch (schema.type) {
    case 'integer':
      return INT;
    case 'number':
      return DOUBLE;
    case 'boolean':
      return BOOL;
    case 'string':
      if (schema.format === 'byte') return schema.maxLength === undefined ? BYTES : { kind: 'prim', name: 'bytes', maxLength: schema.maxLength };
      if (schema.format === 'date-time') return TIMESTAMP;
      if (schema.format === 'duration') return DURATION;
      return schema.maxLength === undefined ? STRING : { kind: 'prim', name: 'string', maxLength: schema.maxLength };
    case 'array': {
      const elem = schema.items ? fromOpenApiSchema(schema.items, `${objectName}.@idx`) : DYN;
      return schema.maxItems === undefined ? listOf(elem) : { kind: 'list', name: 'list', elem, maxItems: schema.maxItems };
    }
    case 'object': {
      if (schema.properties && Object.keys(schema.properties).length > 0 && !schema['x-kubernetes-preserve-unknown-fields']) {
        const fields = new Map<string, CelType>();
        for (const [k, v] of Object.entries(schema.properties)) fields.set(k, fromOpenApiSchema(v, `${objectName}.${k}`));
        return { kind: 'object', name: 'map', objectName, fields, required: new Set(schema.required ?? []) };
      }
      const ap = schema.additionalProperties;
      const value = typeof ap === 'object' ? fromOpenApiSchema(ap, `${objectName}.@prop`) : DYN;
      return schema.maxProperties === undefined ? mapOf(STRING, value) : { kind: 'map', name: 'map', key: STRING, value, maxProperties: schema.maxProperties };
    }
    default:
      return DYN;
  }
}

/** For expectedType checks: the found type fits the wanted one (dyn fits anything). */
export function isAssignableTo(want: CelType, got: CelType): boolean {
  if ((want.kind === 'prim' && want.name === 'dyn') || (got.kind === 'prim' && got.name === 'dyn')) return true;
  if (want.kind !== got.kind) return want.kind === 'map' && got.kind === 'object';
  switch (want.kind) {
    case 'list':
    case 'optional':
      return isAssignableTo(want.elem, (got as typeof want).elem);
    case 'map':
      return isAssignableTo(want.key, (got as typeof want).key) && isAssignableTo(want.value, (got as typeof want).value);
    default:
      return want.name === got.name;
  }
}
