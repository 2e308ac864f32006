// Folders talk through their front doors (issue 13 item 7): a module may import another
// folder only through that folder's public entries (its index.ts unless listed below), never
// its internals, so a folder can change what is inside without breaking its neighbours. Each
// folder's README says what it owns and what it may import. Imports that still reach inside
// are listed in KNOWN, each with why; the list may only shrink: a new one fails this test,
// and so does a listed one that is gone (delete its line).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { crdDirectory } from './index.js';

const root = join(crdDirectory(), '..');

/** The folders whose modules are checked; bench/ and test/ (e2e) may reach anywhere. */
const FOLDERS = ['admission', 'archetypes', 'brokers', 'certs', 'cli', 'controllers', 'crds', 'dashboard', 'errors', 'kube', 'policies', 'policy-engine', 'reports'];

/** Public entries of each folder, when not just index.ts. */
const ENTRIES: Record<string, string[]> = {
  // The registry and the generated types load no ajv or CEL: brokers and the CLI read them directly.
  crds: ['index.ts', 'registry.ts', 'types.ts'],
  // Three layers, each with its own front door.
  'policy-engine': ['cel/index.ts', 'policy/index.ts', 'schemas/index.ts'],
  errors: ['catalogue.ts'],
  // The Kafka client factory stays out of kube/index.ts: importing kube/ must not load kafkajs
  // for those who never talk to Kafka (the CLI, the reports controller).
  kube: ['index.ts', 'kafka.ts'],
  // The `kidp` command; nothing imports it.
  cli: ['main.ts'],
  // Data and its tests; nothing imports it.
  policies: [],
};

/** Imports of internals that remain, `from -> to`; each in a folder another helper was changing (issue 13). */
const KNOWN: Record<string, string> = {
  'admission/decision-stream.ts -> reports/result.ts': 'admission/ is the tenancy helper\'s; reports/index.ts exports these',
  'admission/review.ts -> policy-engine/policy/types.ts': 'admission/; policy/index.ts exports these types',
  'admission/server.test.ts -> certs/ca.ts': 'admission/; certs/index.ts now exports createCa',
  'admission/server.test.ts -> certs/serving.ts': 'admission/; certs/index.ts now exports issueServingCertificate',
  'brokers/dispatcher.test.ts -> certs/ca.ts': 'brokers/ is the Kafka helper\'s; certs/index.ts exports it',
  'brokers/dispatcher.test.ts -> certs/serving.ts': 'brokers/; certs/index.ts exports it',
  'brokers/status-jwt.test.ts -> certs/ca.ts': 'brokers/; certs/index.ts exports it',
  'brokers/status-jwt.test.ts -> certs/serving.ts': 'brokers/; certs/index.ts exports it',
  'brokers/reference/apply.ts -> kube/connections.ts': 'brokers/; kube/index.ts exports keepConnectionsAlive',
  'brokers/status-handler.ts -> kube/connections.ts': 'brokers/ (being rewritten for issue 13 item 3); kube/index.ts exports it',
  'cli/cel-vars.ts -> policy-engine/suite/yaml-input.ts': 'policy-engine/suite has no front door yet (the CEL helper\'s folder)',
  'cli/program.ts -> policy-engine/suite/runner.ts': 'the same',
  // admission/index.ts also exports the HTTPS server, which loads @kubernetes/client-node
  // (over a second): `kidp validate` imports the webhook's decision functions directly so it
  // starts in a fifth of that (issue 16 item 1). A light front door (admission/offline.ts,
  // the decision functions only) belongs to admission's owner; then these lines go.
  'cli/validate.ts -> admission/memory-view.ts': 'admission/index.ts loads the webhook server and client-node (start-up)',
  'cli/validate.ts -> admission/mutate.ts': 'the same',
  'cli/validate.ts -> admission/policy-store.ts': 'the same',
  'cli/validate.ts -> admission/validate.ts': 'the same',
  'cli/validate.ts -> admission/webhook-config.ts': 'the same',
  'cli/validate.ts -> admission/decision.ts': 'the same (types)',
  'cli/validate.ts -> admission/review.ts': 'the same (types)',
  'cli/validate.ts -> policy-engine/suite/yaml-input.ts': 'the same',
  'cli/precompiled-yaml.ts -> policy-engine/suite/yaml-input.ts': 'the same',
  'policies/library.test.ts -> policy-engine/suite/runner.ts': 'the same',
  'cli/validate.ts -> policy-engine/policy/request.ts': 'syntheticRequest is not in policy/index.ts (policy-engine/policy is the CEL helper\'s)',
  'reports/audit.ts -> policy-engine/policy/request.ts': 'the same',
  'reports/request-dependence.ts -> policy-engine/cel/parse/ast.ts': 'the CEL parser is not in cel/index.ts (the CEL helper\'s)',
  'reports/request-dependence.ts -> policy-engine/cel/parse/parser.ts': 'the same',
  'errors/catalogue.test.ts -> policy-engine/cel/errors.ts': 'the catalogue lists every folder\'s error classes, which live in each errors.ts',
  'errors/catalogue.ts -> admission/review.ts': 'the same (admission\'s decode error class)',
  'errors/catalogue.ts -> brokers/errors.ts': 'the same',
  'errors/catalogue.ts -> certs/errors.ts': 'the same',
  'errors/catalogue.ts -> controllers/errors.ts': 'the same',
  'errors/catalogue.ts -> crds/errors.ts': 'the same',
  'errors/catalogue.ts -> policy-engine/cel/errors.ts': 'the same',
  'errors/catalogue.ts -> policy-engine/policy/errors.ts': 'the same',
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' || name === 'testdata' ? [] : sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Every `from -> to` import that crosses into another folder other than through its entries. */
function crossings(): string[] {
  const out = new Set<string>();
  for (const folder of FOLDERS) {
    for (const file of sources(join(root, folder))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:(?:import|export)\s[^;]*?from\s+|import\()'(\.{1,2}\/[^']+)'/g)) {
        const target = relative(root, normalize(join(dirname(file), m[1] as string))).split(sep).join('/');
        const [top, ...rest] = target.split('/');
        if (top === undefined || top === folder || !FOLDERS.includes(top)) continue;
        const inner = rest.join('/').replace(/\.js$/, '.ts');
        if ((ENTRIES[top] ?? ['index.ts']).includes(inner)) continue;
        out.add(`${relative(root, file).split(sep).join('/')} -> ${top}/${inner}`);
      }
    }
  }
  return [...out].sort();
}

describe('folders import each other only through their front doors', () => {
  const found = crossings();

  it('has no import of another folder\'s internals beyond the known ones', () => {
    expect(found.filter((c) => !(c in KNOWN))).toEqual([]);
  });

  it('lists no known crossing that is gone (shrink KNOWN)', () => {
    expect(Object.keys(KNOWN).filter((k) => !found.includes(k))).toEqual([]);
  });

  it('has a front door for every folder it names', () => {
    const missing = FOLDERS.flatMap((f) => (ENTRIES[f] ?? ['index.ts']).map((e) => `${f}/${e}`)).filter((p) => {
      try {
        return !statSync(join(root, p)).isFile();
      } catch {
        return true;
      }
    });
    expect(missing).toEqual([]);
  });
});
