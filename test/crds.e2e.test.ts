// The CRDs on the real apiserver: established, the examples apply, and every invalid
// manifest is rejected naming its field, with ajv giving the same verdict offline.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kubectl, kubectlOk } from './kubectl.js';
import { loadCrds, validateManifest } from '../crds/index.js';
import { invalidRows, validRows } from '../crds/testdata/invalid-manifests.js';

const root = join(fileURLToPath(import.meta.url), '..', '..');

describe('CRDs on the real apiserver', () => {
  afterAll(async () => {
    // The cluster is shared with the other e2e files: the examples' Policies would evaluate their objects.
    await kubectl(['delete', 'policies', 'production-databases-require-backup', 'services-set-resource-limits', '--ignore-not-found']);
  });

  it('are all Established', async () => {
    const list = JSON.parse(await kubectlOk(['get', 'crd', '-l', 'platform.kidp.io/managed-by=kidp', '-o', 'json'])) as {
      items: { metadata: { name: string }; status: { conditions: { type: string; status: string }[] } }[];
    };
    const established = Object.fromEntries(
      list.items.map((c) => [c.metadata.name, c.status.conditions.find((x) => x.type === 'Established')?.status]),
    );
    expect(established).toEqual(Object.fromEntries(loadCrds().map((c) => [c.metadata.name, 'True'])));
  });

  it('accept every example with kubectl apply, and list them under the kidp category', async () => {
    const applied = await kubectlOk(['apply', '-f', join(root, 'examples')]);
    expect(applied.trim().split('\n').length).toBe(12);
    const names = (await kubectlOk(['get', 'kidp', '-A', '-o', 'name'])).trim().split('\n').sort();
    expect(names).toEqual(
      expect.arrayContaining([
        'application.platform.kidp.io/checkout',
        'cache.platform.kidp.io/checkout-sessions',
        'database.platform.kidp.io/checkout-db',
        'database.platform.kidp.io/orders-db',
        'deploymenttarget.platform.kidp.io/local-postgresql',
        'deploymenttarget.platform.kidp.io/local-production',
        'policy.platform.kidp.io/production-databases-require-backup',
        'policy.platform.kidp.io/services-set-resource-limits',
        'service.platform.kidp.io/checkout-api',
        'team.platform.kidp.io/payments',
        'topic.platform.kidp.io/payment-events',
      ]),
    );
  });

  it('accept the valid base of every invalid row (server dry-run)', async () => {
    for (const manifest of validRows) {
      const r = await kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], { input: JSON.stringify(manifest) });
      expect({ kind: manifest.kind, code: r.code, stderr: r.stderr }).toEqual({ kind: manifest.kind, code: 0, stderr: '' });
    }
  });

  it.each(invalidRows.map((r) => [r.name, r] as const))('reject %s naming the field, as ajv does offline', async (_name, row) => {
    const r = await kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], { input: JSON.stringify(row.manifest) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(row.path);
    const offline = validateManifest(row.manifest);
    expect(offline.valid).toBe(false);
    expect(offline.errors.map((e) => e.path)).toContain(row.path);
  });
});
