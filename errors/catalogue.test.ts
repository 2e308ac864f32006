import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CelEvalError } from '../policy-engine/cel/errors.js';
import { ERROR_CATALOGUE, kidpErrorCode } from './catalogue.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const FOLDERS = ['admission', 'brokers', 'certs', 'controllers', 'crds', 'policy-engine', 'reports', 'dashboard', 'kube', 'cli'];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') && !path.endsWith('.test.ts') ? [path] : [];
  });
}

/** Every `readonly code = 'X'` (or `code: T = 'X'`) declared by an error class, with its file. */
function declaredCodes(): { code: string; file: string }[] {
  const out: { code: string; file: string }[] = [];
  for (const file of FOLDERS.flatMap((f) => sources(join(root, f)))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/readonly code(?::\s*\w+)?\s*=\s*'([A-Z_]+)'/g)) out.push({ code: m[1] as string, file: relative(root, file) });
  }
  // crds/errors.ts takes its code as a constructor argument: its union is the declaration.
  for (const m of readFileSync(join(root, 'crds/errors.ts'), 'utf8').matchAll(/'(KIDP_[A-Z_]+)'/g)) out.push({ code: m[1] as string, file: 'crds/errors.ts' });
  return out;
}

describe('the error catalogue', () => {
  const declared = declaredCodes();

  it('lists every code an error class declares, each under the folder that declares it, and no code twice', () => {
    const byCode = new Map<string, Set<string>>();
    for (const { code, file } of declared) byCode.set(code, (byCode.get(code) ?? new Set()).add(file));
    const problems = [...byCode].flatMap(([code, files]) => {
      const entry = (ERROR_CATALOGUE as Record<string, { folder: string } | undefined>)[code];
      if (!entry) return [`${code}: not in errors/catalogue.ts`];
      if (files.size > 1) return [`${code}: declared in ${[...files].join(', ')}`];
      const file = [...files][0] as string;
      return file.startsWith(`${entry.folder}/`) ? [] : [`${code}: declared in ${file}, catalogued under ${entry.folder}`];
    });
    expect(problems).toEqual([]);
  });

  it('has no entry that no class declares', () => {
    const codes = new Set(declared.map((d) => d.code));
    expect(Object.keys(ERROR_CATALOGUE).filter((c) => !codes.has(c))).toEqual([]);
  });

  it("gives a catalogued error's code and nothing for other errors", () => {
    expect({ cel: kidpErrorCode(new CelEvalError('no such key: x')), plain: kidpErrorCode(new Error('x')), odd: kidpErrorCode({ code: 'ENOENT' }), none: kidpErrorCode(undefined) }).toEqual({
      cel: 'CEL_EVAL',
      plain: undefined,
      odd: undefined,
      none: undefined,
    });
  });
});
