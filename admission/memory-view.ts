// An OwnershipView over objects held in memory: for `kidp webhook serve --policies`
// (no cluster lookups), `kidp validate`, and tests. cluster-view.ts fills the same
// structure from informers.
import { ownerOf, type OwnershipView, type ResourceRef } from './ownership.js';
import type { KubeObject } from './review.js';

/** namespace → names, kept in step with the objects that say so (Teams, DeploymentTargets). */
class NamespaceIndex {
  private readonly byNamespace = new Map<string, Set<string>>();
  private readonly byName = new Map<string, readonly string[]>();

  set(name: string, namespaces: readonly string[]): void {
    this.delete(name);
    if (namespaces.length === 0) return;
    this.byName.set(name, namespaces);
    for (const ns of namespaces) {
      let names = this.byNamespace.get(ns);
      if (!names) this.byNamespace.set(ns, (names = new Set()));
      names.add(name);
    }
  }

  delete(name: string): void {
    for (const ns of this.byName.get(name) ?? []) {
      const names = this.byNamespace.get(ns);
      names?.delete(name);
      if (names?.size === 0) this.byNamespace.delete(ns);
    }
    this.byName.delete(name);
  }

  get(namespace: string): readonly string[] {
    const names = this.byNamespace.get(namespace);
    return names ? [...names] : [];
  }
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? [...new Set(v.filter((x): x is string => typeof x === 'string'))] : [];
}

export class MemoryView implements OwnershipView {
  constructor(readonly authoritative = true) {}

  private readonly objects = new Map<string, KubeObject>();
  private readonly namespaces = new Map<string, Record<string, string>>();
  private readonly claims = new NamespaceIndex();
  private readonly shares = new NamespaceIndex();
  private readonly targetNamespaces = new NamespaceIndex();

  private static key(kind: string, namespace: string | undefined, name: string): string {
    return `${kind}/${namespace ?? ''}/${name}`;
  }

  /** Adds or replaces an object; Namespaces are kept for their labels. */
  upsert(obj: KubeObject): void {
    const name = obj.metadata?.name;
    if (!obj.kind || !name) return;
    if (obj.kind === 'Namespace' && (obj.apiVersion ?? 'v1') === 'v1') {
      this.namespaces.set(name, obj.metadata?.labels ?? {});
      return;
    }
    this.objects.set(MemoryView.key(obj.kind, obj.metadata?.namespace, name), obj);
    if (obj.kind === 'Team') {
      this.claims.set(name, strings(obj.spec?.namespaces));
      this.shares.set(name, strings(obj.spec?.sharedNamespaces));
    } else if (obj.kind === 'DeploymentTarget') {
      this.targetNamespaces.set(name, strings([obj.spec?.namespace]));
    }
  }

  remove(obj: KubeObject): void {
    const name = obj.metadata?.name;
    if (!obj.kind || !name) return;
    if (obj.kind === 'Namespace') {
      this.namespaces.delete(name);
      return;
    }
    this.objects.delete(MemoryView.key(obj.kind, obj.metadata?.namespace, name));
    if (obj.kind === 'Team') {
      this.claims.delete(name);
      this.shares.delete(name);
    } else if (obj.kind === 'DeploymentTarget') {
      this.targetNamespaces.delete(name);
    }
  }

  team(name: string): KubeObject | undefined {
    return this.objects.get(MemoryView.key('Team', undefined, name));
  }

  application(namespace: string, name: string): KubeObject | undefined {
    return this.objects.get(MemoryView.key('Application', namespace, name));
  }

  target(name: string): KubeObject | undefined {
    return this.objects.get(MemoryView.key('DeploymentTarget', undefined, name));
  }

  namespaceLabels(name: string): Record<string, string> | undefined {
    return this.namespaces.get(name);
  }

  teamsClaiming(namespace: string): readonly string[] {
    return this.claims.get(namespace);
  }

  teamsSharing(namespace: string): readonly string[] {
    return this.shares.get(namespace);
  }

  targetsInNamespace(namespace: string): readonly string[] {
    return this.targetNamespaces.get(namespace);
  }

  defaultTarget(environment: string): string | undefined {
    const names: string[] = [];
    for (const obj of this.objects.values()) {
      const spec = obj.spec as { environment?: unknown; default?: unknown } | undefined;
      if (obj.kind === 'DeploymentTarget' && spec?.default === true && spec.environment === environment) names.push(obj.metadata?.name ?? '');
    }
    // Several defaults for one environment is a misconfiguration; pick deterministically.
    return names.sort()[0];
  }

  ownedBy(owner: ResourceRef): ResourceRef[] {
    const out: ResourceRef[] = [];
    for (const obj of this.objects.values()) {
      const o = ownerOf(obj);
      if (!o || o.kind !== owner.kind || o.name !== owner.name) continue;
      if (owner.kind === 'Application' && obj.metadata?.namespace !== owner.namespace) continue;
      out.push({ kind: obj.kind ?? '', namespace: obj.metadata?.namespace, name: obj.metadata?.name ?? '' });
    }
    return out;
  }
}
