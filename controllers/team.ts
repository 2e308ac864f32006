// The Team reconciler (issue 5 item 2): pure (team, observed namespaces) → actions.
// Each listed namespace is created if missing and labelled for the team, gets a
// RoleBinding of the members to kidp-team-developer and a ResourceQuota from spec.quota.
// A namespace labelled for another team is never taken over: it is reported instead.
import { kindInfo, LABELS, MANAGED_BY_VALUE } from '../crds/registry.js';
import type { Team } from '../crds/types.js';
import type { Action, ObjectRef } from './actions.js';
import { sameJson, setCondition, type Condition } from '../kube/index.js';
import { TEAM_DEVELOPER_ROLE } from './rbac.js';

export const TEAM_LABEL = LABELS.team;
const MANAGED_BY_LABEL = LABELS.managedBy;
const TEAM = kindInfo('Team');
export const ROLE_BINDING_NAME = 'kidp-team-developers';
export const QUOTA_NAME = 'kidp-team-quota';

export interface ObservedNamespace {
  name: string;
  labels: Record<string, string>;
}

export interface TeamInput {
  team: Team;
  /** Namespaces that exist: those named in spec and those labelled for this team. */
  namespaces: readonly ObservedNamespace[];
  now: Date;
}

function teamRef(team: Team): ObjectRef {
  return { apiVersion: TEAM.apiVersion, kind: TEAM.kind, plural: TEAM.plural, name: team.metadata.name ?? '', uid: team.metadata.uid ?? '' };
}

/** Cluster-scoped owners may own namespaced objects: with a garbage collector these go with the Team. */
function ownerReference(team: Team) {
  return [{ apiVersion: TEAM.apiVersion, kind: TEAM.kind, name: team.metadata.name ?? '', uid: team.metadata.uid ?? '', controller: true, blockOwnerDeletion: false }];
}

function quotaHard(quota: NonNullable<Team['spec']['quota']>): Record<string, string> {
  const hard: Record<string, string> = {};
  if (quota.cpu !== undefined) hard['requests.cpu'] = String(quota.cpu);
  if (quota.memory !== undefined) hard['requests.memory'] = String(quota.memory);
  if (quota.pods !== undefined) hard.pods = String(quota.pods);
  if (quota.services !== undefined) hard.services = String(quota.services);
  return hard;
}

export function reconcileTeam(input: TeamInput): Action[] {
  const { team, now } = input;
  const name = team.metadata.name ?? '';
  const labels = { [TEAM_LABEL]: name, [MANAGED_BY_LABEL]: MANAGED_BY_VALUE };
  const observed = new Map(input.namespaces.map((n) => [n.name, n]));
  const wanted = [...new Set(team.spec.namespaces ?? [])].sort();
  const actions: Action[] = [];
  const managed: string[] = [];
  const conflicts: string[] = [];
  const hard = team.spec.quota ? quotaHard(team.spec.quota) : {};
  for (const ns of wanted) {
    const owner = observed.get(ns)?.labels[TEAM_LABEL];
    if (owner !== undefined && owner !== name) {
      conflicts.push(`${ns} (team ${owner})`);
      continue;
    }
    managed.push(ns);
    actions.push({ type: 'apply', object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } } });
    actions.push({
      type: 'apply',
      object: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: ROLE_BINDING_NAME, namespace: ns, labels, ownerReferences: ownerReference(team) },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: TEAM_DEVELOPER_ROLE },
        subjects: team.spec.members.map((m) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: m.kind, name: m.name })),
      },
    });
    if (Object.keys(hard).length > 0) {
      actions.push({ type: 'apply', object: { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: QUOTA_NAME, namespace: ns, labels, ownerReferences: ownerReference(team) }, spec: { hard } } });
    } else {
      actions.push({ type: 'delete', ref: { apiVersion: 'v1', kind: 'ResourceQuota', plural: 'resourcequotas', namespace: ns, name: QUOTA_NAME } });
    }
  }
  // Namespaces the team has let go of keep their label (their objects are still the team's)
  // but lose the team's access and quota.
  for (const ns of input.namespaces) {
    if (ns.labels[TEAM_LABEL] === name && ns.labels[MANAGED_BY_LABEL] === MANAGED_BY_VALUE && !wanted.includes(ns.name)) {
      actions.push({ type: 'delete', ref: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', plural: 'rolebindings', namespace: ns.name, name: ROLE_BINDING_NAME } });
      actions.push({ type: 'delete', ref: { apiVersion: 'v1', kind: 'ResourceQuota', plural: 'resourcequotas', namespace: ns.name, name: QUOTA_NAME } });
    }
  }
  const generation = team.metadata.generation ?? 1;
  const ready =
    conflicts.length === 0
      ? { type: 'Ready', status: 'True' as const, observedGeneration: generation, reason: 'Reconciled', message: `${managed.length} namespace(s) with RoleBinding ${ROLE_BINDING_NAME}${Object.keys(hard).length ? ` and ResourceQuota ${QUOTA_NAME}` : ''}` }
      : { type: 'Ready', status: 'False' as const, observedGeneration: generation, reason: 'NamespaceOwnedByOtherTeam', message: `namespaces belong to another team and were left alone: ${conflicts.join(', ')}; remove them from spec.namespaces` };
  const old = team.status ?? {};
  const next = { ...old, phase: conflicts.length === 0 ? 'Ready' : 'Failed', observedGeneration: generation, namespaces: managed, conditions: setCondition(old.conditions as Condition[] | undefined, ready, now) };
  if (!sameJson(old, next)) actions.push({ type: 'status', ref: teamRef(team), resourceVersion: team.metadata.resourceVersion ?? '', status: next });
  if (old.phase !== next.phase) {
    actions.push({ type: 'event', ref: teamRef(team), eventType: next.phase === 'Ready' ? 'Normal' : 'Warning', reason: next.phase, message: `phase ${old.phase ?? 'none'} -> ${next.phase}: ${ready.message}` });
  }
  return actions;
}

/** What a terminal apply error (the apiserver refused an object as invalid) leaves in status. */
export function teamFailed(team: Team, reason: string, message: string, now: Date): Action[] {
  const old = team.status ?? {};
  const generation = team.metadata.generation ?? 1;
  const next = { ...old, phase: 'Failed', observedGeneration: generation, conditions: setCondition(old.conditions as Condition[] | undefined, { type: 'Ready', status: 'False', observedGeneration: generation, reason, message }, now) };
  const actions: Action[] = [];
  if (!sameJson(old, next)) actions.push({ type: 'status', ref: teamRef(team), resourceVersion: team.metadata.resourceVersion ?? '', status: next });
  if (old.phase !== 'Failed') actions.push({ type: 'event', ref: teamRef(team), eventType: 'Warning', reason: 'Failed', message: `phase ${old.phase ?? 'none'} -> Failed: ${message}` });
  return actions;
}
