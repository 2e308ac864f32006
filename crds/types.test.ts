import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crdDirectory } from './index.js';
import { generateTypes } from './generate-types.js';

describe('crds/types.ts', () => {
  it('is what generate-types.ts makes from the YAML today (run `npm run generate:types`)', () => {
    expect(readFileSync(join(crdDirectory(), 'types.ts'), 'utf8')).toBe(generateTypes());
  });
});
