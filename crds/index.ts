// The CRD YAML files beside this module are the single source of truth for resource
// schemas: the apiserver validates with them, ajv validates with them offline (kidp
// validate, tests), and crds/types.ts is generated from them (generate-types.ts).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';
import { KidpError } from './errors.js';
import { celRuleCheck } from './cel-rules.js';

export interface OpenApiSchema {
  type?: string;
  description?: string;
  properties?: Record<string, OpenApiSchema>;
  additionalProperties?: OpenApiSchema | boolean;
  items?: OpenApiSchema;
  required?: string[];
  enum?: unknown[];
  anyOf?: OpenApiSchema[];
  pattern?: string;
  format?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: { rule: string; message?: string; fieldPath?: string }[];
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    group: string;
    scope: 'Namespaced' | 'Cluster';
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames?: string[]; categories?: string[] };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: OpenApiSchema };
      subresources?: { status?: Record<string, never> };
    }[];
  };
}

/** Where the CRD YAML lives, found from this module whether it runs from source or dist/. */
export function crdDirectory(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const entries = readdirSync(join(dir, 'crds'));
      if (entries.includes('team.yaml')) return join(dir, 'crds');
    } catch {
      // not here; keep walking up
    }
    if (dir.endsWith('crds') && readdirSync(dir).includes('team.yaml')) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new KidpError('KIDP_CRDS_NOT_FOUND', 'cannot find the crds/ folder with the CRD YAML files');
    dir = parent;
  }
}

let cached: CustomResourceDefinition[] | undefined;

/**
 * What `npm run build` derived from the YAML (precompile.ts): the parsed CRDs of each file and
 * ajv's standalone validators, each under the SHA-256 of what it was made from, so that a
 * YAML file or schema changed since the build is parsed and compiled afresh, never served
 * stale. Absent when running from source (tsx, jest): then everything is done here.
 */
interface Precompiled {
  files: Record<string, CustomResourceDefinition[]>;
  validators: Record<string, ValidateFunction>;
}

let precompiled: Precompiled | undefined;

function loadPrecompiled(): Precompiled {
  if (precompiled) return precompiled;
  precompiled = { files: {}, validators: {} };
  const dir = join(dirname(fileURLToPath(import.meta.url)), PRECOMPILED_DIR);
  try {
    precompiled.files = JSON.parse(readFileSync(join(dir, PRECOMPILED_CRDS), 'utf8')) as Precompiled['files'];
    const load = createRequire(import.meta.url);
    precompiled.validators = { ...(load(join(dir, PRECOMPILED_VALIDATORS.validate)) as Precompiled['validators']), ...(load(join(dir, PRECOMPILED_VALIDATORS.default)) as Precompiled['validators']) };
  } catch {
    // Not built, or built without precompile.ts: parse and compile at run time.
  }
  return precompiled;
}

/** Where precompile.ts writes, relative to this module in dist/crds/. */
export const PRECOMPILED_DIR = 'precompiled';
export const PRECOMPILED_CRDS = 'crds.json';
export const PRECOMPILED_VALIDATORS = { validate: 'validators.cjs', default: 'defaulters.cjs' } as const;

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The key of a compiled validator: the CRD, the variant, and the JSON Schema ajv compiles. */
export function validatorKey(crdName: string, variant: 'validate' | 'default', ajvSchema: unknown): string {
  return `${variant}:${crdName}:${sha256(JSON.stringify(ajvSchema))}`;
}

/** The CRDs in one file of crds/ (kustomization.yaml lives there too: only CRDs count). */
function parseCrdFile(dir: string, file: string): CustomResourceDefinition[] {
  const text = readFileSync(join(dir, file), 'utf8');
  const built = loadPrecompiled().files[sha256(text)];
  if (built) return structuredClone(built);
  return parseCrdText(file, text);
}

/** The CRDs in the YAML text of one crds/ file. */
export function parseCrdText(file: string, text: string): CustomResourceDefinition[] {
  const crds: CustomResourceDefinition[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      throw new KidpError('KIDP_CRD_INVALID', `crds/${file}: ${doc.errors[0]?.message ?? 'invalid YAML'}`);
    }
    const obj = doc.toJS() as CustomResourceDefinition | null;
    if (obj?.kind === 'CustomResourceDefinition') crds.push(obj);
  }
  return crds;
}

/** Every CRD of the project, parsed once per process. */
export function loadCrds(): CustomResourceDefinition[] {
  if (cached) return cached;
  const dir = crdDirectory();
  cached = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().flatMap((file) => parseCrdFile(dir, file));
  return cached;
}

const byKindFile = new Map<string, CustomResourceDefinition[]>();

/**
 * The first CRD that `matches`, looking first in the file named for the kind (crds/service.yaml
 * for Service), and in every file only when that one does not hold it: a one-shot `kidp
 * validate` of a Service parses one CRD file, not all of them (issue 16, start-up).
 */
function findCrd(kind: string, matches: (c: CustomResourceDefinition) => boolean): CustomResourceDefinition | undefined {
  if (!cached && /^[A-Za-z0-9]+$/.test(kind)) {
    const file = `${kind.toLowerCase()}.yaml`;
    let crds = byKindFile.get(file);
    if (!crds) {
      const dir = crdDirectory();
      crds = existsSync(join(dir, file)) ? parseCrdFile(dir, file) : [];
      byKindFile.set(file, crds);
    }
    const found = crds.find(matches);
    if (found) return found;
  }
  return loadCrds().find(matches);
}

/** The JSON Schema ajv checks a CRD's objects with (precompile.ts compiles the same). */
export function ajvSchemaOf(crd: CustomResourceDefinition): Record<string, unknown> {
  return toAjvSchema(servedVersion(crd).schema.openAPIV3Schema, true);
}

function servedVersion(crd: CustomResourceDefinition) {
  const version = crd.spec.versions.find((v) => v.storage) ?? crd.spec.versions[0];
  if (!version) throw new KidpError('KIDP_CRD_INVALID', `${crd.metadata.name} has no version`);
  return version;
}

/** The CRD for a kind, looked up by Kind (and group when two groups share a Kind). */
export function crdForKind(kind: string, group?: string): CustomResourceDefinition | undefined {
  return findCrd(kind, (c) => c.spec.names.kind === kind && (group === undefined || c.spec.group === group));
}

export interface KindInfo {
  kind: string;
  plural: string;
  group: string;
  version: string;
  namespaced: boolean;
}

/** Every kind of an API group, from the CRDs (plural, scope), so no other file lists them. */
export function kindsOfGroup(group: string): KindInfo[] {
  return loadCrds()
    .filter((c) => c.spec.group === group)
    .map((c) => ({ kind: c.spec.names.kind, plural: c.spec.names.plural, group, version: servedVersion(c).name, namespaced: c.spec.scope === 'Namespaced' }));
}

export function schemaForKind(kind: string, group?: string): OpenApiSchema | undefined {
  const crd = crdForKind(kind, group);
  return crd ? servedVersion(crd).schema.openAPIV3Schema : undefined;
}

export function apiVersionOf(crd: CustomResourceDefinition): string {
  return `${crd.spec.group}/${servedVersion(crd).name}`;
}

export interface ManifestError {
  /** Dotted field path as the apiserver prints it, e.g. spec.owner.kind or spec.members[0].name */
  path: string;
  message: string;
}

export interface ManifestVerdict {
  valid: boolean;
  errors: ManifestError[];
}

/**
 * Extra checks on the schema during offline validation. The apiserver evaluates
 * x-kubernetes-validations with CEL; a caller that has a CEL engine passes this
 * hook so offline and online verdicts agree.
 */
export type CelRuleCheck = (rule: string, self: unknown, schema: OpenApiSchema) => boolean | Error;

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Turns a structural schema into the JSON Schema that ajv should check so that ajv
 * agrees with the apiserver: unknown fields are errors (kubectl's default
 * --validate=strict), int-or-string accepts both, and metadata is left to
 * validateMetadata.
 */
function toAjvSchema(schema: OpenApiSchema, atRoot: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith('x-kubernetes-') || key === 'description') continue;
    if (key === 'properties' || key === 'additionalProperties' || key === 'items' || key === 'anyOf') continue;
    out[key] = value;
  }
  if (schema['x-kubernetes-int-or-string']) {
    delete out.type;
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  } else if (schema.anyOf) {
    out.anyOf = schema.anyOf.map((s) => toAjvSchema(s, false));
  }
  if (schema.properties) {
    const props: Record<string, unknown> = {};
    for (const [name, child] of Object.entries(schema.properties)) {
      props[name] = atRoot && name === 'metadata' ? { type: 'object' } : toAjvSchema(child, false);
    }
    out.properties = props;
    if (schema.additionalProperties === undefined && !schema['x-kubernetes-preserve-unknown-fields']) {
      out.additionalProperties = false;
    }
  }
  if (typeof schema.additionalProperties === 'object') out.additionalProperties = toAjvSchema(schema.additionalProperties, false);
  if (schema.items) out.items = toAjvSchema(schema.items, false);
  if (schema.format === 'int32' || schema.format === 'int64') delete out.format;
  return out;
}

// validateSchema off: the CRD schemas are the project's own, checked by the apiserver when
// installed; checking them against JSON Schema's meta-schema was half of every compilation.
export const AJV_OPTIONS = { allErrors: true, strict: false, validateSchema: false } as const;
const requireHere = createRequire(import.meta.url);

/**
 * ajv itself, loaded only when a schema must be compiled here: with the validators
 * precompile.ts built, a one-shot `kidp validate` never loads it (a fifth of its start-up).
 */
function newAjv(useDefaults: boolean): Ajv {
  const { Ajv: AjvClass } = requireHere('ajv') as typeof import('ajv');
  const addFormats = requireHere('ajv-formats') as (a: Ajv) => void;
  const instance = new AjvClass({ ...AJV_OPTIONS, useDefaults });
  addFormats(instance);
  return instance;
}

let ajv: Ajv | undefined;
const validators = new Map<string, ValidateFunction>();

function validatorFor(crd: CustomResourceDefinition): ValidateFunction {
  let validate = validators.get(crd.metadata.name);
  if (!validate) {
    const schema = ajvSchemaOf(crd);
    validate = loadPrecompiled().validators[validatorKey(crd.metadata.name, 'validate', schema)] ?? (ajv ??= newAjv(false)).compile(schema);
    validators.set(crd.metadata.name, validate);
  }
  return validate;
}

// A second compilation whose only job is to fill in schema defaults, as the apiserver
// does before it runs x-kubernetes-validations.
let defaultingAjv: Ajv | undefined;
const defaulters = new Map<string, ValidateFunction>();

function defaulterFor(crd: CustomResourceDefinition): ValidateFunction {
  let fill = defaulters.get(crd.metadata.name);
  if (!fill) {
    const schema = ajvSchemaOf(crd);
    fill = loadPrecompiled().validators[validatorKey(crd.metadata.name, 'default', schema)] ?? (defaultingAjv ??= newAjv(true)).compile(schema);
    defaulters.set(crd.metadata.name, fill);
  }
  return fill;
}

/** Whether any x-kubernetes-validations rule is in the schema: without one, defaulting (a second ajv compilation) has nothing to feed. */
function hasValidations(schema: OpenApiSchema): boolean {
  return (
    (schema['x-kubernetes-validations']?.length ?? 0) > 0 ||
    Object.values(schema.properties ?? {}).some(hasValidations) ||
    (schema.items !== undefined && hasValidations(schema.items)) ||
    (typeof schema.additionalProperties === 'object' && hasValidations(schema.additionalProperties))
  );
}

function pathOf(error: ErrorObject): string {
  const segments = error.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  let path = '';
  for (const s of segments) path += /^\d+$/.test(s) ? `[${s}]` : path ? `.${s}` : s;
  if (error.keyword === 'required') {
    const missing = (error.params as { missingProperty: string }).missingProperty;
    return path ? `${path}.${missing}` : missing;
  }
  if (error.keyword === 'additionalProperties') {
    const extra = (error.params as { additionalProperty: string }).additionalProperty;
    return path ? `${path}.${extra}` : extra;
  }
  return path;
}

function messageOf(error: ErrorObject): string {
  switch (error.keyword) {
    case 'required':
      return 'Required value';
    case 'additionalProperties':
      return 'field not declared in schema';
    case 'enum':
      return `Unsupported value: supported values: ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `Invalid value: ${error.message ?? error.keyword}`;
  }
}

function walkValidations(
  schema: OpenApiSchema,
  value: unknown,
  path: string,
  check: CelRuleCheck,
  errors: ManifestError[],
): void {
  if (value === undefined || value === null) return;
  for (const v of schema['x-kubernetes-validations'] ?? []) {
    const ok = check(v.rule, value, schema);
    if (ok !== true) {
      const where = v.fieldPath ? `${path}${v.fieldPath}` : path;
      const reason = ok instanceof Error ? `rule errored: ${ok.message}` : (v.message ?? `failed rule: ${v.rule}`);
      errors.push({ path: where, message: `Invalid value: ${reason}` });
    }
  }
  if (schema.properties && typeof value === 'object' && !Array.isArray(value)) {
    for (const [name, child] of Object.entries(schema.properties)) {
      walkValidations(child, (value as Record<string, unknown>)[name], path ? `${path}.${name}` : name, check, errors);
    }
  }
  if (schema.items && Array.isArray(value)) {
    value.forEach((item, i) => walkValidations(schema.items as OpenApiSchema, item, `${path}[${i}]`, check, errors));
  }
}

/**
 * Validates one manifest offline the way the apiserver would: kind known, metadata.name a
 * DNS-1123 subdomain, the CRD schema (unknown fields rejected), and the schema's
 * x-kubernetes-validations (with KIDP's CEL engine unless `celRules` replaces it, or is
 * null to skip them).
 */
export function validateManifest(manifest: unknown, options: { celRules?: CelRuleCheck | null } = {}): ManifestVerdict {
  const errors: ManifestError[] = [];
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) {
    return { valid: false, errors: [{ path: '', message: 'a manifest must be a YAML/JSON object' }] };
  }
  const obj = manifest as Record<string, unknown>;
  const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
  const kind = typeof obj.kind === 'string' ? obj.kind : '';
  const crd = findCrd(kind, (c) => c.spec.names.kind === kind && apiVersionOf(c) === apiVersion);
  if (!crd) {
    return { valid: false, errors: [{ path: 'kind', message: `no KIDP kind ${kind || '(missing)'} in version ${apiVersion || '(missing)'}` }] };
  }
  const metadata = (obj.metadata ?? {}) as Record<string, unknown>;
  const name = metadata.name;
  if (typeof name !== 'string' || name === '') {
    errors.push({ path: 'metadata.name', message: 'Required value: name or generateName is required' });
  } else if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    errors.push({
      path: 'metadata.name',
      message: `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
    });
  }
  const validate = validatorFor(crd);
  if (!validate(manifest)) {
    for (const e of validate.errors ?? []) {
      // anyOf reports each branch too; the int-or-string branch errors say nothing new.
      if (e.keyword === 'anyOf' || (e.keyword === 'type' && /\/anyOf\//.test(e.schemaPath))) {
        if (e.keyword === 'anyOf') errors.push({ path: pathOf(e), message: 'Invalid value: must be an integer or a string' });
        continue;
      }
      errors.push({ path: pathOf(e), message: messageOf(e) });
    }
  } else if (options.celRules !== null && hasValidations(servedVersion(crd).schema.openAPIV3Schema)) {
    // The apiserver runs CEL rules only on objects that pass the schema, after defaulting.
    const defaulted = structuredClone(manifest);
    defaulterFor(crd)(defaulted);
    walkValidations(servedVersion(crd).schema.openAPIV3Schema, defaulted, '', options.celRules ?? celRuleCheck, errors);
  }
  return { valid: errors.length === 0, errors };
}
