// The ownership rules of DESIGN.md §3, enforced at admission. Pure functions of the
// request and an OwnershipView (what the cluster holds, read from informer caches in
// cluster-view.ts, or from files in memory-view.ts); no API call per request.
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
}

export function ownerOf(obj: KubeObject | null | undefined): OwnerRef | undefined {
  const owner = obj?.spec?.owner as { kind?: unknown; name?: unknown } | undefined;
  if (!owner || typeof owner.kind !== 'string' || typeof owner.name !== 'string') return undefined;
  return { kind: owner.kind, name: owner.name };
}

function refText(r: ResourceRef): string {
  return `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`;
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

function ownedKind(kind: string): boolean {
  return (OWNED_KINDS as readonly string[]).includes(kind);
}

/** CREATE: the owner is of an allowed kind, exists, and fits the namespace's team. */
export function validateCreate(req: AdmissionRequest, object: KubeObject, view: OwnershipView): Decision {
  const kind = req.kind.kind;
  if (!ownedKind(kind)) return allowed();
  const name = object.metadata?.name ?? req.name ?? '';
  const namespace = req.namespace ?? object.metadata?.namespace;
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
  return checkTeamNamespace(kind, name, object, namespace, view);
}

function checkTeamNamespace(kind: string, name: string, object: KubeObject, namespace: string | undefined, view: OwnershipView): Decision {
  if (!namespace) return allowed();
  const namespaceTeam = view.namespaceLabels(namespace)?.[TEAM_LABEL];
  if (!namespaceTeam) return allowed();
  const team = teamOf(object, namespace, view);
  if (team !== namespaceTeam) {
    return denied(
      'CrossTeamOwner',
      `${kind} ${name}: namespace ${namespace} belongs to team ${namespaceTeam}, but this ${kind} belongs to team ${team ?? '(unknown)'} through spec.owner ${ownerOf(object)?.kind}/${ownerOf(object)?.name}; create it in a namespace of team ${team ?? '(unknown)'} or change spec.owner`,
    );
  }
  return allowed();
}

/** UPDATE: spec.owner never changes. */
export function validateUpdate(req: AdmissionRequest, oldObject: KubeObject, object: KubeObject): Decision {
  const kind = req.kind.kind;
  if (!ownedKind(kind)) return allowed();
  const before = ownerOf(oldObject);
  const after = ownerOf(object);
  if (before?.kind !== after?.kind || before?.name !== after?.name) {
    const text = (o: OwnerRef | undefined) => (o ? `${o.kind}/${o.name}` : '(none)');
    return denied(
      'OwnerImmutable',
      `${kind} ${object.metadata?.name ?? req.name}: spec.owner is immutable (was ${text(before)}, now ${text(after)}); to move it, delete the ${kind} and create it again under the new owner`,
    );
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
export function validateOwnership(req: AdmissionRequest, view: OwnershipView): Decision {
  if (req.kind.group !== GROUP) return allowed();
  switch (req.operation) {
    case 'CREATE':
      return validateCreate(req, req.object as KubeObject, view);
    case 'UPDATE':
      return validateUpdate(req, req.oldObject as KubeObject, req.object as KubeObject);
    case 'DELETE':
      return validateDelete(req, req.oldObject ?? undefined, view);
    default:
      return allowed();
  }
}
