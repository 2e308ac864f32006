// A Team's cost (issue 15 item 6, the seeds' chargeback): the sum of what its resources'
// brokers reported in status.usage, by cost center, in Team.status.cost. Pure: (team, the
// deployables of the cluster, now) → at most one status write, and only when a figure
// changed; computedAt moves with the figures, so an unchanged bill is never rewritten.
//
// Cost center: the `cost-center` label, which the built-in policy cost-center-label asks of
// Namespaces and Teams (policies/cost-center-label): the resource's own label if it has one,
// else its namespace's, else the Team's spec.costCenter. The CRDs define no other.
import { kindInfo, LABELS } from '../crds/registry.js';
import type { Team } from '../crds/types.js';
import { sameJson } from '../kube/index.js';
import type { Action } from './actions.js';
import type { Deployable } from './deployable.js';

const TEAM = kindInfo('Team');
/** The label policies/cost-center-label asks for; a resource or namespace carrying it is charged there. */
export const COST_CENTER_LABEL = 'cost-center';

export type TeamCost = NonNullable<NonNullable<Team['status']>['cost']>;
type Usage = { priceClass: string; sizeGiB?: number; hours: number; hourlyRate: number; cost: number };

/** USD to a millionth: the brokers' own precision (brokers/usage.ts), so sums do not drift in the last float bits. */
const money = (v: number) => Math.round(v * 1e6) / 1e6;

/** The resources a team pays for: those in its namespaces, and those labelled for it elsewhere (its shared namespaces). */
export function teamResources(team: Team, resources: readonly Deployable[]): Deployable[] {
  const name = team.metadata.name ?? '';
  const namespaces = new Set(team.spec.namespaces ?? []);
  return resources.filter((r) => namespaces.has(r.metadata.namespace ?? '') || r.metadata.labels?.[LABELS.team] === name);
}

/** The cost figures, without computedAt; undefined when no resource of the team reports usage and none did before. */
export function costFigures(team: Team, resources: readonly Deployable[], namespaceLabels: ReadonlyMap<string, Readonly<Record<string, string>>> = new Map()): Omit<TeamCost, 'computedAt'> {
  const centerOf = (r: Deployable) => r.metadata.labels?.[COST_CENTER_LABEL] || namespaceLabels.get(r.metadata.namespace ?? '')?.[COST_CENTER_LABEL] || team.spec.costCenter;
  const charged = teamResources(team, resources)
    .map((r) => ({ r, usage: (r.status as { usage?: Usage } | undefined)?.usage }))
    .filter((x): x is { r: Deployable; usage: Usage } => x.usage !== undefined && !x.r.metadata.deletionTimestamp)
    .map(({ r, usage }) => ({ center: centerOf(r), row: { kind: r.kind, namespace: r.metadata.namespace ?? '', name: r.metadata.name ?? '', priceClass: usage.priceClass, hours: usage.hours, cost: money(usage.cost) } }))
    .sort((a, b) => (a.row.kind + '/' + a.row.namespace + '/' + a.row.name < b.row.kind + '/' + b.row.namespace + '/' + b.row.name ? -1 : 1));
  const centers = new Map<string, { costCenter: string; total: number; resources: number }>();
  for (const { center, row } of charged) {
    const c = centers.get(center) ?? { costCenter: center, total: 0, resources: 0 };
    c.total = money(c.total + row.cost);
    c.resources += 1;
    centers.set(center, c);
  }
  const rows = charged.map((c) => c.row);
  const total = money(rows.reduce((sum, row) => sum + row.cost, 0));
  return { currency: 'USD', total, byCostCenter: [...centers.values()].sort((a, b) => (a.costCenter < b.costCenter ? -1 : a.costCenter > b.costCenter ? 1 : 0)), resources: rows };
}

/** The status write that brings Team.status.cost to the figures, or nothing when they are what status says already. */
export function reconcileTeamCost(input: { team: Team; resources: readonly Deployable[]; namespaceLabels?: ReadonlyMap<string, Readonly<Record<string, string>>>; now: Date }): Action[] {
  const { team, now } = input;
  const old = team.status ?? {};
  const figures = costFigures(team, input.resources, input.namespaceLabels);
  if (!old.cost && figures.resources.length === 0) return [];
  if (old.cost) {
    const { computedAt: _at, ...was } = old.cost;
    if (sameJson(was, figures)) return [];
  }
  const cost: TeamCost = { ...figures, computedAt: now.toISOString() };
  return [
    {
      type: 'status',
      ref: { apiVersion: TEAM.apiVersion, kind: TEAM.kind, plural: TEAM.plural, name: team.metadata.name ?? '', uid: team.metadata.uid ?? '' },
      resourceVersion: team.metadata.resourceVersion ?? '',
      status: { ...old, cost },
    },
  ];
}

/** Whether a resource's usage differs from what its Team's status says (so the Team needs recosting): the informer's filter. */
export function costChanged(team: Team, resource: Deployable): boolean {
  const usage = (resource.status as { usage?: Usage } | undefined)?.usage;
  const row = team.status?.cost?.resources.find((x) => x.kind === resource.kind && x.namespace === resource.metadata.namespace && x.name === resource.metadata.name);
  const gone = Boolean(resource.metadata.deletionTimestamp);
  if (!row) return usage !== undefined && !gone;
  return gone || !usage || row.hours !== usage.hours || row.cost !== money(usage.cost) || row.priceClass !== usage.priceClass;
}
