// The built-in policy library parsed at build time (issue 16 item 1: `kidp validate
// --policies policies/` spent a third of its start-up parsing YAML). `npm run build` runs
// this file (dist/cli/precompiled-yaml.js) to write dist/cli/precompiled-policies.json: each
// YAML file's documents under the SHA-256 of its text. loadPolicies() takes an entry only
// for a file whose text hashes to it, so an edited or another directory's file is parsed as
// before; what is served is exactly what parsing that text gives.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { expandPaths, readYamlFile, type YamlDocument } from '../policy-engine/suite/yaml-input.js';

const FILE = 'precompiled-policies.json';
const here = dirname(fileURLToPath(import.meta.url));

type Entry = Omit<YamlDocument, 'file'>[];
let table: Record<string, Entry> | undefined;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The documents of `file`, from the build's table when its text is one the build parsed. */
export function readYamlDocuments(file: string): YamlDocument[] {
  if (table === undefined) {
    try {
      table = JSON.parse(readFileSync(join(here, FILE), 'utf8')) as Record<string, Entry>;
    } catch {
      table = {};
    }
  }
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // readYamlFile says what is wrong with the path.
  }
  const built = text === undefined ? undefined : table[sha256(text)];
  return built ? built.map((d) => ({ ...d, file })) : readYamlFile(file);
}

/** Parses every YAML file under `dirs` whose documents are plain JSON data (no .inf, no NaN). */
export function precompileYaml(dirs: readonly string[]): Record<string, Entry> {
  const out: Record<string, Entry> = {};
  for (const file of expandPaths(dirs)) {
    let docs: YamlDocument[];
    try {
      docs = readYamlFile(file);
    } catch {
      continue;
    }
    const entry = docs.map(({ index, line, value }) => ({ index, line, value }));
    if (!isDeepStrictEqual(JSON.parse(JSON.stringify(entry)), entry)) continue;
    out[sha256(readFileSync(file, 'utf8'))] = entry;
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // dist/cli/ -> the checkout's policies/.
  const library = join(here, '..', '..', 'policies');
  const built = precompileYaml([library]);
  writeFileSync(join(here, FILE), JSON.stringify(built));
  process.stdout.write(`cli: precompiled ${Object.keys(built).length} YAML files of ${library} into ${join(here, FILE)}\n`);
}
