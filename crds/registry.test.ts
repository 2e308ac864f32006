// The registry against the YAML it is derived from, and the facts the rest of KIDP relies on.
import { loadCrds, schemaForKind } from './index.js';
import {
  ALLOWED_OWNERS,
  CLEANUP_FINALIZER,
  DEPLOYABLE_KINDS,
  DEPLOYABLE_PLURALS,
  KINDS,
  LABELS,
  MANAGED_BY_VALUE,
  OWNED_KINDS,
  PLATFORM_API_VERSION,
  PLATFORM_KINDS,
  REPORTS_API_VERSION,
  TENANT_KINDS,
  findKind,
  findPlural,
} from './registry.js';

describe('crds/registry.ts', () => {
  it('has one row per CRD, with its group, version, plural, scope and short names', () => {
    const fromYaml = loadCrds()
      .map((c) => ({ kind: c.spec.names.kind, group: c.spec.group, version: c.spec.versions.find((v) => v.storage)?.name, plural: c.spec.names.plural, scope: c.spec.scope, shortNames: c.spec.names.shortNames ?? [] }))
      .sort((a, b) => a.kind.localeCompare(b.kind));
    const fromTable = KINDS.map((k) => ({ kind: k.kind, group: k.group, version: k.version, plural: k.plural, scope: k.scope, shortNames: k.shortNames })).sort((a, b) => a.kind.localeCompare(b.kind));
    expect(fromTable).toEqual(fromYaml);
  });

  it('states the API of DESIGN §3: two groups, four deployable kinds, the ownership tree', () => {
    expect({
      apiVersions: [PLATFORM_API_VERSION, REPORTS_API_VERSION],
      platform: PLATFORM_KINDS.map((k) => k.kind),
      deployable: DEPLOYABLE_KINDS,
      plurals: DEPLOYABLE_PLURALS,
      owned: OWNED_KINDS,
      owners: ALLOWED_OWNERS,
      tenant: TENANT_KINDS.map((k) => k.kind),
      finalizer: CLEANUP_FINALIZER,
    }).toEqual({
      apiVersions: ['platform.kidp.io/v1alpha1', 'wgpolicyk8s.io/v1alpha2'],
      platform: ['Team', 'Application', 'Service', 'Database', 'Cache', 'Topic', 'DeploymentTarget', 'Policy', 'PolicyException'],
      deployable: ['Service', 'Database', 'Cache', 'Topic'],
      plurals: { Service: 'services', Database: 'databases', Cache: 'caches', Topic: 'topics' },
      owned: ['Application', 'Service', 'Database', 'Cache', 'Topic'],
      owners: { Application: ['Team'], Service: ['Application'], Database: ['Application', 'Team'], Cache: ['Application', 'Team'], Topic: ['Application', 'Team'] },
      tenant: ['Team', 'Application', 'Service', 'Database', 'Cache', 'Topic'],
      finalizer: 'platform.kidp.io/cleanup',
    });
  });

  it('gives every deployable kind the one cleanup finalizer and the fields the controllers write', () => {
    for (const kind of DEPLOYABLE_KINDS) {
      const schema = schemaForKind(kind);
      expect({ kind, finalizer: findKind(kind)?.finalizer, target: schema?.properties?.spec?.properties?.target?.type, requestId: schema?.properties?.status?.properties?.requestId?.type }).toEqual({
        kind,
        finalizer: CLEANUP_FINALIZER,
        target: 'string',
        requestId: 'string',
      });
    }
    expect(KINDS.filter((k) => !k.deployable && k.finalizer !== null)).toEqual([]);
  });

  it('names only kinds it knows as owners, and owners that are not deployable', () => {
    const owners = [...new Set(KINDS.flatMap((k) => k.owners))];
    expect(owners.filter((o) => findKind(o)?.deployable !== false)).toEqual([]);
  });

  it('labels every CRD managed-by kidp, as KIDP labels what it creates', () => {
    expect(loadCrds().filter((c) => c.metadata.labels?.[LABELS.managedBy] !== MANAGED_BY_VALUE).map((c) => c.metadata.name)).toEqual([]);
  });

  it('finds kinds by Kind and by plural, within a group', () => {
    expect([findKind('Database')?.plural, findPlural('databases')?.kind, findKind('PolicyReport', 'wgpolicyk8s.io')?.plural, findKind('PolicyReport'), findKind('Pod')]).toEqual([
      'databases',
      'Database',
      'policyreports',
      undefined,
      undefined,
    ]);
  });
});
