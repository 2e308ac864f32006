import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crdDirectory } from './index.js';
import { generateKinds, generateTypes } from './generate-types.js';

describe('generated from the CRD YAML (run `npm run generate:types`)', () => {
  it('crds/types.ts is what generate-types.ts makes from the YAML today', () => {
    expect(readFileSync(join(crdDirectory(), 'types.ts'), 'utf8')).toBe(generateTypes());
  });

  it('crds/kinds.ts, the registry table, is what generate-types.ts makes from the YAML today', () => {
    expect(readFileSync(join(crdDirectory(), 'kinds.ts'), 'utf8')).toBe(generateKinds());
  });
});
