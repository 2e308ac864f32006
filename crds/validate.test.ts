import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { crdDirectory, loadCrds, validateManifest, schemaForKind } from './index.js';
import { invalidRows, validRows } from './testdata/invalid-manifests.js';

describe('CRD set', () => {
  it('defines every kind of DESIGN.md §3 with status, printer columns and the kidp category', () => {
    const summary = loadCrds()
      .map((c) => ({
        name: c.metadata.name,
        scope: c.spec.scope,
        status: c.spec.versions[0]?.subresources?.status !== undefined,
        columns: (c.spec.versions[0] as { additionalPrinterColumns?: unknown[] }).additionalPrinterColumns?.length ?? 0,
        categories: c.spec.names.categories,
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
    expect(summary.map((s) => [s.name, s.scope])).toEqual([
      ['applications.platform.kidp.io', 'Namespaced'],
      ['caches.platform.kidp.io', 'Namespaced'],
      ['clusterpolicyreports.wgpolicyk8s.io', 'Cluster'],
      ['databases.platform.kidp.io', 'Namespaced'],
      ['deploymenttargets.platform.kidp.io', 'Cluster'],
      ['policies.platform.kidp.io', 'Cluster'],
      ['policyexceptions.platform.kidp.io', 'Namespaced'],
      ['policyreports.wgpolicyk8s.io', 'Namespaced'],
      ['services.platform.kidp.io', 'Namespaced'],
      ['teams.platform.kidp.io', 'Cluster'],
      ['topics.platform.kidp.io', 'Namespaced'],
    ]);
    for (const s of summary) {
      expect(s.columns).toBeGreaterThan(0);
      expect(s.categories).toEqual(['kidp']);
      // PolicyReports carry results at the top level and have no status subresource.
      expect(s.status).toBe(!s.name.includes('policyreports'));
    }
  });

  it('gives every platform kind but Team and DeploymentTarget a required spec.owner', () => {
    const owners: Record<string, unknown> = {};
    for (const kind of ['Team', 'Application', 'Service', 'Database', 'Cache', 'Topic', 'DeploymentTarget']) {
      const spec = schemaForKind(kind)?.properties?.spec;
      owners[kind] = spec?.required?.includes('owner') ? spec.properties?.owner?.properties?.kind?.enum : null;
    }
    expect(owners).toEqual({
      Team: null,
      Application: ['Team'],
      Service: ['Application'],
      Database: ['Application', 'Team'],
      Cache: ['Application', 'Team'],
      Topic: ['Application', 'Team'],
      DeploymentTarget: null,
    });
  });
});

describe('validateManifest (offline, ajv)', () => {
  it('accepts the valid base of every row', () => {
    for (const manifest of validRows) expect(validateManifest(manifest)).toEqual({ valid: true, errors: [] });
  });

  it('accepts every platform manifest in examples/', () => {
    const dir = join(crdDirectory(), '..', 'examples');
    const verdicts: Record<string, unknown> = {};
    // examples/aws/ too: the opt-in `KIDP_AWS=1 make up` applies it.
    const files = [...readdirSync(dir).filter((f) => f.endsWith('.yaml')), ...readdirSync(join(dir, 'aws')).filter((f) => f.endsWith('.yaml')).map((f) => join('aws', f))];
    for (const file of files) {
      for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
        const obj = doc.toJS() as { apiVersion: string; kind: string; metadata: { name: string } };
        if (!obj.apiVersion.includes('kidp.io')) continue;
        verdicts[`${obj.kind}/${obj.metadata.name}`] = validateManifest(obj);
      }
    }
    expect(Object.keys(verdicts).length).toBeGreaterThanOrEqual(9);
    for (const v of Object.values(verdicts)) expect(v).toEqual({ valid: true, errors: [] });
  });

  const schemaRows = invalidRows.filter((r) => !r.cel);
  it.each(invalidRows.map((r) => [r.name, r] as const))('rejects %s, naming the field', (_name, row) => {
    const verdict = validateManifest(row.manifest);
    expect(verdict.valid).toBe(false);
    expect(verdict.errors.map((e) => e.path)).toContain(row.path);
  });

  it('has at least 15 schema rows and 4 CEL rows', () => {
    expect(schemaRows.length).toBeGreaterThanOrEqual(15);
    expect(invalidRows.length - schemaRows.length).toBeGreaterThanOrEqual(4);
  });

  it('names the x-kubernetes-validations rule that failed, with its message', () => {
    const row = invalidRows.find((r) => r.name === 'topic min ISR above replication');
    expect(validateManifest(row?.manifest)).toEqual({
      valid: false,
      errors: [{ path: 'spec.minInSyncReplicas', message: 'Invalid value: minInSyncReplicas must not exceed replicationFactor' }],
    });
    expect(validateManifest(row?.manifest, { celRules: null }).valid).toBe(true);
  });

  it('says what is wrong with a manifest of an unknown kind or no object at all', () => {
    expect(validateManifest({ apiVersion: 'platform.kidp.io/v1alpha1', kind: 'Widget', metadata: { name: 'w' } })).toEqual({
      valid: false,
      errors: [{ path: 'kind', message: 'no KIDP kind Widget in version platform.kidp.io/v1alpha1' }],
    });
    expect(validateManifest('text')).toEqual({ valid: false, errors: [{ path: '', message: 'a manifest must be a YAML/JSON object' }] });
  });

  it('reports required, enum and type errors with apiserver-style messages', () => {
    const verdict = validateManifest({
      apiVersion: 'platform.kidp.io/v1alpha1',
      kind: 'Database',
      metadata: { name: 'db' },
      spec: { owner: { kind: 'Service', name: 'x' }, engine: 'postgresql', version: 16 },
    });
    expect(verdict).toEqual({
      valid: false,
      errors: [
        { path: 'spec.owner.kind', message: 'Unsupported value: supported values: "Application", "Team"' },
        { path: 'spec.version', message: 'Invalid value: must be string' },
      ],
    });
  });
});
