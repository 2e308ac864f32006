// What `npm run build` precompiles must answer exactly as compiling at run time does: every
// valid and invalid row of testdata/, through the standalone validator and through a fresh
// ajv compilation of the same schema, with the same errors; defaulting fills the same
// defaults. And the parsed CRDs are the YAML's, under the hash of the file's text.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { AJV_OPTIONS, PRECOMPILED_CRDS, PRECOMPILED_VALIDATORS, ajvSchemaOf, crdDirectory, loadCrds, parseCrdText, sha256, validatorKey } from './index.js';
import { precompile } from './precompile.js';
import { invalidRows, validRows } from './testdata/invalid-manifests.js';

let out: string;
let built: Record<string, ValidateFunction>;
beforeAll(() => {
  // Inside the checkout, as dist/crds/precompiled/ is: the generated code requires ajv's
  // runtime modules, resolved from where it lies.
  const cache = join(crdDirectory(), '..', 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  out = mkdtempSync(join(cache, 'kidp-precompile-'));
  precompile(out);
  const load = createRequire(import.meta.url);
  built = { ...(load(join(out, PRECOMPILED_VALIDATORS.validate)) as Record<string, ValidateFunction>), ...(load(join(out, PRECOMPILED_VALIDATORS.default)) as Record<string, ValidateFunction>) };
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

function fresh(useDefaults: boolean): Ajv {
  const ajv = new Ajv({ ...AJV_OPTIONS, useDefaults });
  (addFormatsModule as unknown as (a: Ajv) => void)(ajv);
  return ajv;
}

const rows = [...validRows.map((m) => ({ name: `valid ${m.kind}`, manifest: m as unknown as Record<string, unknown> })), ...invalidRows.map((r) => ({ name: r.name, manifest: r.manifest }))];

test.each(rows.map((r) => [r.name, r.manifest] as const))('%s: the same verdict, errors and defaults', (_name, manifest) => {
  const crd = loadCrds().find((c) => c.spec.names.kind === manifest.kind)!;
  const schema = ajvSchemaOf(crd);
  const results = (['validate', 'default'] as const).map((variant) => {
    const pre = built[validatorKey(crd.metadata.name, variant, schema)]!;
    const runtime = fresh(variant === 'default').compile(schema);
    const a = structuredClone(manifest);
    const b = structuredClone(manifest);
    return { precompiled: { valid: pre(a), errors: pre.errors ?? null, object: a }, runtime: { valid: runtime(b), errors: runtime.errors ?? null, object: b } };
  });
  for (const r of results) expect(r.precompiled).toEqual(r.runtime);
});

test('the parsed CRDs of every file, under the SHA-256 of its text', () => {
  const files = JSON.parse(readFileSync(join(out, PRECOMPILED_CRDS), 'utf8')) as Record<string, unknown>;
  const dir = crdDirectory();
  const want = Object.fromEntries(readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => {
    const text = readFileSync(join(dir, f), 'utf8');
    return [sha256(text), parseCrdText(f, text)];
  }));
  expect(files).toEqual(want);
});
