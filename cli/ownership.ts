// The ownership rules of DESIGN.md §3 that can be checked without a cluster, over the set
// of manifests given to `kidp validate`:
//   1. every kind but Team and DeploymentTarget (and the policy kinds) has spec.owner;
//   2. the owner's kind is allowed (Application -> Team; Service -> Application;
//      Database, Cache, Topic -> Application or Team);
//   3. the owner exists — checked only when it can be: an owner missing from the input may
//      exist in the cluster, so it is reported only with `requireOwners`;
//   4. a namespace that belongs to a team (label platform.kidp.io/team on a Namespace in the
//      input, or listed in a Team's spec.namespaces) only holds that team's resources, when
//      the resource's team can be resolved from the input (owner chain or team label).
// Not checked offline: immutability of spec.owner (needs the stored object) and deleting
// owners that still own resources (needs the cluster). The webhook in admission/ does those.

import type { KubeObject } from '../policy-engine/policy/types.js';

export const ALLOWED_OWNERS: Readonly<Record<string, readonly string[]>> = {
  Application: ['Team'],
  Service: ['Application'],
  Database: ['Application', 'Team'],
  Cache: ['Application', 'Team'],
  Topic: ['Application', 'Team'],
};

export const TEAM_LABEL = 'platform.kidp.io/team';
const PLATFORM_API = /^platform\.kidp\.io\//;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function ownerOf(obj: KubeObject): { kind: unknown; name: unknown } | undefined {
  const spec = obj.spec;
  if (!isRecord(spec) || !isRecord(spec.owner)) return undefined;
  return { kind: spec.owner.kind, name: spec.owner.name };
}

/** Index of the input set: what exists, and which team each namespace belongs to. */
export class InputIndex {
  private readonly byKey = new Map<string, KubeObject>();
  private readonly namespaceTeam = new Map<string, string>();

  constructor(objects: readonly KubeObject[]) {
    for (const o of objects) {
      const name = o.metadata?.name;
      if (typeof o.kind !== 'string' || typeof name !== 'string') continue;
      this.byKey.set(InputIndex.key(o.kind, o.metadata?.namespace ?? '', name), o);
      if (o.kind === 'Namespace' && o.apiVersion === 'v1') {
        const team = o.metadata?.labels?.[TEAM_LABEL];
        if (team) this.namespaceTeam.set(name, team);
      }
      if (o.kind === 'Team' && PLATFORM_API.test(String(o.apiVersion)) && isRecord(o.spec) && Array.isArray(o.spec.namespaces)) {
        for (const ns of o.spec.namespaces) if (typeof ns === 'string' && !this.namespaceTeam.has(ns)) this.namespaceTeam.set(ns, name);
      }
    }
  }

  static key(kind: string, namespace: string, name: string): string {
    return `${kind}/${namespace}/${name}`;
  }

  get(kind: string, namespace: string, name: string): KubeObject | undefined {
    return this.byKey.get(InputIndex.key(kind, namespace, name));
  }

  namespace(name: string): KubeObject | undefined {
    return this.get('Namespace', '', name);
  }

  teamOfNamespace(namespace: string): string | undefined {
    return this.namespaceTeam.get(namespace);
  }

  /** The team a resource belongs to, from its owner chain in the input or its team label. */
  teamOf(obj: KubeObject, depth = 0): string | undefined {
    if (obj.kind === 'Team') return obj.metadata?.name;
    const owner = ownerOf(obj);
    if (owner && typeof owner.kind === 'string' && typeof owner.name === 'string' && depth < 4) {
      if (owner.kind === 'Team') return owner.name;
      const found = this.get(owner.kind, obj.metadata?.namespace ?? '', owner.name);
      const team = found ? this.teamOf(found, depth + 1) : undefined;
      if (team) return team;
    }
    return obj.metadata?.labels?.[TEAM_LABEL];
  }
}

/** Ownership problems of one object; empty when it passes (or is not a KIDP kind that has an owner). */
export function ownershipProblems(obj: KubeObject, index: InputIndex, options: { requireOwners?: boolean } = {}): string[] {
  if (!PLATFORM_API.test(String(obj.apiVersion)) || typeof obj.kind !== 'string') return [];
  const allowed = ALLOWED_OWNERS[obj.kind];
  if (!allowed) return [];
  const problems: string[] = [];
  const namespace = obj.metadata?.namespace ?? '';
  const owner = ownerOf(obj);
  if (!owner) {
    return [`spec.owner is required: a ${obj.kind} is owned by ${allowed.join(' or ')}`];
  }
  if (typeof owner.kind !== 'string' || !allowed.includes(owner.kind)) {
    problems.push(`spec.owner.kind: a ${obj.kind} is owned by ${allowed.join(' or ')}, not ${JSON.stringify(owner.kind)}`);
  } else if (typeof owner.name !== 'string' || owner.name === '') {
    problems.push('spec.owner.name is required');
  } else {
    // Teams are cluster-scoped; Applications are looked up in the same namespace.
    const ownerNamespace = owner.kind === 'Team' ? '' : namespace;
    const found = index.get(owner.kind, ownerNamespace, owner.name);
    if (!found && options.requireOwners) {
      const where = ownerNamespace ? `${ownerNamespace}/${owner.name}` : owner.name;
      problems.push(`spec.owner: ${owner.kind} ${where} is not in the input`);
    }
  }
  const nsTeam = namespace ? index.teamOfNamespace(namespace) : undefined;
  const team = index.teamOf(obj);
  if (nsTeam && team && nsTeam !== team) {
    problems.push(`namespace ${namespace} belongs to team ${nsTeam}, but this ${obj.kind} belongs to team ${team}`);
  }
  return problems;
}
