// Informer caches (list + watch) from @kubernetes/client-node, restarted with one policy
// (INFORMER_BACKOFF) when the watch fails (apiserver restart, expired resourceVersion). Handlers receive objects;
// what they enqueue are keys (STYLE §3).
import { makeInformer, type Informer, type ObjectCache, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import type { Clock, Timer } from './clock.js';

/**
 * Restart backoff of a failed watch: an apiserver restart takes seconds, so start at half a
 * second; never wait more than 30 s, or the cache goes stale for too long.
 */
export const INFORMER_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 30_000, factor: 2, jitter: 0.2 };

export type Handler<T> = (obj: T, event: 'add' | 'update' | 'delete') => void;

export interface WatchedOptions {
  name: string;
  kubeConfig: KubeConfig;
  path: string;
  list: () => Promise<KubernetesListObject<KubernetesObject>>;
  clock: Clock;
  random: () => number;
  logger: Logger;
}

/**
 * `T` is the KIDP view of the object (crds/types.ts: timestamps as strings, as on the wire);
 * client-node's KubernetesObject types them as Date, which they never are in a watch of a CR.
 */
export class Watched<T> {
  private readonly informer: Informer<KubernetesObject> & ObjectCache<KubernetesObject>;
  private readonly handlers: Handler<T>[] = [];
  private failures = 0;
  private restart: Timer | undefined;
  private stopped = false;

  constructor(private readonly options: WatchedOptions) {
    this.informer = makeInformer<KubernetesObject>(options.kubeConfig, options.path, options.list);
    for (const event of ['add', 'update', 'delete'] as const) {
      this.informer.on(event, (obj: KubernetesObject) => {
        for (const h of this.handlers) h(obj as T, event);
      });
    }
    this.informer.on('connect', () => {
      this.failures = 0;
    });
    this.informer.on('error', (err: unknown) => {
      if (this.stopped) return;
      this.failures += 1;
      const delay = backoffDelay(this.failures, options.random, INFORMER_BACKOFF);
      options.logger.warn({ informer: options.name, err: String(err), failures: this.failures, retryInMs: delay }, 'watch failed; restarting');
      this.restart = options.clock.setTimer(() => {
        if (!this.stopped) this.informer.start().catch(() => undefined);
      }, delay);
    });
  }

  on(handler: Handler<T>): void {
    this.handlers.push(handler);
  }

  /** Every cached object, or those of one namespace (indexed by the cache, no scan). */
  list(namespace?: string): readonly T[] {
    return this.informer.list(namespace) as readonly T[];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.informer.get(name, namespace) as T | undefined;
  }

  /** Resolves after the first list: the cache holds everything that existed then. */
  start(): Promise<void> {
    return this.informer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.restart?.cancel();
    await this.informer.stop();
  }
}
