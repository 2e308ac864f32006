// Informer caches of what the webhook needs to know about the cluster: Namespaces and
// KIDP objects (ownership), Policies and PolicyExceptions (the policy store). Requests are
// answered from these caches, never by an API call per request.
import { CoreV1Api, CustomObjectsApi, KubeConfig, makeInformer, type Informer, type KubernetesObject, type KubernetesListObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { MemoryView } from './memory-view.js';
import { kindsOfGroup } from '../crds/index.js';
import { PLATFORM_GROUP, PLATFORM_VERSION } from '../crds/registry.js';
import type { PolicyStore } from './policy-store.js';
import type { KubeObject } from './review.js';
import type { Policy, PolicyException } from '../crds/types.js';
import { KindCaches, systemClock } from '../kube/index.js';
import type { KubeObject as PolicyObject, ParamKind, ParamSource } from '../policy-engine/policy/index.js';

const GROUP = PLATFORM_GROUP;
const VERSION = PLATFORM_VERSION;
/** Watched KIDP kinds, plural → Kind: every kind of the group, from crds/. */
const KINDS: Record<string, string> = Object.fromEntries(kindsOfGroup(GROUP).map((k) => [k.plural, k.kind]));
/** An informer that failed (apiserver restart, expired watch) is restarted after this. */
const INFORMER_RESTART_DELAY_MS = 1_000;

export interface ClusterViewOptions {
  kubeConfig: KubeConfig;
  store: PolicyStore;
  logger: Logger;
  setTimer?: (fn: () => void, ms: number) => unknown;
}

export class ClusterView extends MemoryView implements ParamSource {
  private readonly informers: Informer<KubernetesObject>[] = [];
  /**
   * The Policies' param objects (paramKind), cached like everything else a review reads.
   * Not part of ready(): a kind not synced fails only the Policies that name it, closed.
   */
  private readonly paramCaches: KindCaches;
  private readonly namespaceObjects = new Map<string, KubeObject>();
  private stopped = false;
  /** Per informer: true once a list succeeded with no error since. */
  private readonly synced = new Map<string, boolean>();

  constructor(private readonly options: ClusterViewOptions) {
    super(true);
    this.paramCaches = new KindCaches({ kubeConfig: options.kubeConfig, clock: systemClock, random: Math.random, logger: options.logger });
  }

  scope(kind: ParamKind): { namespaced: boolean } | { error: string } {
    return this.paramCaches.scope(kind);
  }

  list(kind: ParamKind, namespace: string): readonly PolicyObject[] {
    return this.paramCaches.list(kind, namespace) as readonly PolicyObject[];
  }

  /** Brings the param caches to the kinds the Policies name; resolves when new ones have listed. */
  syncParamKinds(): Promise<void> {
    return this.paramCaches.want(this.options.store.paramKinds()).catch((err: unknown) => {
      this.options.logger.error({ err: String(err) }, 'could not update the param caches');
    });
  }

  namespaceObject(name: string): KubeObject | undefined {
    return this.namespaceObjects.get(name);
  }

  /** True while every informer has a successful list and no error since. */
  ready(): boolean {
    return this.synced.size === Object.keys(KINDS).length + 1 && [...this.synced.values()].every(Boolean);
  }

  private route(kind: string, event: 'add' | 'update' | 'delete', obj: KubernetesObject): void {
    const o = { ...(obj as KubeObject), kind };
    const { store } = this.options;
    if (kind === 'Policy') {
      if (event === 'delete') store.removePolicy(o.metadata?.name ?? '');
      else store.upsertPolicy(o as unknown as Policy);
      void this.syncParamKinds();
      return;
    }
    if (kind === 'PolicyException') {
      if (event === 'delete') store.removeException(o as unknown as PolicyException);
      else store.upsertException(o as unknown as PolicyException);
      return;
    }
    if (kind === 'Namespace') {
      if (event === 'delete') this.namespaceObjects.delete(o.metadata?.name ?? '');
      else this.namespaceObjects.set(o.metadata?.name ?? '', o);
    }
    if (event === 'delete') this.remove(o);
    else this.upsert(o);
  }

  private watch(kind: string, path: string, list: () => Promise<KubernetesListObject<KubernetesObject>>): Promise<void> {
    const informer = makeInformer(this.options.kubeConfig, path, list);
    informer.on('add', (o) => this.route(kind, 'add', o));
    informer.on('update', (o) => this.route(kind, 'update', o));
    informer.on('delete', (o) => this.route(kind, 'delete', o));
    const setTimer = this.options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    let failedDuringStart = false;
    const start = () => {
      failedDuringStart = false;
      return informer.start().then(() => {
        // client-node reports a failed list through 'error' and still resolves start().
        if (!failedDuringStart) this.synced.set(kind, true);
      });
    };
    informer.on('error', (err) => {
      failedDuringStart = true;
      this.synced.set(kind, false);
      if (this.stopped) return;
      this.options.logger.warn({ kind, err: String(err) }, 'informer failed; restarting');
      setTimer(() => {
        if (!this.stopped) start().catch(() => undefined);
      }, INFORMER_RESTART_DELAY_MS);
    });
    this.informers.push(informer);
    return start();
  }

  /** Starts every informer; resolves when each has listed once (or failed, then retries). */
  async start(): Promise<void> {
    const core = this.options.kubeConfig.makeApiClient(CoreV1Api);
    const custom = this.options.kubeConfig.makeApiClient(CustomObjectsApi);
    const starts = [this.watch('Namespace', '/api/v1/namespaces', () => core.listNamespace() as Promise<KubernetesListObject<KubernetesObject>>)];
    for (const [plural, kind] of Object.entries(KINDS)) {
      starts.push(
        this.watch(kind, `/apis/${GROUP}/${VERSION}/${plural}`, () =>
          custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural }) as Promise<KubernetesListObject<KubernetesObject>>,
        ),
      );
    }
    await Promise.all(starts);
    await this.syncParamKinds();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.informers.map((i) => i.stop()));
    await this.paramCaches.stop();
  }
}
