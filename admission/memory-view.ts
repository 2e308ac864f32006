// An OwnershipView over objects held in memory: for `kidp webhook serve --policies`
// (no cluster lookups), `kidp validate`, and tests. cluster-view.ts fills the same
// structure from informers.
import { ownerOf, type OwnershipView, type ResourceRef } from './ownership.js';
import type { KubeObject } from './review.js';

export class MemoryView implements OwnershipView {
  constructor(readonly authoritative = true) {}

  private readonly objects = new Map<string, KubeObject>();
  private readonly namespaces = new Map<string, Record<string, string>>();

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
  }

  remove(obj: KubeObject): void {
    const name = obj.metadata?.name;
    if (!obj.kind || !name) return;
    if (obj.kind === 'Namespace') this.namespaces.delete(name);
    else this.objects.delete(MemoryView.key(obj.kind, obj.metadata?.namespace, name));
  }

  team(name: string): KubeObject | undefined {
    return this.objects.get(MemoryView.key('Team', undefined, name));
  }

  application(namespace: string, name: string): KubeObject | undefined {
    return this.objects.get(MemoryView.key('Application', namespace, name));
  }

  namespaceLabels(name: string): Record<string, string> | undefined {
    return this.namespaces.get(name);
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
