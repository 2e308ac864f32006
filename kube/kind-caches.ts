// Informer caches of objects of arbitrary kinds named by apiVersion and kind (a Policy's
// paramKind): resolved by the apiserver's discovery document of that group/version, listed
// and watched raw, and kept only while someone wants the kind. A kind that is not served,
// may not be listed, or has not listed yet is an answer that says so, never a crash, and
// is retried at the next want().
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ApiStatusError, getJson } from './api-get.js';
import type { Clock } from './clock.js';
import { Watched } from './informers.js';

export interface KindKey {
  apiVersion: string;
  kind: string;
}

/** An object as the wire has it (timestamps as strings). */
export interface RawObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

export interface KindCachesOptions {
  kubeConfig: KubeConfig;
  clock: Clock;
  random: () => number;
  logger: Logger;
  /** An object of a wanted kind was added, changed or deleted. */
  onEvent?: (kind: KindKey, object: RawObject) => void;
}

interface Entry {
  namespaced: boolean;
  watched: Watched<RawObject>;
  /** listed: set after a list succeeded, cleared by a failed one. */
  state: { listed: boolean };
}

interface DiscoveryResources {
  resources?: { name: string; kind: string; namespaced: boolean; verbs?: string[] }[];
}

const keyOf = (k: KindKey): string => `${k.apiVersion}/${k.kind}`;

export class KindCaches {
  private readonly entries = new Map<string, Entry>();
  /** Wanted kinds without a cache, and why. */
  private readonly unavailable = new Map<string, string>();
  private tail: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: KindCachesOptions) {}

  /**
   * Makes the cached kinds exactly `kinds`; resolves when each new one has listed once (or
   * failed to). Calls are serialized.
   */
  want(kinds: readonly KindKey[]): Promise<void> {
    const next = this.tail.then(() => this.run(kinds));
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Whether objects of the kind are namespaced, or why they cannot be known now. */
  scope(kind: KindKey): { namespaced: boolean } | { error: string } {
    const e = this.entries.get(keyOf(kind));
    if (!e) return { error: this.unavailable.get(keyOf(kind)) ?? `${kind.kind} (${kind.apiVersion}) is not watched yet; retry in a few seconds` };
    if (!e.state.listed) return { error: `${kind.kind} (${kind.apiVersion}) objects are not synced yet (the last list failed); retry in a few seconds` };
    return { namespaced: e.namespaced };
  }

  /** The cached objects of the kind in one namespace ('' for a cluster-scoped kind). */
  list(kind: KindKey, namespace: string): readonly RawObject[] {
    const e = this.entries.get(keyOf(kind));
    if (!e) return [];
    return e.namespaced ? e.watched.list(namespace) : e.watched.list();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.tail;
    await Promise.all([...this.entries.values()].map((e) => e.watched.stop()));
    this.entries.clear();
  }

  private async run(kinds: readonly KindKey[]): Promise<void> {
    if (this.stopped) return;
    const wanted = new Map(kinds.map((k) => [keyOf(k), k]));
    for (const [key, e] of [...this.entries]) {
      if (wanted.has(key)) continue;
      await e.watched.stop();
      this.entries.delete(key);
    }
    for (const key of [...this.unavailable.keys()]) if (!wanted.has(key)) this.unavailable.delete(key);
    for (const [key, kind] of wanted) {
      if (this.entries.has(key) || this.stopped) continue;
      let reason: string | undefined;
      try {
        reason = await this.start(kind);
      } catch (err) {
        reason = `discovery of ${kind.apiVersion} failed: ${err instanceof Error ? err.message : String(err)}`;
      }
      if (reason === undefined) this.unavailable.delete(key);
      else {
        if (this.unavailable.get(key) !== reason) this.options.logger.warn({ kind: key, reason }, `cannot watch ${kind.kind} (${kind.apiVersion}): ${reason}`);
        this.unavailable.set(key, reason);
      }
    }
  }

  /** Starts the cache of one kind; a reason when it cannot be had. */
  private async start(kind: KindKey): Promise<string | undefined> {
    const { kubeConfig, clock, random, logger } = this.options;
    const base = kind.apiVersion.includes('/') ? `/apis/${kind.apiVersion}` : `/api/${kind.apiVersion}`;
    let doc: DiscoveryResources;
    try {
      doc = await getJson<DiscoveryResources>(kubeConfig, base);
    } catch (err) {
      if (err instanceof ApiStatusError && err.code === 404) return `the apiserver serves no ${kind.apiVersion}`;
      throw err;
    }
    const r = (doc.resources ?? []).find((x) => x.kind === kind.kind && !x.name.includes('/'));
    if (!r) return `the apiserver serves no kind ${kind.kind} in ${kind.apiVersion}`;
    const path = `${base}/${r.name}`;
    // The list callback outlives this call (every re-list after a failed watch), so it
    // reports into the entry through this holder.
    const state = { listed: false };
    let listError: unknown;
    const watched = new Watched<RawObject>({
      name: path,
      kubeConfig,
      path,
      clock,
      random,
      logger,
      list: async () => {
        try {
          const list = await getJson<KubernetesListObject<KubernetesObject>>(kubeConfig, path);
          listError = undefined;
          state.listed = true;
          return list;
        } catch (err) {
          listError = err;
          state.listed = false;
          throw err;
        }
      },
    });
    const entry: Entry = { namespaced: r.namespaced, watched, state };
    const onEvent = this.options.onEvent;
    if (onEvent) watched.on((o) => onEvent(kind, o));
    await watched.start();
    if (listError instanceof ApiStatusError && (listError.code === 403 || listError.code === 401)) {
      await watched.stop();
      return `forbidden to list ${r.name} (${kind.apiVersion}): grant get, list and watch on it`;
    }
    this.entries.set(keyOf(kind), entry);
    return undefined;
  }
}
