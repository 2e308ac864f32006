// `kidp new <archetype>` and `kidp archetypes`: scaffold an archetype's manifests
// (archetypes/), printed or written one file per resource.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ArchetypeInputError, archetypeNames, loadArchetype, renderArchetype, type ArchetypeResource, type Environment } from '../archetypes/index.js';
import { renderData, type DataFormat } from './output.js';
import { EXIT, UsageError, type CliIo } from './program.js';

export interface NewOptions {
  team: string;
  app: string;
  env: string;
  namespace?: string;
  image?: string;
  out?: string;
  output?: 'yaml' | 'json';
}

/** The manifests of one archetype for these flags; a bad flag is a usage error. */
export function scaffold(archetype: string, opts: Omit<NewOptions, 'out' | 'output'>): ArchetypeResource[] {
  try {
    return renderArchetype(loadArchetype(archetype), {
      team: opts.team,
      app: opts.app,
      environment: opts.env as Environment,
      ...(opts.namespace !== undefined ? { namespace: opts.namespace } : {}),
      ...(opts.image !== undefined ? { image: opts.image } : {}),
    });
  } catch (err) {
    if (err instanceof ArchetypeInputError) throw new UsageError(err.message);
    throw err;
  }
}

/** `01-application-checkout.yaml`: apply order first, then what it is. */
function fileName(index: number, manifest: Record<string, unknown>): string {
  const kind = String(manifest.kind).toLowerCase();
  const name = String((manifest.metadata as { name?: unknown } | undefined)?.name ?? '');
  return `${String(index + 1).padStart(2, '0')}-${kind}-${name}.yaml`;
}

export async function newCommand(archetype: string, opts: NewOptions, io: CliIo): Promise<number> {
  const resources = scaffold(archetype, opts);
  if (opts.out === undefined) {
    if (opts.output === 'json') io.stdout(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: resources.map((r) => r.manifest) }, null, 2));
    else io.stdout(resources.map((r) => stringify(r.manifest).trimEnd()).join('\n---\n'));
    return EXIT.ok;
  }
  const files = resources.map((r, i) => ({ path: join(opts.out!, fileName(i, r.manifest)), manifest: r.manifest }));
  const existing = files.filter((f) => existsSync(f.path)).map((f) => f.path);
  // Never overwrite: a scaffold over edited manifests would lose the edits.
  if (existing.length > 0) throw new UsageError(`not overwriting ${existing.join(', ')}; remove them or choose another --out`);
  mkdirSync(opts.out, { recursive: true });
  for (const f of files) {
    writeFileSync(f.path, opts.output === 'json' ? `${JSON.stringify(f.manifest, null, 2)}\n` : stringify(f.manifest));
    io.stdout(`wrote ${f.path}`);
  }
  return EXIT.ok;
}

export interface ArchetypeSummary {
  name: string;
  description: string;
  resources: { kind: string; name: string }[];
}

export function archetypeSummaries(): ArchetypeSummary[] {
  return archetypeNames().map((name) => {
    const a = loadArchetype(name);
    return { name, description: a.description, resources: a.resources.map((r) => ({ kind: String(r.manifest.kind), name: String((r.manifest.metadata as { name?: unknown }).name) })) };
  });
}

export async function listArchetypes(format: DataFormat): Promise<string[]> {
  const rows = archetypeSummaries();
  return renderData(format, rows, { rows, columns: [['name', (r) => r.name], ['creates', (r) => r.resources.map((x) => x.kind).join(', ')], ['description', (r) => r.description]] });
}
