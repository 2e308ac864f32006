// The ownership rules of DESIGN.md §3 and issue 11, enforced at admission. Pure functions
// of the request and an OwnershipView (what the cluster holds, read from informer caches in
// cluster-view.ts, or from files in memory-view.ts); no API call per request.
//
// Fail closed: a KIDP resource lives only in a namespace of its owner's team, or in one
// its Team explicitly shares (spec.sharedNamespaces, set by whoever may edit Teams); a
// namespace of no team holds nothing; UPDATE re-checks all of it.
import { allowed, denied, type Decision } from './decision.js';
import type { AdmissionRequest, KubeObject } from './review.js';
import { ALLOWED_OWNERS as OWNERS, LABELS, OWNED_KINDS as OWNED, PLATFORM_GROUP } from '../crds/registry.js';

export const GROUP = PLATFORM_GROUP;
export const TEAM_LABEL = LABELS.team;

/** Who may own whom (crds/registry.ts). Team and DeploymentTarget have no owner. */
export const ALLOWED_OWNERS: Readonly<Record<string, readonly string[]>> = OWNERS;

/** Kinds whose spec.owner ownership rules apply. */
export const OWNED_KINDS = OWNED;

export interface ResourceRef {
  kind: string;
  namespace?: string;
  name: string;
}

export interface OwnerRef {
  kind: string;
  name: string;
}

export interface OwnershipOptions {
  /** The platform's own namespace: no Team claims it and no owned resource lives in it. */
  platformNamespace: string;
}

export const DEFAULT_OWNERSHIP_OPTIONS: OwnershipOptions = { platformNamespace: 'kidp-system' };

export interface OwnershipView {
  /**
   * True when the view holds every Team, Application and Namespace (a cluster's caches).
   * A partial view (standalone files) cannot say an owner is missing, so it does not.
   */
  readonly authoritative: boolean;
  team(name: string): KubeObject | undefined;
  application(namespace: string, name: string): KubeObject | undefined;
  /** Labels of a namespace, or undefined when the view does not know it. */
  namespaceLabels(name: string): Record<string, string> | undefined;
  /** Resources whose spec.owner names this Team (any namespace) or Application (its namespace). */
  ownedBy(owner: ResourceRef): ResourceRef[];
  /** The DeploymentTarget marked default for an environment, if one is. */
  defaultTarget(environment: string): string | undefined;
  /** A DeploymentTarget by name. */
  target(name: string): KubeObject | undefined;
  /** Names of the DeploymentTargets whose spec.namespace is this namespace. */
  targetsInNamespace(namespace: string): readonly string[];
  /** Names of the Teams whose spec.namespaces lists this namespace. */
  teamsClaiming(namespace: string): readonly string[];
  /** Names of the Teams whose spec.sharedNamespaces lists this namespace. */
  teamsSharing(namespace: string): readonly string[];
}

export function ownerOf(obj: KubeObject | null | undefined): OwnerRef | undefined {
  const owner = obj?.spec?.owner as { kind?: unknown; name?: unknown } | undefined;
  if (!owner || typeof owner.kind !== 'string' || typeof owner.name !== 'string') return undefined;
  return { kind: owner.kind, name: owner.name };
}

function refText(r: ResourceRef): string {
  return `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`;
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/**
 * The team a resource belongs to: its owner when that is a Team, the owning
 * Application's team otherwise. Undefined when the chain cannot be followed.
 */
export function teamOf(obj: KubeObject, namespace: string | undefined, view: OwnershipView): string | undefined {
  if (obj.kind === 'Team') return obj.metadata?.name;
  const owner = ownerOf(obj);
  if (!owner) return undefined;
  if (owner.kind === 'Team') return owner.name;
  if (owner.kind === 'Application' && namespace) {
    const app = view.application(namespace, owner.name);
    return app ? ownerOf(app)?.name : undefined;
  }
  return undefined;
}

/** Why no Team may claim this namespace and nothing owned may live there, or undefined. */
export function reservedNamespace(namespace: string, options: OwnershipOptions): string | undefined {
  // kube-system, kube-public, kube-node-lease: the cluster's own; the webhooks skip kube-system.
  if (namespace.startsWith('kube-')) return 'a Kubernetes system namespace';
  if (namespace === options.platformNamespace) return "KIDP's platform namespace";
  return undefined;
}

/**
 * The teams a namespace belongs to: the Team whose spec.namespaces lists it (the Team
 * object is admitted here, the label is only its controller's echo), else the team its
 * label names (a namespace a team let go of: its objects are still that team's). More
 * than one only when Teams admitted before these rules contest it.
 */
export function namespaceTeams(namespace: string, view: OwnershipView): readonly string[] {
  const claims = view.teamsClaiming(namespace);
  if (claims.length > 0) return claims;
  const label = view.namespaceLabels(namespace)?.[TEAM_LABEL];
  return label ? [label] : [];
}

function ownedKind(kind: string): boolean {
  return (OWNED_KINDS as readonly string[]).includes(kind);
}

/** The owner exists and is of an allowed kind; the namespace is the team's (or shared by it). */
function checkOwnerAndPlacement(kind: string, name: string, object: KubeObject, namespace: string | undefined, view: OwnershipView, options: OwnershipOptions): Decision {
  const owner = ownerOf(object);
  if (!owner) {
    return denied('OwnerMissing', `${kind} ${name}: spec.owner is required: set spec.owner.kind (${ALLOWED_OWNERS[kind]?.join(' or ')}) and spec.owner.name`);
  }
  const kinds = ALLOWED_OWNERS[kind] ?? [];
  if (!kinds.includes(owner.kind)) {
    return denied(
      'OwnerKindNotAllowed',
      `${kind} ${name}: spec.owner.kind ${owner.kind} is not allowed; a ${kind} is owned by ${kinds.map((k) => `${/^[AEIOU]/.test(k) ? 'an' : 'a'} ${k}`).join(' or ')}`,
    );
  }
  if (owner.kind === 'Team' && view.authoritative && !view.team(owner.name)) {
    return denied('OwnerNotFound', `${kind} ${name}: spec.owner refers to Team ${owner.name}, which does not exist; create the Team first or fix spec.owner.name`);
  }
  if (owner.kind === 'Application' && view.authoritative && (!namespace || !view.application(namespace, owner.name))) {
    return denied(
      'OwnerNotFound',
      `${kind} ${name}: spec.owner refers to Application ${owner.name}, which does not exist in namespace ${namespace ?? '(none)'}; an owning Application must be in the same namespace`,
    );
  }
  return checkPlacement(kind, name, object, namespace, view, options);
}

function checkPlacement(kind: string, name: string, object: KubeObject, namespace: string | undefined, view: OwnershipView, options: OwnershipOptions): Decision {
  if (!namespace) return allowed();
  const reserved = reservedNamespace(namespace, options);
  if (reserved) {
    return denied('ReservedNamespace', `${kind} ${name}: namespace ${namespace} is ${reserved}; KIDP resources live in a namespace of their team`);
  }
  const team = teamOf(object, namespace, view);
  const via = `spec.owner ${ownerOf(object)?.kind}/${ownerOf(object)?.name}`;
  const owners = namespaceTeams(namespace, view);
  if (owners.length > 1) {
    return denied(
      'NamespaceContested',
      `${kind} ${name}: namespace ${namespace} is listed in spec.namespaces of several Teams (${[...owners].sort().join(', ')}); nothing is admitted there until a platform admin leaves it to one`,
    );
  }
  const owner = owners[0];
  if (owner !== undefined) {
    if (owner === team) return allowed();
    return denied(
      'CrossTeamOwner',
      `${kind} ${name}: namespace ${namespace} belongs to team ${owner}, but this ${kind} belongs to team ${team ?? '(unknown)'} through ${via}; create it in a namespace of team ${team ?? '(unknown)'} or change spec.owner`,
    );
  }
  // A namespace of no team. A partial view (files) that does not know it cannot tell.
  if (!view.authoritative && view.namespaceLabels(namespace) === undefined) return allowed();
  if (team !== undefined && stringList(view.team(team)?.spec?.sharedNamespaces).includes(namespace)) return allowed();
  return denied(
    'NamespaceNotOwned',
    `${kind} ${name}: namespace ${namespace} belongs to no team and team ${team ?? '(unknown)'} does not share it; create it in a namespace of team ${team ?? '(unknown)'} (Team spec.namespaces), or have a platform admin add ${namespace} to the Team's spec.sharedNamespaces`,
  );
}

/** CREATE: the owner is of an allowed kind, exists, and the namespace is its team's. */
export function validateCreate(req: AdmissionRequest, object: KubeObject, view: OwnershipView, options: OwnershipOptions = DEFAULT_OWNERSHIP_OPTIONS): Decision {
  const kind = req.kind.kind;
  if (kind === 'Team') return validateTeamClaims(object, view, options);
  if (kind === 'DeploymentTarget') return validateTargetNamespace(object, view, options);
  if (!ownedKind(kind)) return allowed();
  const name = object.metadata?.name ?? req.name ?? '';
  return checkOwnerAndPlacement(kind, name, object, req.namespace ?? object.metadata?.namespace, view, options);
}

/** UPDATE: spec.owner never changes, and everything CREATE checks still holds. */
export function validateUpdate(req: AdmissionRequest, oldObject: KubeObject, object: KubeObject, view: OwnershipView, options: OwnershipOptions = DEFAULT_OWNERSHIP_OPTIONS): Decision {
  const kind = req.kind.kind;
  // An object on its way out only sheds finalizers: blocking that would strand it.
  if (object.metadata?.deletionTimestamp) return allowed();
  if (kind === 'Team') return validateTeamClaims(object, view, options);
  if (kind === 'DeploymentTarget') return validateTargetNamespace(object, view, options);
  if (!ownedKind(kind)) return allowed();
  const name = object.metadata?.name ?? req.name ?? '';
  const before = ownerOf(oldObject);
  const after = ownerOf(object);
  if (before?.kind !== after?.kind || before?.name !== after?.name) {
    const text = (o: OwnerRef | undefined) => (o ? `${o.kind}/${o.name}` : '(none)');
    return denied(
      'OwnerImmutable',
      `${kind} ${name}: spec.owner is immutable (was ${text(before)}, now ${text(after)}); to move it, delete the ${kind} and create it again under the new owner`,
    );
  }
  return checkOwnerAndPlacement(kind, name, object, req.namespace ?? object.metadata?.namespace, view, options);
}

/**
 * A Team may claim (spec.namespaces) only namespaces that are not reserved, not where a
 * DeploymentTarget deploys, and not another team's; it may share (spec.sharedNamespaces)
 * only namespaces of no team that are neither reserved nor a target's.
 */
export function validateTeamClaims(team: KubeObject, view: OwnershipView, options: OwnershipOptions = DEFAULT_OWNERSHIP_OPTIONS): Decision {
  const name = team.metadata?.name ?? '';
  const problems: string[] = [];
  const fields: [string, string[]][] = [
    ['spec.namespaces', stringList(team.spec?.namespaces)],
    ['spec.sharedNamespaces', stringList(team.spec?.sharedNamespaces)],
  ];
  for (const [field, namespaces] of fields) {
    for (const ns of namespaces) {
      const reserved = reservedNamespace(ns, options);
      if (reserved) {
        problems.push(`${field}: ${ns} is ${reserved}`);
        continue;
      }
      const targets = view.targetsInNamespace(ns);
      if (targets.length > 0) {
        const names = [...targets].sort().join(', ');
        problems.push(`${field}: ${ns} is where ${targets.length === 1 ? `DeploymentTarget ${names} deploys` : `DeploymentTargets ${names} deploy`} workloads`);
        continue;
      }
      const others = namespaceTeams(ns, view).filter((t) => t !== name);
      if (others.length > 0) problems.push(`${field}: ${ns} belongs to team ${[...others].sort().join(', ')}`);
    }
  }
  if (problems.length === 0) return allowed();
  return denied('NamespaceClaimRefused', `Team ${name}: ${problems.join('; ')}; a Team claims or shares only namespaces of its own, and none of kube-*, ${options.platformNamespace} or a DeploymentTarget's`);
}

/** A DeploymentTarget deploys into no reserved namespace and no namespace a Team holds. */
export function validateTargetNamespace(target: KubeObject, view: OwnershipView, options: OwnershipOptions = DEFAULT_OWNERSHIP_OPTIONS): Decision {
  const ns = target.spec?.namespace;
  if (typeof ns !== 'string' || !ns) return allowed();
  const name = target.metadata?.name ?? '';
  const reserved = reservedNamespace(ns, options);
  if (reserved) return denied('TargetNamespaceRefused', `DeploymentTarget ${name}: spec.namespace ${ns} is ${reserved}; workloads land in a namespace of their own`);
  const teams = [...new Set([...namespaceTeams(ns, view), ...view.teamsSharing(ns)])].sort();
  if (teams.length > 0) {
    return denied('TargetNamespaceRefused', `DeploymentTarget ${name}: spec.namespace ${ns} is held by team ${teams.join(', ')}; workloads land in a namespace no team holds`);
  }
  return allowed();
}

/** DELETE: a Team or Application that still owns resources stays. */
export function validateDelete(req: AdmissionRequest, oldObject: KubeObject | undefined, view: OwnershipView): Decision {
  const kind = req.kind.kind;
  if (kind !== 'Team' && kind !== 'Application') return allowed();
  const name = req.name ?? oldObject?.metadata?.name ?? '';
  const owner: ResourceRef = kind === 'Team' ? { kind, name } : { kind, name, namespace: req.namespace };
  const owned = view.ownedBy(owner);
  if (owned.length === 0) return allowed();
  const listed = owned
    .map(refText)
    .sort()
    .slice(0, 20);
  const more = owned.length > listed.length ? ` and ${owned.length - listed.length} more` : '';
  return denied(
    'OwnerHasDependents',
    `${kind} ${name} still owns ${owned.length} resource${owned.length === 1 ? '' : 's'}: ${listed.join(', ')}${more}; delete or re-create them under another owner first`,
  );
}

/** Dispatch by operation (STYLE §2). */
export function validateOwnership(req: AdmissionRequest, view: OwnershipView, options: OwnershipOptions = DEFAULT_OWNERSHIP_OPTIONS): Decision {
  if (req.kind.group !== GROUP) return allowed();
  switch (req.operation) {
    case 'CREATE':
      return validateCreate(req, req.object as KubeObject, view, options);
    case 'UPDATE':
      return validateUpdate(req, req.oldObject as KubeObject, req.object as KubeObject, view, options);
    case 'DELETE':
      return validateDelete(req, req.oldObject ?? undefined, view);
    default:
      return allowed();
  }
}
