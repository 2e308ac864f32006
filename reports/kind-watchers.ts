// Informers on the kinds outside platform.kidp.io that the current Policies select,
// following the policy set live: a kind a Policy starts selecting is resolved by discovery
// and watched; a kind no Policy selects any more is no longer watched. A kind the
// apiserver does not serve, or that the controller may not list, is a logged warning
// (once per kind and reason), retried on every refresh (the rescan), never a crash.
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Watched, type Clock } from '../kube/index.js';
import type { KubeObject } from '../policy-engine/policy/index.js';
import { ApiReader, ApiStatusError, selectedKindOf, type ApiResource } from './api-resources.js';

export interface KindWatchersOptions {
  kubeConfig: KubeConfig;
  clock: Clock;
  random: () => number;
  logger: Logger;
  /** The resource types to watch now → the Policies selecting each (for the warnings). */
  wanted: () => ReadonlyMap<string, readonly string[]>;
  /** An object of a watched kind was added, changed or deleted (apiVersion and kind set). */
  onEvent: (object: KubeObject) => void;
  /** The set of watched kinds changed, and every new one holds its first list. */
  onChanged: () => void;
}

export interface WatchedKind {
  resource: ApiResource;
  watched: Watched<KubeObject>;
}

const RBAC_HINT = 'grant the reports controller get, list and watch on it (deploy/reports.yaml: a ClusterRole labelled platform.kidp.io/aggregate-to-reports-audit: "true")';

export class KindWatchers {
  private readonly reader: ApiReader;
  private readonly active = new Map<string, WatchedKind>();
  /** Kinds wanted but not watched, with the reason last logged. */
  private readonly unavailable = new Map<string, string>();
  private tail: Promise<void> = Promise.resolve();
  private queued: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: KindWatchersOptions) {
    this.reader = new ApiReader(options.kubeConfig);
  }

  /** The watched kinds, with their caches. */
  kinds(): readonly WatchedKind[] {
    return [...this.active.values()];
  }

  /** Wanted kinds not watched → why (not served, forbidden, discovery failed). */
  problems(): ReadonlyMap<string, string> {
    return this.unavailable;
  }

  /**
   * Brings the watched set to what `wanted()` says. Calls are serialized, and calls made
   * while one waits fold into it: a burst of Policy events is one refresh.
   */
  refresh(): Promise<void> {
    if (this.queued) return this.queued;
    const next = this.tail
      .then(async () => {
        this.queued = undefined;
        await this.run();
      })
      .catch((err: unknown) => {
        this.options.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'reports: could not update the watched kinds; retrying at the next rescan');
      });
    this.queued = next;
    this.tail = next;
    return next;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.tail;
    await Promise.all([...this.active.values()].map((k) => k.watched.stop()));
    this.active.clear();
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    const { logger } = this.options;
    const wanted = this.options.wanted();
    let changed = false;
    for (const [type, k] of [...this.active]) {
      if (wanted.has(type)) continue;
      await k.watched.stop();
      this.active.delete(type);
      changed = true;
      logger.info({ resourceType: type }, 'reports: no Policy selects this kind any more; stopped watching it');
    }
    for (const type of [...this.unavailable.keys()]) if (!wanted.has(type)) this.unavailable.delete(type);
    for (const [type, policies] of wanted) {
      if (this.active.has(type) || this.stopped) continue;
      const selected = selectedKindOf(type);
      if (!selected) continue;
      let reason: string | undefined;
      try {
        const resolution = await this.reader.resolve(selected);
        if (resolution.served) reason = await this.watch(resolution.resource);
        else reason = `${resolution.reason}; its objects are not audited until it is served`;
      } catch (err) {
        reason = `discovery failed: ${err instanceof Error ? err.message : String(err)}`;
      }
      if (reason === undefined) {
        changed = true;
        if (this.unavailable.delete(type)) logger.info({ resourceType: type }, 'reports: a selected kind that was unavailable is now watched');
        continue;
      }
      // Once per kind and reason: a rescan every 10 minutes must not repeat the same warning.
      if (this.unavailable.get(type) !== reason) logger.warn({ resourceType: type, policies, reason }, `reports: Policies select ${type}, which cannot be audited: ${reason}`);
      this.unavailable.set(type, reason);
    }
    if (changed) this.options.onChanged();
  }

  /** Starts an informer on one resource; a reason when its first list was refused. */
  private async watch(resource: ApiResource): Promise<string | undefined> {
    const { kubeConfig, clock, random, logger } = this.options;
    let listError: unknown;
    const watched = new Watched<KubeObject>({
      name: resource.path,
      kubeConfig,
      path: resource.path,
      clock,
      random,
      logger,
      list: async () => {
        try {
          const list = await this.reader.get<KubernetesListObject<KubernetesObject>>(resource.path);
          listError = undefined;
          return list;
        } catch (err) {
          listError = err;
          throw err;
        }
      },
    });
    // List items carry no apiVersion/kind; watch events carry the served ones. Set both alike.
    watched.on((o) => this.options.onEvent({ ...o, apiVersion: resource.apiVersion, kind: resource.kind }));
    await watched.start();
    if (listError instanceof ApiStatusError && (listError.code === 403 || listError.code === 401)) {
      await watched.stop();
      return `forbidden to list ${resource.plural} (${resource.apiVersion}): ${RBAC_HINT}`;
    }
    // Other list failures (an apiserver restart) are the informer's to retry with backoff.
    this.active.set(resource.resourceType, { resource, watched });
    logger.info({ resourceType: resource.resourceType, path: resource.path, objects: watched.list().length }, 'reports: watching a kind the Policies select');
    return undefined;
  }
}
