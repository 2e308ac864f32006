// Paved paths (issue 16 item 2): each archetype is data in its own folder beside this file,
// archetype.yaml (templated manifests and per-environment overrides) and tests.yaml (what it
// promises, as CEL over what it generates). This module loads and renders them; `kidp new`,
// `kidp mcp` and the tests use it. Parameters are substituted into parsed string values,
// never into YAML text, so no parameter can add a field or a document.

import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const ENVIRONMENTS = ['development', 'staging', 'production'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

export interface ArchetypeResource {
  id: string;
  manifest: Record<string, unknown>;
}

export interface Archetype {
  name: string;
  description: string;
  resources: ArchetypeResource[];
  /** Environment -> resource id -> fields merged into that resource. */
  environments: Partial<Record<Environment, Record<string, Record<string, unknown>>>>;
}

export interface ArchetypeTest {
  name: string;
  expression: string;
}

export interface ArchetypeParameters {
  team: string;
  app: string;
  environment: Environment;
  /** Default: the team's name (a team's first namespace is usually named after it). */
  namespace?: string;
  /** Default: registry.kidp.io/<team>/<app>:0.1.0, a registry the built-in policy allows. */
  image?: string;
}

/** A bad parameter or archetype name: the CLI's usage error, the MCP tool's error text. */
export class ArchetypeInputError extends Error {}

/** RFC 1123 label, as Kubernetes names namespaces; the archetypes add at most `-worker` (7). */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_APP_LENGTH = 63 - '-worker'.length;
const PLACEHOLDER = /\$\{(team|app|namespace|environment|image)\}/g;

export function archetypesDirectory(): string {
  // Beside this module in the checkout; from dist/archetypes/, the YAML stays in archetypes/.
  const here = dirname(fileURLToPath(import.meta.url));
  if (existsSync(join(here, 'http-api', 'archetype.yaml'))) return here;
  return join(here, '..', '..', 'archetypes');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function archetypeNames(): string[] {
  const dir = archetypesDirectory();
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, 'archetype.yaml')))
    .map((e) => e.name)
    .sort();
}

export function loadArchetype(name: string): Archetype {
  if (!archetypeNames().includes(name)) {
    throw new ArchetypeInputError(`unknown archetype ${JSON.stringify(name)}; the archetypes are ${archetypeNames().join(', ')}`);
  }
  const file = join(archetypesDirectory(), name, 'archetype.yaml');
  const data: unknown = parse(readFileSync(file, 'utf8'));
  if (!isRecord(data) || data.name !== name || typeof data.description !== 'string' || !Array.isArray(data.resources)) {
    throw new Error(`${file}: an archetype needs name (${name}), description and resources`);
  }
  return { name, description: data.description, resources: data.resources as ArchetypeResource[], environments: (data.environments ?? {}) as Archetype['environments'] };
}

export function loadArchetypeTests(name: string): ArchetypeTest[] {
  const file = join(archetypesDirectory(), name, 'tests.yaml');
  return existsSync(file) ? (parse(readFileSync(file, 'utf8')) as ArchetypeTest[]) : [];
}

function substitute(value: unknown, params: Record<string, string>): unknown {
  if (typeof value === 'string') return value.replace(PLACEHOLDER, (_, key: string) => params[key] ?? '');
  if (Array.isArray(value)) return value.map((v) => substitute(v, params));
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [substitute(k, params) as string, substitute(v, params)]));
  return value;
}

/** Mappings merge key by key; anything else (lists included) is replaced. */
function merge(base: unknown, patch: unknown): unknown {
  if (!isRecord(base) || !isRecord(patch)) return patch;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) out[k] = merge(base[k], v);
  return out;
}

export function checkParameters(params: ArchetypeParameters): void {
  for (const [flag, value] of [['team', params.team], ['app', params.app], ['namespace', params.namespace]] as const) {
    if (value === undefined) continue;
    if (!DNS_LABEL.test(value) || value.length > 63) {
      throw new ArchetypeInputError(`--${flag}: ${JSON.stringify(value)} is not a valid name: lower-case letters, digits and '-', starting and ending with a letter or digit`);
    }
  }
  if (params.app.length > MAX_APP_LENGTH) throw new ArchetypeInputError(`--app: ${JSON.stringify(params.app)} is longer than ${MAX_APP_LENGTH} characters, so the names made from it would be over 63`);
  if (!(ENVIRONMENTS as readonly string[]).includes(params.environment)) {
    throw new ArchetypeInputError(`--env: ${JSON.stringify(params.environment)} is not one of ${ENVIRONMENTS.join(', ')}`);
  }
  if (params.image !== undefined && (params.image === '' || /\s/.test(params.image))) throw new ArchetypeInputError(`--image: ${JSON.stringify(params.image)} is not an image reference`);
}

/** The archetype's manifests for these parameters, in apply order (the Application first). */
export function renderArchetype(archetype: Archetype, params: ArchetypeParameters): ArchetypeResource[] {
  checkParameters(params);
  const values = {
    team: params.team,
    app: params.app,
    environment: params.environment,
    namespace: params.namespace ?? params.team,
    image: params.image ?? `registry.kidp.io/${params.team}/${params.app}:0.1.0`,
  };
  const overrides = archetype.environments[params.environment] ?? {};
  return archetype.resources.map((r) => ({ id: r.id, manifest: substitute(merge(r.manifest, overrides[r.id] ?? {}), values) as Record<string, unknown> }));
}
