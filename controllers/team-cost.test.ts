// Team.status.cost from the resources' status.usage, as whole action lists.
import type { Team } from '../crds/types.js';
import type { Deployable } from './deployable.js';
import { costChanged, reconcileTeamCost } from './team-cost.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const BEFORE = '2026-03-01T11:00:00.000Z';
const ref = { apiVersion: 'platform.kidp.io/v1alpha1', kind: 'Team', plural: 'teams', name: 'payments', uid: 'team-uid' };

function team(status?: Team['status']): Team {
  const t: Team = {
    apiVersion: 'platform.kidp.io/v1alpha1',
    kind: 'Team',
    metadata: { name: 'payments', uid: 'team-uid', generation: 1, resourceVersion: '7' },
    spec: { displayName: 'Payments', costCenter: 'CC-1042', members: [{ kind: 'Group', name: 'payments-developers' }], namespaces: ['payments'] },
  };
  if (status) t.status = status;
  return t;
}

function resource(kind: Deployable['kind'], namespace: string, name: string, usage?: { priceClass: string; sizeGiB?: number; hours: number; hourlyRate: number; cost: number }, labels: Record<string, string> = {}): Deployable {
  return { apiVersion: 'platform.kidp.io/v1alpha1', kind, metadata: { name, namespace, uid: `${name}-uid`, labels }, spec: { owner: { kind: 'Team', name: 'payments' } }, ...(usage ? { status: { phase: 'Ready', usage } } : {}) } as unknown as Deployable;
}

const ledger = resource('Database', 'payments', 'ledger', { priceClass: 'db.t3.micro', sizeGiB: 20, hours: 10, hourlyRate: 0.02116, cost: 0.2116 });
const sessions = resource('Cache', 'payments', 'sessions', { priceClass: 'redis-shared', hours: 5, hourlyRate: 0.004, cost: 0.02 });
const cost = (computedAt: string): NonNullable<NonNullable<Team['status']>['cost']> => ({
  currency: 'USD' as const,
  total: 0.2316,
  computedAt,
  byCostCenter: [{ costCenter: 'CC-1042', total: 0.2316, resources: 2 }],
  resources: [
    { kind: 'Cache', namespace: 'payments', name: 'sessions', priceClass: 'redis-shared', hours: 5, cost: 0.02 },
    { kind: 'Database', namespace: 'payments', name: 'ledger', priceClass: 'db.t3.micro', hours: 10, cost: 0.2116 },
  ],
});

describe('reconcileTeamCost', () => {
  it.each([
    {
      name: "sums its namespaces' usage and its labelled resources elsewhere, under the team's cost center; not another team's, not a resource without usage",
      team: team({ phase: 'Ready' }),
      resources: [
        resource('Database', 'payments', 'ledger', { priceClass: 'db.t3.micro', sizeGiB: 20, hours: 10, hourlyRate: 0.02116, cost: 0.2116 }),
        resource('Cache', 'shared', 'sessions', { priceClass: 'redis-shared', hours: 5, hourlyRate: 0.004, cost: 0.02 }, { 'platform.kidp.io/team': 'payments' }),
        resource('Cache', 'shared', 'other', { priceClass: 'redis-shared', hours: 99, hourlyRate: 0.004, cost: 0.396 }, { 'platform.kidp.io/team': 'search' }),
        resource('Database', 'search', 'index', { priceClass: 'db.t3.micro', hours: 99, hourlyRate: 0.018, cost: 1.782 }),
        resource('Service', 'payments', 'api'),
      ],
      expected: [{
        type: 'status', ref, resourceVersion: '7',
        status: { phase: 'Ready', cost: { currency: 'USD', total: 0.2316, computedAt: NOW.toISOString(), byCostCenter: [{ costCenter: 'CC-1042', total: 0.2316, resources: 2 }], resources: [
          { kind: 'Cache', namespace: 'shared', name: 'sessions', priceClass: 'redis-shared', hours: 5, cost: 0.02 },
          { kind: 'Database', namespace: 'payments', name: 'ledger', priceClass: 'db.t3.micro', hours: 10, cost: 0.2116 },
        ] } },
      }],
    },
    { name: 'the same figures: no write, computedAt kept', team: team({ phase: 'Ready', cost: cost(BEFORE) }), resources: [ledger, sessions], expected: [] },
    { name: 'no usage anywhere and no cost before: no write', team: team({ phase: 'Ready' }), resources: [resource('Service', 'payments', 'api')], expected: [] },
    {
      name: 'more hours: the new figures with a new computedAt',
      team: team({ phase: 'Ready', cost: cost(BEFORE) }),
      resources: [ledger, resource('Cache', 'payments', 'sessions', { priceClass: 'redis-shared', hours: 6, hourlyRate: 0.004, cost: 0.024 })],
      expected: [{ type: 'status', ref, resourceVersion: '7', status: { phase: 'Ready', cost: { ...cost(NOW.toISOString()), total: 0.2356, byCostCenter: [{ costCenter: 'CC-1042', total: 0.2356, resources: 2 }], resources: [{ ...cost('').resources[0], hours: 6, cost: 0.024 }, cost('').resources[1]] } } }],
    },
    {
      name: 'the last resource gone: zero, written once',
      team: team({ phase: 'Ready', cost: cost(BEFORE) }),
      resources: [{ ...ledger, metadata: { ...ledger.metadata, deletionTimestamp: '2026-03-01T11:59:00Z' } } as Deployable],
      expected: [{ type: 'status', ref, resourceVersion: '7', status: { phase: 'Ready', cost: { currency: 'USD', total: 0, computedAt: NOW.toISOString(), byCostCenter: [], resources: [] } } }],
    },
    {
      name: "a resource's cost-center label, else its namespace's, else the Team's: one entry per cost center",
      team: team({ phase: 'Ready' }),
      resources: [
        ledger,
        resource('Cache', 'payments', 'sessions', { priceClass: 'redis-shared', hours: 5, hourlyRate: 0.004, cost: 0.02 }, { 'cost-center': 'CC-7001' }),
        resource('Topic', 'payments-eu', 'events', { priceClass: 'kafka-shared', hours: 10, hourlyRate: 0.003, cost: 0.03 }, { 'platform.kidp.io/team': 'payments' }),
      ],
      namespaceLabels: new Map([['payments-eu', { 'cost-center': 'CC-2002' }]]),
      expected: [{
        type: 'status', ref, resourceVersion: '7',
        status: { phase: 'Ready', cost: { currency: 'USD', total: 0.2616, computedAt: NOW.toISOString(), byCostCenter: [{ costCenter: 'CC-1042', total: 0.2116, resources: 1 }, { costCenter: 'CC-2002', total: 0.03, resources: 1 }, { costCenter: 'CC-7001', total: 0.02, resources: 1 }], resources: [
          { kind: 'Cache', namespace: 'payments', name: 'sessions', priceClass: 'redis-shared', hours: 5, cost: 0.02 },
          { kind: 'Database', namespace: 'payments', name: 'ledger', priceClass: 'db.t3.micro', hours: 10, cost: 0.2116 },
          { kind: 'Topic', namespace: 'payments-eu', name: 'events', priceClass: 'kafka-shared', hours: 10, cost: 0.03 },
        ] } },
      }],
    },
  ])('$name', ({ team: t, resources, expected, ...rest }) => {
    const namespaceLabels = (rest as { namespaceLabels?: Map<string, Record<string, string>> }).namespaceLabels;
    expect(reconcileTeamCost({ team: t, resources, ...(namespaceLabels ? { namespaceLabels } : {}), now: NOW })).toEqual(expected);
  });
});

describe('costChanged', () => {
  const shown = team({ cost: cost(BEFORE) });
  it.each([
    ['the figures the team shows', ledger, false],
    ['more hours', resource('Database', 'payments', 'ledger', { priceClass: 'db.t3.micro', sizeGiB: 20, hours: 11, hourlyRate: 0.02116, cost: 0.23276 }), true],
    ['a resource the team does not show yet', resource('Topic', 'payments', 'events', { priceClass: 'kafka-shared', hours: 1, hourlyRate: 0.003, cost: 0.003 }), true],
    ['a resource without usage the team does not show', resource('Service', 'payments', 'api'), false],
    ['a shown resource being deleted', { ...ledger, metadata: { ...ledger.metadata, deletionTimestamp: '2026-03-01T11:59:00Z' } } as Deployable, true],
  ] as const)('%s: %s', (_name, r, expected) => {
    expect(costChanged(shown, r)).toBe(expected);
  });
});
