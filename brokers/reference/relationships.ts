// Relationships end to end (issue 15 item 4): a Service whose spec.dependencies.databaseSelector
// matches Databases gets their connection Secrets mounted (envFrom, one prefix per database)
// in the Deployment this broker renders. Which Databases match is the rule the controllers
// use for the Service's status.databaseConnectionSecretRefs (selectedDatabases below).
//
// Labels change without any request (a Database's labels are not the Service's spec), so
// besides each Service deploy the broker re-checks every Deployment it rendered for a
// Service with a selector every RELATIONSHIP_RESYNC_MS: a newly matching Database is
// mounted and one that stopped matching or disappeared is unmounted within that period.
// The envFrom list has its own field manager, so re-applying the Deployment for a request
// (which never sets envFrom) leaves it alone, and the resync touches nothing else.
import { AppsV1Api, CustomObjectsApi, KubernetesObjectApi, PatchStrategy, type KubeConfig, type V1Deployment } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { DeployableObject } from '../status-handler.js';
import { namespaceRefusal, type PlacementConfig } from './confinement.js';
import { ANNOTATION_DATABASE_SELECTOR, ANNOTATION_SOURCE, FIELD_MANAGER } from './manifests.js';

export { ANNOTATION_DATABASE_SELECTOR };

export const RELATIONSHIPS_FIELD_MANAGER = `${FIELD_MANAGER}-relationships`;
/** Well inside the one-minute drift target of issue 15 item 4, at one list per Deployment namespace per period. */
export const RELATIONSHIP_RESYNC_MS = 15_000;
const CONTAINER = 'app';

export interface DatabaseConnectionRef {
  database: string;
  name: string;
  namespace: string;
}

/**
 * The Databases a selector mounts: the rule controllers/ applies to a Service's
 * status.databaseConnectionSecretRefs (Ready, not being deleted, this namespace, labels
 * match, with a connection Secret), sorted by name. Restated here because brokers/ does not
 * import controllers/; the e2e test holds the two to the same Databases.
 */
export function selectedDatabases(selector: Record<string, string>, namespace: string, databases: readonly DeployableObject[]): DatabaseConnectionRef[] {
  return databases
    .filter((db) => db.metadata.namespace === namespace && !db.metadata.deletionTimestamp && db.status?.phase === 'Ready')
    .filter((db) => Object.entries(selector).every(([k, v]) => db.metadata.labels?.[k] === v))
    .flatMap((db) => {
      const ref = db.status?.connectionSecretRef;
      return ref?.name && ref.namespace ? [{ database: db.metadata.name, name: ref.name, namespace: ref.namespace }] : [];
    })
    .sort((a, b) => (a.database < b.database ? -1 : a.database > b.database ? 1 : 0));
}

export interface EnvFromSource {
  prefix: string;
  secretRef: { name: string };
}

/** `orders-db` → `ORDERS_DB_`: each database's keys (HOST, PORT, PASSWORD, URI, ...) under its own prefix. */
export function envPrefix(database: string): string {
  return `${database.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_`;
}

/**
 * Pure: the envFrom list for a Deployment in `namespace`. A Secret in another namespace
 * cannot be mounted (a Pod reads only its own namespace's Secrets); it is listed as skipped.
 */
export function envFromFor(refs: readonly DatabaseConnectionRef[], namespace: string): { envFrom: EnvFromSource[]; skipped: DatabaseConnectionRef[] } {
  const envFrom: EnvFromSource[] = [];
  const skipped: DatabaseConnectionRef[] = [];
  for (const ref of refs) {
    if (ref.namespace === namespace) envFrom.push({ prefix: envPrefix(ref.database), secretRef: { name: ref.name } });
    else skipped.push(ref);
  }
  return { envFrom, skipped };
}

export interface RelationshipsOptions {
  kubeConfig: KubeConfig;
  placement: PlacementConfig;
  logger: Logger;
  resyncMs?: number;
}

export class Relationships {
  private readonly apps: AppsV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly objects: KubernetesObjectApi;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: RelationshipsOptions) {
    this.apps = options.kubeConfig.makeApiClient(AppsV1Api);
    this.custom = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.objects = KubernetesObjectApi.makeApiClient(options.kubeConfig);
  }

  /** Mounts what `selector` matches now into Deployment `namespace/name` (of Service `sourceNamespace/...`); returns the databases mounted. */
  async sync(deployment: { namespace: string; name: string; sourceNamespace: string; selector: Record<string, string> | undefined; current?: V1Deployment }): Promise<{ mounted: string[]; skipped: DatabaseConnectionRef[] }> {
    let refs: DatabaseConnectionRef[] = [];
    if (deployment.selector) {
      const databases = ((await this.custom.listNamespacedCustomObject({ group: 'platform.kidp.io', version: 'v1alpha1', namespace: deployment.sourceNamespace, plural: 'databases' })) as { items: DeployableObject[] }).items;
      refs = selectedDatabases(deployment.selector, deployment.sourceNamespace, databases);
    }
    const { envFrom, skipped } = envFromFor(refs, deployment.namespace);
    const now = deployment.current?.spec?.template.spec?.containers.find((c) => c.name === CONTAINER)?.envFrom ?? [];
    if (deployment.current && JSON.stringify(now) === JSON.stringify(envFrom)) return { mounted: refs.filter((r) => !skipped.includes(r)).map((r) => r.database), skipped };
    await this.objects.patch(
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: deployment.name, namespace: deployment.namespace }, spec: { template: { spec: { containers: [{ name: CONTAINER, envFrom }] } } } } as never,
      undefined,
      undefined,
      RELATIONSHIPS_FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
    return { mounted: refs.filter((r) => !skipped.includes(r)).map((r) => r.database), skipped };
  }

  /** One pass over every Deployment this broker rendered for a Service with a databaseSelector, in namespaces it may write. */
  async resync(): Promise<void> {
    const labelSelector = `app.kubernetes.io/managed-by=${FIELD_MANAGER},platform.kidp.io/kind=Service`;
    // Exact placement namespaces are listed one by one (a broker granted only those, as
    // deploy/ does, can); a PREFIX* placement needs the cluster-wide list.
    const patterns = this.options.placement.namespaces;
    const items = patterns.some((p) => p.endsWith('*'))
      ? (await this.apps.listDeploymentForAllNamespaces({ labelSelector })).items
      : (await Promise.all(patterns.map((namespace) => this.apps.listNamespacedDeployment({ namespace, labelSelector }).then((l) => l.items, () => [])))).flat();
    for (const d of items) {
      const namespace = d.metadata?.namespace ?? '';
      const name = d.metadata?.name ?? '';
      const selectorJson = d.metadata?.annotations?.[ANNOTATION_DATABASE_SELECTOR];
      const source = /^Service\/([^/]+)\//.exec(d.metadata?.annotations?.[ANNOTATION_SOURCE] ?? '')?.[1];
      if (!source || namespaceRefusal(namespace, this.options.placement)) continue;
      const hasMounts = (d.spec?.template.spec?.containers.find((c) => c.name === CONTAINER)?.envFrom ?? []).length > 0;
      if (!selectorJson && !hasMounts) continue;
      try {
        const selector = selectorJson ? (JSON.parse(selectorJson) as Record<string, string>) : undefined;
        await this.sync({ namespace, name, sourceNamespace: source, selector, current: d });
      } catch (err) {
        this.options.logger.warn({ deployment: `${namespace}/${name}`, err: (err as Error).message }, 'could not re-check the databases of a Service');
      }
    }
  }

  start(): void {
    const period = this.options.resyncMs ?? RELATIONSHIP_RESYNC_MS;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.resync()
        .catch((err: unknown) => this.options.logger.warn({ err: (err as Error).message }, 'relationship resync failed'))
        .finally(() => (this.running = undefined));
    }, period);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
