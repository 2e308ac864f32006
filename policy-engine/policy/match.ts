// Which requests a Policy (or a PolicyException) applies to, before any CEL runs.
// Label selectors follow Kubernetes semantics:
// https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors

import { PLATFORM_GROUP, PLATFORM_KINDS as KINDS_OF_PLATFORM } from '../../crds/registry.js';
import type { GroupVersionKind, KubeObject, LabelSelector, LabelSelectorRequirement, Operation } from './types.js';

export { PLATFORM_GROUP };

/** The kinds of platform.kidp.io (DESIGN.md §3), from crds/registry.ts. */
export const PLATFORM_KINDS: ReadonlySet<string> = new Set(KINDS_OF_PLATFORM.map((k) => k.kind));

/**
 * The name a selector uses for a kind: `Kind` for platform.kidp.io and the core group,
 * `Kind.group` otherwise (`Deployment.apps`), as DESIGN.md §4 says. A core kind whose name
 * is also a platform kind (only `Service`) is `Kind.core`, so that `Service` means one
 * thing and a policy typed against the platform Service never sees a core Service.
 */
export function resourceTypeOf(gvk: Pick<GroupVersionKind, 'group' | 'kind'>): string {
  if (gvk.group === PLATFORM_GROUP) return gvk.kind;
  if (gvk.group === '') return PLATFORM_KINDS.has(gvk.kind) ? `${gvk.kind}.core` : gvk.kind;
  return `${gvk.kind}.${gvk.group}`;
}

/** Group/version/kind from an object's apiVersion and kind. */
export function gvkOf(obj: KubeObject): GroupVersionKind {
  const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  return { group, version, kind: typeof obj.kind === 'string' ? obj.kind : '' };
}

export const DEFAULT_OPERATIONS: readonly Operation[] = ['CREATE', 'UPDATE'];

function requirementMatches(req: LabelSelectorRequirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, req.key);
  switch (req.operator) {
    case 'In':
      return has && (req.values ?? []).includes(labels[req.key] as string);
    case 'NotIn':
      // Kubernetes: NotIn also matches objects that lack the key.
      return !has || !(req.values ?? []).includes(labels[req.key] as string);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    default:
      // An operator we do not know selects nothing: safer than selecting everything.
      return false;
  }
}

/**
 * metav1.LabelSelector semantics: all matchLabels and all matchExpressions must hold; an
 * empty or absent selector matches everything.
 */
export function labelSelectorMatches(
  selector: LabelSelector | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  if (!selector) return true;
  const actual = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (actual[key] !== value) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    if (!requirementMatches(req, actual)) return false;
  }
  return true;
}

/** `names` entries are exact names or `prefix*`. */
export function nameMatches(patterns: readonly string[], name: string): boolean {
  return patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : p === name));
}

/** Problems in a selector that would make it silently match the wrong things. */
export function labelSelectorProblems(selector: LabelSelector | undefined, where: string): string[] {
  const problems: string[] = [];
  for (const [i, req] of (selector?.matchExpressions ?? []).entries()) {
    const at = `${where}.matchExpressions[${i}]`;
    if (typeof req?.key !== 'string' || req.key === '') problems.push(`${at}.key must be a non-empty string`);
    const values = req?.values ?? [];
    switch (req?.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) problems.push(`${at}: operator ${req.operator} needs at least one value`);
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) problems.push(`${at}: operator ${req.operator} takes no values`);
        break;
      default:
        problems.push(`${at}.operator must be one of In, NotIn, Exists, DoesNotExist (got ${JSON.stringify(req?.operator)})`);
    }
  }
  return problems;
}
