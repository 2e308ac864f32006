import { checksFor, checkKey, costOf, PortalModel, selectorsOf, type AccessCheck, type PortalObject, type Snapshot } from './portal-model.js';
import { applicationHtml, graphSvg, resourceHtml, teamHtml } from './portal-render.js';

const V = 'platform.kidp.io/v1alpha1';
const obj = (kind: string, name: string, namespace: string | undefined, spec: Record<string, unknown>, extra: Partial<PortalObject> = {}): PortalObject => ({
  apiVersion: V,
  kind,
  metadata: { name, ...(namespace ? { namespace } : {}), uid: `${kind}-${name}`, labels: {}, ...extra.metadata },
  spec,
  ...(extra.status ? { status: extra.status } : {}),
});
const cost = { currency: 'USD', total: 12.5, computedAt: '2026-12-04T20:00:00Z', byCostCenter: [{ costCenter: 'CC-1042', total: 12.5, resources: 2 }], resources: [{ kind: 'Database', namespace: 'pay', name: 'ledger', priceClass: 'db.small', hours: 10, cost: 10 }, { kind: 'Service', namespace: 'pay', name: 'api', priceClass: 'svc.small', hours: 10, cost: 2.5 }] };

function snapshot(): Snapshot {
  const app = (name: string, ns: string, team: string) => obj('Application', name, ns, { owner: { kind: 'Team', name: team } });
  return {
    objects: {
      Team: [obj('Team', 'payments', undefined, { displayName: 'Payments', costCenter: 'CC-1042', members: [{ kind: 'User', name: 'ann' }], namespaces: ['pay'] }, { status: { phase: 'Ready', cost } }), obj('Team', 'search', undefined, { displayName: 'Search', costCenter: 'CC-2000', members: [], namespaces: ['search'] })],
      Application: [app('checkout', 'pay', 'payments'), app('index', 'search', 'search')],
      Service: [
        obj('Service', 'api', 'pay', { owner: { kind: 'Application', name: 'checkout' }, image: 'x', dependencies: { databaseSelector: { matchLabels: { db: 'ledger' } } } }, { status: { phase: 'Ready', conditions: [{ type: 'Ready', status: 'True', reason: 'Deployed', message: 'up', lastTransitionTime: 't0' }] } }),
        obj('Service', 'lost', 'pay', { owner: { kind: 'Application', name: 'checkout' }, image: 'x', dependencies: { databaseSelector: { matchLabels: { db: 'gone' } } } }),
        obj('Service', 'crawler', 'search', { owner: { kind: 'Application', name: 'index' }, image: 'x', dependencies: { databaseSelector: { matchLabels: { db: 'ledger' } } } }),
      ],
      Database: [obj('Database', 'ledger', 'pay', { owner: { kind: 'Application', name: 'checkout' }, engine: 'postgresql' }, { metadata: { name: 'ledger', labels: { db: 'ledger' } } }), obj('Database', 'ledger', 'search', { owner: { kind: 'Team', name: 'search' }, engine: 'postgresql' }, { metadata: { name: 'ledger', labels: { db: 'ledger' } } })],
      Cache: [],
      Topic: [obj('Topic', 'audit', 'pay', { owner: { kind: 'Team', name: 'payments' } })],
    },
    reports: [
      { metadata: { namespace: 'pay' }, results: [{ source: 'kidp', policy: 'p', rule: 'backup', result: 'fail', severity: 'high', message: 'ledger must back up', scored: true, timestamp: { seconds: 0, nanos: 0 }, resources: [{ apiVersion: V, kind: 'Database', name: 'ledger', namespace: 'pay' }] }, { source: 'kidp', policy: 'p', rule: 'core', result: 'fail', message: 'a core Service', scored: true, timestamp: { seconds: 0, nanos: 0 }, resources: [{ apiVersion: 'v1', kind: 'Service', name: 'api', namespace: 'pay' }] }] },
      { metadata: { namespace: 'search' }, results: [{ source: 'kidp', policy: 'p', rule: 'backup', result: 'fail', message: 'search ledger', scored: true, timestamp: { seconds: 0, nanos: 0 }, resources: [{ apiVersion: V, kind: 'Database', name: 'ledger', namespace: 'search' }] }] },
    ],
    clusterReports: [],
    events: [
      { metadata: { name: 'e1', namespace: 'pay' }, involvedObject: { apiVersion: V, kind: 'Service', name: 'api', namespace: 'pay' }, type: 'Normal', reason: 'Deployed', message: 'older', lastTimestamp: '2026-12-01T00:00:00Z', count: 1 },
      { metadata: { name: 'e2', namespace: 'pay' }, involvedObject: { apiVersion: V, kind: 'Service', name: 'api', namespace: 'pay' }, type: 'Warning', reason: 'Retry', message: 'newer', lastTimestamp: '2026-12-02T00:00:00Z', count: 3 },
      { metadata: { name: 'e3', namespace: 'pay' }, involvedObject: { apiVersion: 'v1', kind: 'Service', name: 'api', namespace: 'pay' }, type: 'Normal', reason: 'Core', message: 'a core Service', lastTimestamp: '2026-12-03T00:00:00Z' },
    ],
  };
}

/** A user with `list` in the given namespaces and `get` on the given Teams. */
const user = (namespaces: string[], teams: string[] = []) => (c: AccessCheck) => (c.verb === 'list' && c.namespace !== undefined && namespaces.includes(c.namespace)) || (c.verb === 'get' && c.resource === 'teams' && teams.includes(c.name ?? ''));

describe('PortalModel', () => {
  it('asks one check per Team and per (namespace, kind, reports, events) in use', () => {
    expect(checksFor(snapshot()).map(checkKey).sort()).toEqual([
      'get platform.kidp.io/teams  payments',
      'get platform.kidp.io/teams  search',
      'list /events pay ',
      'list /events search ',
      'list platform.kidp.io/applications pay ',
      'list platform.kidp.io/applications search ',
      'list platform.kidp.io/databases pay ',
      'list platform.kidp.io/databases search ',
      'list platform.kidp.io/services pay ',
      'list platform.kidp.io/services search ',
      'list platform.kidp.io/topics pay ',
      'list wgpolicyk8s.io/clusterpolicyreports  ',
      'list wgpolicyk8s.io/policyreports pay ',
      'list wgpolicyk8s.io/policyreports search ',
    ]);
  });

  it('shows a user the Teams they may read or whose Applications they may list, and nothing else', () => {
    expect(new PortalModel(snapshot(), user(['pay'], ['payments'])).teams()).toEqual([{ name: 'payments', readable: true, displayName: 'Payments', costCenter: 'CC-1042', phase: 'Ready', applications: 1, resources: 4, failing: 1 }]);
    expect(new PortalModel(snapshot(), user(['search'])).teams()).toEqual([{ name: 'search', readable: false, displayName: '', costCenter: '', phase: '', applications: 1, resources: 2, failing: 1 }]);
    expect(new PortalModel(snapshot(), user([])).teams()).toEqual([]);
    // A Team readable by name, with nothing listable: shown, empty.
    expect(new PortalModel(snapshot(), user([], ['search'])).team('search')?.applications).toEqual([]);
    const other = new PortalModel(snapshot(), user(['search']));
    expect([other.team('payments'), other.application('pay', 'checkout'), other.resource('Database', 'pay', 'ledger')]).toEqual([undefined, undefined, undefined]);
  });

  it('builds a resource with its owner chain, connections both ways, policy results of KIDP kinds only, and events newest first', () => {
    const m = new PortalModel(snapshot(), user(['pay'], ['payments']));
    expect(m.resource('Service', 'pay', 'api')).toEqual({
      ref: { kind: 'Service', namespace: 'pay', name: 'api' },
      phase: 'Ready',
      conditions: [{ type: 'Ready', status: 'True', reason: 'Deployed', message: 'up', lastTransitionTime: 't0' }],
      ownerChain: [{ kind: 'Team', name: 'payments' }, { kind: 'Application', namespace: 'pay', name: 'checkout' }],
      labels: {},
      annotations: {},
      policy: [],
      events: [
        { time: '2026-12-02T00:00:00Z', type: 'Warning', reason: 'Retry', message: 'newer', count: 3 },
        { time: '2026-12-01T00:00:00Z', type: 'Normal', reason: 'Deployed', message: 'older', count: 1 },
      ],
      connections: [{ field: 'spec.dependencies.databaseSelector', from: { kind: 'Service', namespace: 'pay', name: 'api' }, to: { kind: 'Database', namespace: 'pay', name: 'ledger' }, phase: 'Unknown' }],
      unmatched: [],
      spec: { image: 'x', dependencies: { databaseSelector: { matchLabels: { db: 'ledger' } } } },
    });
    // The selected Database: only selectors of its own namespace pick it (search/crawler does not).
    const db = m.resource('Database', 'pay', 'ledger')!;
    expect([db.connections, db.policy]).toEqual([
      [{ field: 'spec.dependencies.databaseSelector', from: { kind: 'Service', namespace: 'pay', name: 'api' }, to: { kind: 'Database', namespace: 'pay', name: 'ledger' }, phase: 'Unknown' }],
      [{ policy: 'p', rule: 'backup', result: 'fail', severity: 'high', message: 'ledger must back up' }],
    ]);
    expect(m.resource('Service', 'pay', 'lost')!.unmatched).toEqual(['spec.dependencies.databaseSelector: {"db":"gone"}']);
    const app = m.application('pay', 'checkout')!;
    expect({ services: app.children.Service.map((s) => s.ref.name), databases: app.children.Database.map((s) => s.ref.name), nodes: app.graph.nodes.length, edges: app.graph.edges.length }).toEqual({ services: ['api', 'lost'], databases: ['ledger'], nodes: 3, edges: 1 });
    expect(m.team('payments')!.direct.map((d) => d.ref)).toEqual([{ kind: 'Topic', namespace: 'pay', name: 'audit' }]);
  });

  it('hides reports and events where the user may not list them', () => {
    const objectsOnly = (c: AccessCheck) => c.verb === 'list' && c.namespace === 'pay' && c.group === 'platform.kidp.io';
    const r = new PortalModel(snapshot(), objectsOnly).resource('Service', 'pay', 'api')!;
    expect([r.policy, r.events]).toEqual(['hidden', 'hidden']);
  });

  it('reads spec.dependencies.<kind>Selector for every deployable kind the registry knows', () => {
    expect(selectorsOf(obj('Service', 's', 'n', { dependencies: { databaseSelector: { matchLabels: { a: 'b' } }, cacheSelector: { matchLabels: { c: 'd' } }, fooSelector: { matchLabels: {} } } }))).toEqual([
      { field: 'spec.dependencies.databaseSelector', kind: 'Database', matchLabels: { a: 'b' } },
      { field: 'spec.dependencies.cacheSelector', kind: 'Cache', matchLabels: { c: 'd' } },
    ]);
  });
});

describe('portal pages', () => {
  it('shows a team cost when status.cost is there, and says so when it is not', () => {
    const m = new PortalModel(snapshot(), user(['pay', 'search'], ['payments', 'search']));
    const withCost = teamHtml(m.team('payments')!);
    expect(m.team('payments')!.cost).toEqual(costOf(snapshot().objects.Team[0]!));
    expect(withCost).toContain('<span class="big" data-testid="cost-total">USD 12.50</span>');
    expect(withCost).toContain('<tr><td>CC-1042</td><td class="num">2</td><td class="num">USD 12.50</td></tr>');
    // Most expensive first.
    expect(withCost.indexOf('ledger')).toBeLessThan(withCost.indexOf('svc.small'));
    expect(teamHtml(m.team('search')!)).toContain('<p data-testid="cost">No usage reported.</p>');
  });

  it('escapes every tenant-written string, in tables and in the SVG', () => {
    const x = '<script>alert(1)</script>"\'&';
    const s = snapshot();
    const hostile = obj('Service', 'api', 'pay', { owner: { kind: 'Application', name: 'checkout' }, image: x }, { metadata: { name: 'api', labels: { [x]: x }, annotations: { note: x } }, status: { phase: x, conditions: [{ type: x, status: 'False', reason: x, message: x, lastTransitionTime: x }] } });
    const m = new PortalModel({ ...s, objects: { ...s.objects, Service: [hostile] } }, user(['pay'], ['payments']));
    const pages = [resourceHtml(m.resource('Service', 'pay', 'api')!), applicationHtml(m.application('pay', 'checkout')!), graphSvg([{ ref: { kind: 'Service', namespace: 'pay', name: x }, phase: x, ready: x, failing: 0 }], [])];
    for (const html of pages) {
      expect(html).not.toContain('<script');
      expect(html).not.toContain(`"'&`);
    }
    expect(pages[0]).toContain('&#60;script&#62;alert(1)&#60;/script&#62;&#34;&#39;&#38;');
  });
});
