// Kinds outside platform.kidp.io that Policies select (issue #6: Deployment.apps, Pod,
// ConfigMap, ...): from a Policy's resource type to the API resource that serves it, by
// the apiserver's discovery documents, and raw JSON reads of it. Raw rather than
// client-node's typed lists, because those turn timestamps into Dates and drop fields the
// generated models do not know; a policy sees an object exactly as admission does.
import type { KubeConfig } from '@kubernetes/client-node';
import { ApiStatusError, getJson } from '../kube/index.js';
import { PLATFORM_GROUP, PLATFORM_KINDS } from '../policy-engine/policy/index.js';
import { REPORTS_GROUP } from '../crds/registry.js';

/** Kinds the controller already watches for its own reasons, or writes itself: never a selected kind. */
const NOT_SELECTED_KINDS: ReadonlySet<string> = new Set(['Namespace']);
/** KIDP's own output: auditing it would make every report write a reason to rescan. */
const OWN_OUTPUT_GROUP = REPORTS_GROUP;

/**
 * Namespaces whose objects of selected kinds are not audited: the core-kind webhook excludes
 * them too (admission/webhook-config.ts), so admission never judges what is there.
 */
export const DEFAULT_EXCLUDED_NAMESPACES: readonly string[] = ['kube-system', 'kidp-system'];

/** A Policy's resource type (`Pod`, `Service.core`, `Deployment.apps`) as group and kind. */
export interface SelectedKind {
  resourceType: string;
  group: string;
  kind: string;
}

/**
 * The inverse of policy-engine's resourceTypeOf for kinds outside platform.kidp.io:
 * `Kind` is the core group, `Kind.core` the core kind whose name a platform kind shares
 * (Service), `Kind.group` any other group. Undefined for platform kinds, Namespace and the
 * report kinds, which the controller handles on its own.
 */
export function selectedKindOf(resourceType: string): SelectedKind | undefined {
  const dot = resourceType.indexOf('.');
  const kind = dot < 0 ? resourceType : resourceType.slice(0, dot);
  const suffix = dot < 0 ? '' : resourceType.slice(dot + 1);
  if (dot < 0 && PLATFORM_KINDS.has(kind)) return undefined;
  const group = suffix === 'core' ? '' : suffix;
  if (group === PLATFORM_GROUP || group === OWN_OUTPUT_GROUP) return undefined;
  if (group === '' && NOT_SELECTED_KINDS.has(kind)) return undefined;
  return { resourceType, group, kind };
}

/** Resource types outside platform.kidp.io that the given Policies select → the Policies selecting each. */
export function selectedKinds(policies: readonly { name: string; resourceTypes: ReadonlySet<string> }[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of policies) {
    for (const t of p.resourceTypes) {
      if (!selectedKindOf(t)) continue;
      out.set(t, [...(out.get(t) ?? []), p.name]);
    }
  }
  return out;
}

/** Where a selected kind is served. */
export interface ApiResource {
  resourceType: string;
  /** `v1`, `apps/v1`: what objects of this kind carry (the group's preferred version). */
  apiVersion: string;
  kind: string;
  /** `deployments`, `pods`. */
  plural: string;
  namespaced: boolean;
  /** Collection path across all namespaces: `/apis/apps/v1/deployments`. */
  path: string;
}

export { ApiStatusError };

export type Resolution = { served: true; resource: ApiResource } | { served: false; reason: string };

interface DiscoveryGroup {
  preferredVersion?: { groupVersion?: string };
  versions?: { groupVersion?: string }[];
}
interface DiscoveryResources {
  resources?: { name: string; kind: string; namespaced: boolean; verbs?: string[] }[];
}

/**
 * Picks a kind out of discovery documents (pure): the group's preferred version, the
 * top-level resource (not a subresource such as `deployments/status`) of that kind, which
 * must allow list and watch.
 */
export function resolveFrom(selected: SelectedKind, apiVersion: string, resources: DiscoveryResources): Resolution {
  const r = (resources.resources ?? []).find((x) => x.kind === selected.kind && !x.name.includes('/'));
  if (!r) return { served: false, reason: `the apiserver serves no kind ${selected.kind} in ${apiVersion}` };
  const verbs = new Set(r.verbs ?? []);
  if (!verbs.has('list') || !verbs.has('watch')) return { served: false, reason: `${r.name} in ${apiVersion} cannot be listed and watched (verbs: ${[...verbs].join(', ') || 'none'})` };
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return { served: true, resource: { resourceType: selected.resourceType, apiVersion, kind: selected.kind, plural: r.name, namespaced: r.namespaced, path: `${base}/${r.name}` } };
}

export class ApiReader {
  constructor(private readonly kubeConfig: KubeConfig) {}

  /** One GET of a JSON document; an error status throws ApiStatusError. */
  get<T>(path: string): Promise<T> {
    return getJson<T>(this.kubeConfig, path);
  }

  /** The API resource serving a selected kind, or why there is none. Throws only when discovery itself fails. */
  async resolve(selected: SelectedKind): Promise<Resolution> {
    let apiVersion = 'v1';
    if (selected.group !== '') {
      try {
        const group = await this.get<DiscoveryGroup>(`/apis/${selected.group}`);
        apiVersion = group.preferredVersion?.groupVersion ?? group.versions?.[0]?.groupVersion ?? '';
      } catch (err) {
        if (err instanceof ApiStatusError && err.code === 404) return { served: false, reason: `the apiserver serves no API group ${selected.group}` };
        throw err;
      }
      if (!apiVersion) return { served: false, reason: `API group ${selected.group} has no version` };
    }
    const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    return resolveFrom(selected, apiVersion, await this.get<DiscoveryResources>(path));
  }
}
