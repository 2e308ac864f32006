import { readFileSync } from 'node:fs';
import { teamRolesManifest, teamRolesPath } from './deploy-roles.js';

describe('deploy/team-roles.yaml', () => {
  it('is what controllers/rbac.ts generates', () => {
    const fresh = readFileSync(teamRolesPath(), 'utf8') === teamRolesManifest();
    expect(fresh ? 'fresh' : 'deploy/team-roles.yaml is stale: run npm run generate:deploy and commit the result').toBe('fresh');
  });
});
