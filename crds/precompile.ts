// Run by `npm run build` after tsc, as dist/crds/precompile.js: derives from crds/*.yaml what
// every `kidp` process would otherwise redo at start-up (issue 16 item 1), into
// dist/crds/precompiled/: the parsed CRDs of each file (crds.json, keyed by the SHA-256 of
// the file's text) and ajv's standalone validators (validators.cjs, defaulters.cjs, keyed by
// the SHA-256 of the schema compiled). index.ts uses an entry only when its key matches what
// it reads, so the YAML stays the one source of truth: an edit after the build is picked up.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, _ } from 'ajv';
import addFormatsModule from 'ajv-formats';
import standaloneModule from 'ajv/dist/standalone/index.js';
import { AJV_OPTIONS, PRECOMPILED_CRDS, PRECOMPILED_DIR, PRECOMPILED_VALIDATORS, ajvSchemaOf, crdDirectory, parseCrdText, sha256, validatorKey, type CustomResourceDefinition } from './index.js';

// ajv/dist/standalone is CommonJS with its function on `default`.
const standaloneCode = (standaloneModule as unknown as { default: (ajv: Ajv, refs: Record<string, string>) => string }).default;
const addFormats = addFormatsModule as unknown as (a: Ajv) => void;

export function precompile(outDir: string): { files: number; validators: number } {
  const dir = crdDirectory();
  const files: Record<string, CustomResourceDefinition[]> = {};
  const crds: CustomResourceDefinition[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
    const text = readFileSync(join(dir, file), 'utf8');
    const parsed = parseCrdText(file, text);
    files[sha256(text)] = parsed;
    crds.push(...parsed);
  }
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, PRECOMPILED_CRDS), JSON.stringify(files));
  let validators = 0;
  for (const variant of ['validate', 'default'] as const) {
    // The generated code requires ajv-formats' formats by module name, resolved from dist/crds/.
    const ajv = new Ajv({ ...AJV_OPTIONS, useDefaults: variant === 'default', code: { source: true, formats: _`require("ajv-formats/dist/formats").fullFormats` } });
    addFormats(ajv);
    const exports: Record<string, string> = {};
    for (const crd of crds) {
      const schema = ajvSchemaOf(crd);
      const key = validatorKey(crd.metadata.name, variant, schema);
      ajv.addSchema(schema, key);
      exports[key] = key;
      validators += 1;
    }
    writeFileSync(join(outDir, PRECOMPILED_VALIDATORS[variant]), standaloneCode(ajv, exports));
  }
  return { files: Object.keys(files).length, validators };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = join(dirname(fileURLToPath(import.meta.url)), PRECOMPILED_DIR);
  const done = precompile(out);
  process.stdout.write(`crds: precompiled ${done.files} files and ${done.validators} validators into ${out}\n`);
}
