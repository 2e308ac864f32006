// What the portal pages show, computed from a snapshot of the cluster (the portal's informer
// caches) and one user's access (pure): Teams → a Team's Applications → each Application's
// Services, Databases, Caches and Topics, each with phase, conditions, owner chain, the
// connections its label selectors make, its policy results and its recent Events. Nothing
// here talks to the apiserver; the server resolves the user's access first (access.ts) and
// hands in a synchronous `can`, so that every object the model lets through passed a
// SubjectAccessReview of that user.
import { DEPLOYABLE_KINDS, kindInfo, PLATFORM_GROUP, TENANT_KINDS, type DeployableKind, type KindName } from '../crds/registry.js';
import type { PolicyReportResult } from '../reports/index.js';

/** An object as the informer caches hold it (wire JSON: timestamps are strings). */
export interface PortalObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string;
    deletionTimestamp?: string;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export interface EventObject {
  metadata: { name: string; namespace?: string; uid?: string; creationTimestamp?: string };
  involvedObject?: { kind?: string; name?: string; namespace?: string; uid?: string; apiVersion?: string };
  regarding?: EventObject['involvedObject'];
  type?: string;
  reason?: string;
  message?: string;
  note?: string;
  count?: number;
  lastTimestamp?: string;
  eventTime?: string;
  firstTimestamp?: string;
  series?: { lastObservedTime?: string; count?: number };
}

export interface ReportObject {
  kind?: string;
  metadata: { name?: string; namespace?: string };
  results?: PolicyReportResult[];
}

/** The kinds an Application's page descends into: the deployables (registry order). */
export const CHILD_KINDS: readonly DeployableKind[] = DEPLOYABLE_KINDS;
export type ChildKind = DeployableKind;
export type PortalKind = 'Team' | 'Application' | ChildKind;
/**
 * Every kind the portal watches and authorizes on: the tenant kinds (a Team, its
 * Applications, the deployables), which deploy/'s kidp-dashboard role grants from the same
 * registry list (crds/deploy-rbac.ts).
 */
export const PORTAL_KINDS: readonly PortalKind[] = TENANT_KINDS.map((k) => k.kind as KindName).filter((k): k is PortalKind => k === 'Team' || k === 'Application' || (DEPLOYABLE_KINDS as readonly string[]).includes(k));

export interface Snapshot {
  objects: Readonly<Record<PortalKind, readonly PortalObject[]>>;
  reports: readonly ReportObject[];
  clusterReports: readonly ReportObject[];
  events: readonly EventObject[];
}

/**
 * A check the server resolves with a SubjectAccessReview before building a page: `list` on a
 * resource in a namespace, or `get` on one named cluster-scoped object (a Team).
 */
export interface AccessCheck {
  verb: 'get' | 'list';
  group: string;
  resource: string;
  namespace?: string;
  name?: string;
}

export type Can = (check: AccessCheck) => boolean;

export const checkKey = (c: AccessCheck): string => `${c.verb} ${c.group}/${c.resource} ${c.namespace ?? ''} ${c.name ?? ''}`;

const listIn = (kind: KindName, namespace: string): AccessCheck => ({ verb: 'list', group: kindInfo(kind).group, resource: kindInfo(kind).plural, namespace });
const EVENTS = (namespace: string): AccessCheck => ({ verb: 'list', group: '', resource: 'events', namespace });
const getTeam = (name: string): AccessCheck => ({ verb: 'get', group: kindInfo('Team').group, resource: kindInfo('Team').plural, name });
const CLUSTER_REPORTS: AccessCheck = { verb: 'list', group: kindInfo('ClusterPolicyReport').group, resource: kindInfo('ClusterPolicyReport').plural };

/** Every check a page over this snapshot may ask: one per Team, per (namespace, kind) in use, and the reports and events of those namespaces. */
export function checksFor(snapshot: Snapshot): AccessCheck[] {
  const checks = new Map<string, AccessCheck>();
  const add = (c: AccessCheck) => checks.set(checkKey(c), c);
  for (const t of snapshot.objects.Team) add(getTeam(t.metadata.name));
  const namespaces = new Set<string>();
  for (const kind of PORTAL_KINDS) {
    if (kind === 'Team') continue;
    for (const o of snapshot.objects[kind]) {
      const ns = o.metadata.namespace ?? '';
      namespaces.add(ns);
      add(listIn(kind, ns));
    }
  }
  for (const ns of namespaces) {
    add(listIn('PolicyReport', ns));
    add(EVENTS(ns));
  }
  for (const e of snapshot.events) if (e.metadata.namespace) add(EVENTS(e.metadata.namespace));
  add(CLUSTER_REPORTS);
  return [...checks.values()];
}

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export interface PolicyLine {
  policy: string;
  rule: string;
  result: string;
  severity: string;
  message: string;
}

export interface EventLine {
  time: string;
  type: string;
  reason: string;
  message: string;
  count: number;
}

export interface Ref {
  kind: PortalKind;
  namespace?: string;
  name: string;
}

export interface Connection {
  /** The selector field, e.g. `spec.dependencies.databaseSelector`. */
  field: string;
  from: Ref;
  to: Ref;
  phase: string;
}

export interface ResourceView {
  ref: Ref;
  phase: string;
  conditions: Condition[];
  /** Team → (Application →) this resource; the links a reader climbs back up. */
  ownerChain: Ref[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  policy: PolicyLine[] | 'hidden';
  events: EventLine[] | 'hidden';
  /** Connections from its selectors (outgoing) and from others' selectors to it (incoming). */
  connections: Connection[];
  /** Selector fields that match nothing the user may see: `field: {k: v}`. */
  unmatched: string[];
  spec: Record<string, unknown>;
}

export interface CostEntry {
  kind: string;
  namespace: string;
  name: string;
  priceClass: string;
  hours: number;
  cost: number;
}

export interface TeamCost {
  currency: string;
  total: number;
  computedAt: string;
  byCostCenter: { costCenter: string; total: number; resources: number }[];
  resources: CostEntry[];
}

export interface TeamSummary {
  name: string;
  /** The Team object itself may be read (display name, members, cost). */
  readable: boolean;
  displayName: string;
  costCenter: string;
  phase: string;
  applications: number;
  resources: number;
  failing: number;
}

export interface ApplicationSummary {
  ref: Ref;
  phase: string;
  counts: Record<ChildKind, number>;
  failing: number;
}

export interface TeamPage {
  team: TeamSummary;
  members: { kind: string; name: string; role: string }[];
  namespaces: string[];
  conditions: Condition[];
  cost: TeamCost | 'none' | 'hidden';
  policy: PolicyLine[] | 'hidden';
  events: EventLine[] | 'hidden';
  applications: ApplicationSummary[];
  /** Databases, Caches and Topics owned by the Team directly. */
  direct: ResourceSummary[];
}

export interface ResourceSummary {
  ref: Ref;
  phase: string;
  ready: string;
  failing: number;
}

export interface ApplicationPage {
  app: ResourceView;
  children: Record<ChildKind, ResourceSummary[]>;
  /** The selector edges among the application's resources (and the targets they reach). */
  graph: { nodes: ResourceSummary[]; edges: Connection[] };
}

/** The owner of a KIDP object: spec.owner.{kind,name}; same namespace unless it is a Team. */
export function ownerOf(o: PortalObject): Ref | undefined {
  const owner = o.spec?.owner as { kind?: string; name?: string } | undefined;
  if (!owner?.kind || !owner.name) return undefined;
  if (owner.kind === 'Team') return { kind: 'Team', name: owner.name };
  if (owner.kind === 'Application') return { kind: 'Application', namespace: o.metadata.namespace, name: owner.name };
  return undefined;
}

/** `spec.dependencies.<kind>Selector` of every kind the registry knows, with its matchLabels. */
export function selectorsOf(o: PortalObject): { field: string; kind: ChildKind; matchLabels: Record<string, string> }[] {
  const deps = o.spec?.dependencies;
  if (!deps || typeof deps !== 'object') return [];
  const out: { field: string; kind: ChildKind; matchLabels: Record<string, string> }[] = [];
  for (const [key, value] of Object.entries(deps as Record<string, unknown>)) {
    const m = /^([a-z]+)Selector$/.exec(key);
    const kind = m ? CHILD_KINDS.find((k) => kindInfo(k).singular === m[1]) : undefined;
    if (!kind || !value || typeof value !== 'object') continue;
    const matchLabels = (value as { matchLabels?: Record<string, string> }).matchLabels ?? {};
    out.push({ field: `spec.dependencies.${key}`, kind, matchLabels });
  }
  return out;
}

export function matches(labels: Record<string, string> | undefined, selector: Record<string, string>): boolean {
  // An empty matchLabels selects nothing here: the broker mounts nothing for it either.
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels?.[k] === v);
}

function conditionsOf(o: PortalObject): Condition[] {
  const raw = (o.status?.conditions as Partial<Condition>[] | undefined) ?? [];
  return raw.map((c) => ({ type: String(c.type ?? ''), status: String(c.status ?? ''), reason: String(c.reason ?? ''), message: String(c.message ?? ''), lastTransitionTime: String(c.lastTransitionTime ?? '') }));
}

const phaseOf = (o: PortalObject): string => (typeof o.status?.phase === 'string' ? o.status.phase : 'Unknown');
const readyOf = (o: PortalObject): string => conditionsOf(o).find((c) => c.type === 'Ready')?.status ?? 'Unknown';
const refOf = (kind: PortalKind, o: PortalObject): Ref => (kind === 'Team' ? { kind, name: o.metadata.name } : { kind, namespace: o.metadata.namespace ?? '', name: o.metadata.name });
const key = (r: { kind?: string; namespace?: string; name?: string }) => `${r.kind ?? ''}/${r.namespace ?? ''}/${r.name ?? ''}`;
const FAILING = new Set(['fail', 'error', 'warn']);
/** Events kept per resource, newest first. */
export const RECENT_EVENTS = 20;

/** KIDP's own kinds only: a core Service named like a KIDP Service is another object. */
const isPlatform = (apiVersion: string | undefined): boolean => apiVersion === undefined || apiVersion.startsWith(`${PLATFORM_GROUP}/`);
/** Annotations the page leaves out: kubectl's copy of the whole manifest is noise, not metadata. */
const HIDDEN_ANNOTATIONS = new Set(['kubectl.kubernetes.io/last-applied-configuration']);

function eventTime(e: EventObject): string {
  return e.series?.lastObservedTime ?? e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp ?? '';
}

/**
 * One user's view of a snapshot: the objects they may list, indexed for the pages. Built per
 * request (the indexes are linear in the snapshot), so nothing user-specific outlives it.
 */
export class PortalModel {
  private readonly byKey = new Map<string, { kind: PortalKind; object: PortalObject }>();
  private readonly visible: Record<PortalKind, PortalObject[]>;
  private readonly policyByKey = new Map<string, PolicyLine[]>();
  private readonly eventsByKey = new Map<string, EventObject[]>();
  private readonly childrenOf = new Map<string, { kind: PortalKind; object: PortalObject }[]>();

  constructor(
    private readonly snapshot: Snapshot,
    private readonly can: Can,
  ) {
    const visible = {} as Record<PortalKind, PortalObject[]>;
    for (const kind of PORTAL_KINDS) {
      visible[kind] = kind === 'Team' ? [] : snapshot.objects[kind].filter((o) => can(listIn(kind, o.metadata.namespace ?? '')));
      for (const o of visible[kind]) this.index(kind, o);
    }
    // A Team is in the user's view when they may read it, or when they may list an Application of it.
    const appTeams = new Set(visible.Application.map((a) => ownerOf(a)).filter((r) => r?.kind === 'Team').map((r) => r!.name));
    visible.Team = snapshot.objects.Team.filter((t) => can(getTeam(t.metadata.name)) || appTeams.has(t.metadata.name));
    for (const t of visible.Team) this.index('Team', t);
    this.visible = visible;
    for (const report of snapshot.reports) {
      const ns = report.metadata.namespace ?? '';
      if (!can(listIn('PolicyReport', ns))) continue;
      this.addResults(report);
    }
    if (can(CLUSTER_REPORTS)) for (const report of snapshot.clusterReports) this.addResults(report);
    for (const e of snapshot.events) {
      const about = e.involvedObject ?? e.regarding;
      if (!about || !isPlatform(about.apiVersion) || !e.metadata.namespace || !can(EVENTS(e.metadata.namespace))) continue;
      const k = key({ kind: about.kind, namespace: about.kind === 'Team' ? '' : about.namespace, name: about.name });
      const list = this.eventsByKey.get(k);
      if (list) list.push(e);
      else this.eventsByKey.set(k, [e]);
    }
  }

  private index(kind: PortalKind, o: PortalObject): void {
    this.byKey.set(key(refOf(kind, o)), { kind, object: o });
    const owner = ownerOf(o);
    if (!owner) return;
    const k = key(owner);
    const list = this.childrenOf.get(k);
    if (list) list.push({ kind, object: o });
    else this.childrenOf.set(k, [{ kind, object: o }]);
  }

  private addResults(report: ReportObject): void {
    for (const r of report.results ?? []) {
      for (const res of r.resources ?? []) {
        if (!isPlatform(res.apiVersion)) continue;
        const k = key({ kind: res.kind, namespace: res.namespace ?? (res.kind === 'Team' ? '' : report.metadata.namespace), name: res.name });
        const line: PolicyLine = { policy: r.policy, rule: r.rule, result: r.result, severity: r.severity ?? '', message: r.message ?? '' };
        const list = this.policyByKey.get(k);
        if (list) list.push(line);
        else this.policyByKey.set(k, [line]);
      }
    }
  }

  private policyOf(ref: Ref): PolicyLine[] | 'hidden' {
    const allowed = ref.kind === 'Team' ? this.can(CLUSTER_REPORTS) : this.can(listIn('PolicyReport', ref.namespace ?? ''));
    if (!allowed) return 'hidden';
    // Failing results first: the page is read for what to fix.
    return [...(this.policyByKey.get(key(ref)) ?? [])].sort((a, b) => Number(FAILING.has(b.result)) - Number(FAILING.has(a.result)) || `${a.policy}/${a.rule}`.localeCompare(`${b.policy}/${b.rule}`));
  }

  private failingOf(ref: Ref): number {
    const lines = this.policyOf(ref);
    return lines === 'hidden' ? 0 : lines.filter((l) => FAILING.has(l.result)).length;
  }

  private eventsOf(ref: Ref): EventLine[] | 'hidden' {
    // Events of a namespaced object live in its namespace; a Team's anywhere (the recorder's choice).
    if (ref.kind !== 'Team' && !this.can(EVENTS(ref.namespace ?? ''))) return 'hidden';
    return [...(this.eventsByKey.get(key(ref)) ?? [])]
      .map((e) => ({ time: eventTime(e), type: e.type ?? '', reason: e.reason ?? '', message: e.message ?? e.note ?? '', count: e.series?.count ?? e.count ?? 1 }))
      .sort((a, b) => b.time.localeCompare(a.time))
      .slice(0, RECENT_EVENTS);
  }

  private summary(kind: PortalKind, o: PortalObject): ResourceSummary {
    const ref = refOf(kind, o);
    return { ref, phase: phaseOf(o), ready: readyOf(o), failing: this.failingOf(ref) };
  }

  teams(): TeamSummary[] {
    return this.visible.Team.map((t) => this.teamSummary(t)).sort((a, b) => a.name.localeCompare(b.name));
  }

  private teamSummary(t: PortalObject): TeamSummary {
    const readable = this.can(getTeam(t.metadata.name));
    const apps = this.childrenOf.get(key({ kind: 'Team', name: t.metadata.name }))?.filter((c) => c.kind === 'Application') ?? [];
    const owned = this.ownedByTeam(t.metadata.name);
    return {
      name: t.metadata.name,
      readable,
      displayName: readable ? String(t.spec?.displayName ?? '') : '',
      costCenter: readable ? String(t.spec?.costCenter ?? '') : '',
      phase: readable ? phaseOf(t) : '',
      applications: apps.length,
      resources: owned.filter((r) => r.kind !== 'Application').length,
      failing: owned.reduce((n, r) => n + this.failingOf(refOf(r.kind, r.object)), 0),
    };
  }

  /** Everything a Team owns, directly or through its Applications, that the user may list. */
  private ownedByTeam(team: string): { kind: PortalKind; object: PortalObject }[] {
    const direct = this.childrenOf.get(key({ kind: 'Team', name: team })) ?? [];
    return direct.flatMap((c) => (c.kind === 'Application' ? [c, ...(this.childrenOf.get(key(refOf('Application', c.object))) ?? [])] : [c]));
  }

  team(name: string): TeamPage | undefined {
    const t = this.visible.Team.find((x) => x.metadata.name === name);
    if (!t) return undefined;
    const summary = this.teamSummary(t);
    const direct = this.childrenOf.get(key({ kind: 'Team', name })) ?? [];
    const applications = direct
      .filter((c) => c.kind === 'Application')
      .map((c): ApplicationSummary => {
        const ref = refOf('Application', c.object);
        const kids = this.childrenOf.get(key(ref)) ?? [];
        const counts = Object.fromEntries(CHILD_KINDS.map((k) => [k, kids.filter((x) => x.kind === k).length])) as Record<ChildKind, number>;
        return { ref, phase: phaseOf(c.object), counts, failing: kids.reduce((n, x) => n + this.failingOf(refOf(x.kind, x.object)), this.failingOf(ref)) };
      })
      .sort((a, b) => key(a.ref).localeCompare(key(b.ref)));
    const spec = summary.readable ? (t.spec ?? {}) : {};
    const members = ((spec.members as { kind?: string; name?: string; role?: string }[] | undefined) ?? []).map((m) => ({ kind: String(m.kind ?? ''), name: String(m.name ?? ''), role: String(m.role ?? 'developer') }));
    return {
      team: summary,
      members,
      namespaces: ((spec.namespaces as string[] | undefined) ?? []).map(String),
      conditions: summary.readable ? conditionsOf(t) : [],
      cost: summary.readable ? costOf(t) : 'hidden',
      policy: summary.readable ? this.policyOf({ kind: 'Team', name }) : 'hidden',
      events: summary.readable ? this.eventsOf({ kind: 'Team', name }) : 'hidden',
      applications,
      direct: direct.filter((c) => c.kind !== 'Application').map((c) => this.summary(c.kind, c.object)).sort((a, b) => key(a.ref).localeCompare(key(b.ref))),
    };
  }

  application(namespace: string, name: string): ApplicationPage | undefined {
    const app = this.resource('Application', namespace, name);
    if (!app) return undefined;
    const kids = this.childrenOf.get(key(app.ref)) ?? [];
    const children = Object.fromEntries(CHILD_KINDS.map((k) => [k, kids.filter((x) => x.kind === k).map((x) => this.summary(k, x.object)).sort((a, b) => a.ref.name.localeCompare(b.ref.name))])) as Record<ChildKind, ResourceSummary[]>;
    const edges = kids.flatMap((x) => this.outgoing(x.kind, x.object).connections);
    const nodes = new Map<string, ResourceSummary>();
    for (const x of kids) nodes.set(key(refOf(x.kind, x.object)), this.summary(x.kind, x.object));
    for (const e of edges) {
      const target = this.byKey.get(key(e.to));
      if (target && !nodes.has(key(e.to))) nodes.set(key(e.to), this.summary(target.kind, target.object));
    }
    return { app, children, graph: { nodes: [...nodes.values()], edges } };
  }

  private outgoing(kind: PortalKind, o: PortalObject): { connections: Connection[]; unmatched: string[] } {
    const from = refOf(kind, o);
    const connections: Connection[] = [];
    const unmatched: string[] = [];
    for (const s of selectorsOf(o)) {
      const targets = this.visible[s.kind].filter((t) => t.metadata.namespace === o.metadata.namespace && matches(t.metadata.labels, s.matchLabels));
      if (targets.length === 0) unmatched.push(`${s.field}: ${JSON.stringify(s.matchLabels)}`);
      for (const t of targets) connections.push({ field: s.field, from, to: refOf(s.kind, t), phase: phaseOf(t) });
    }
    return { connections, unmatched };
  }

  resource(kind: PortalKind, namespace: string, name: string): ResourceView | undefined {
    const found = this.byKey.get(key({ kind, namespace: kind === 'Team' ? '' : namespace, name }));
    if (!found || found.kind !== kind) return undefined;
    const o = found.object;
    const ref = refOf(kind, o);
    const chain: Ref[] = [];
    let cursor: Ref | undefined = ownerOf(o);
    // At most Team → Application → resource; the bound also stops a cycle of hand-made owners.
    for (let i = 0; cursor && i < 3; i += 1) {
      chain.unshift(cursor);
      const next = this.byKey.get(key(cursor));
      cursor = next ? ownerOf(next.object) : undefined;
    }
    const { connections, unmatched } = this.outgoing(kind, o);
    // Incoming: the selectors of the other visible objects in this namespace that pick it.
    for (const k of PORTAL_KINDS) {
      if (k === 'Team') continue;
      for (const other of this.visible[k]) {
        if (other.metadata.namespace !== o.metadata.namespace || other === o) continue;
        for (const s of selectorsOf(other)) if (s.kind === kind && matches(o.metadata.labels, s.matchLabels)) connections.push({ field: s.field, from: refOf(k, other), to: ref, phase: phaseOf(o) });
      }
    }
    const { owner: _owner, ...spec } = o.spec ?? {};
    void _owner;
    return {
      ref,
      phase: phaseOf(o),
      conditions: conditionsOf(o),
      ownerChain: chain,
      labels: { ...(o.metadata.labels ?? {}) },
      annotations: Object.fromEntries(Object.entries(o.metadata.annotations ?? {}).filter(([k]) => !HIDDEN_ANNOTATIONS.has(k))),
      policy: this.policyOf(ref),
      events: this.eventsOf(ref),
      connections,
      unmatched,
      spec,
    };
  }
}

/** `status.cost` when the Team has one in the agreed shape; 'none' otherwise ("no usage reported"). */
export function costOf(t: PortalObject): TeamCost | 'none' {
  const c = t.status?.cost as Partial<TeamCost> | undefined;
  if (!c || typeof c.total !== 'number') return 'none';
  return {
    currency: String(c.currency ?? 'USD'),
    total: c.total,
    computedAt: String(c.computedAt ?? ''),
    byCostCenter: (c.byCostCenter ?? []).map((b) => ({ costCenter: String(b.costCenter), total: Number(b.total), resources: Number(b.resources) })),
    resources: (c.resources ?? []).map((r) => ({ kind: String(r.kind), namespace: String(r.namespace ?? ''), name: String(r.name), priceClass: String(r.priceClass ?? ''), hours: Number(r.hours), cost: Number(r.cost) })),
  };
}
