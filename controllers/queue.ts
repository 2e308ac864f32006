// The work queue (STYLE §3, after client-go's workqueue): items are keys (`namespace/name`
// or `name`), never events. A key waits at most once (dedupe); a key being processed is
// never handed to a second worker, and an add during processing is coalesced into one
// re-run after `done`. Failures back off per key, exponentially with jitter.
import { backoffDelay, DEFAULT_BACKOFF, systemClock, type BackoffPolicy, type Clock, type Timer } from '../kube/index.js';

export interface WorkQueueOptions {
  clock?: Clock;
  random?: () => number;
  backoff?: BackoffPolicy;
}

interface Waiting {
  dueAt: number;
  timer: Timer;
}

export class WorkQueue {
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly backoff: BackoffPolicy;
  /** Keys ready for a worker, in order. */
  private readonly ready: string[] = [];
  /** Keys that need (another) run: queued in `ready`, or to re-run after their current one. */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, Waiting>();
  private readonly failureCounts = new Map<string, number>();
  private readonly getters: Array<(key: string | undefined) => void> = [];
  private readonly idleWaiters: Array<() => void> = [];
  private shuttingDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    // Re-queued by done() once the current run ends: per-key serialization.
    if (this.processing.has(key)) return;
    const getter = this.getters.shift();
    if (getter) {
      this.dirty.delete(key);
      this.processing.add(key);
      getter(key);
    } else {
      this.ready.push(key);
    }
  }

  /** Adds `key` after `ms`; an earlier pending deadline for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const dueAt = this.clock.now() + ms;
    const waiting = this.delayed.get(key);
    if (waiting && waiting.dueAt <= dueAt) return;
    waiting?.timer.cancel();
    const timer = this.clock.setTimer(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { dueAt, timer });
  }

  /** Re-adds `key` after its next backoff delay; returns that delay. */
  addRateLimited(key: string): number {
    const failures = (this.failureCounts.get(key) ?? 0) + 1;
    this.failureCounts.set(key, failures);
    const delay = backoffDelay(failures, this.random, this.backoff);
    this.addAfter(key, delay);
    return delay;
  }

  /** The key succeeded: its next failure starts from the base delay again. */
  forget(key: string): void {
    this.failureCounts.delete(key);
  }

  failures(key: string): number {
    return this.failureCounts.get(key) ?? 0;
  }

  /** The next key for a worker; undefined once the queue shuts down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.ready.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** The worker finished `key`; a re-add that arrived meanwhile is queued now. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.shuttingDown) {
      this.dirty.delete(key);
      this.add(key);
    }
    if (this.processing.size === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Keys waiting for a worker (not counting delayed or in-flight keys). */
  len(): number {
    return this.ready.length;
  }

  inFlight(): number {
    return this.processing.size;
  }

  /** Keys added with a delay (addAfter, backoff) whose time has not come yet. */
  delayedKeys(): string[] {
    return [...this.delayed.keys()];
  }

  /**
   * Stops handing out keys and drops what waits (the next leader lists everything
   * again); resolves once every key in flight is done.
   */
  async shutDown(): Promise<void> {
    this.shuttingDown = true;
    for (const w of this.delayed.values()) w.timer.cancel();
    this.delayed.clear();
    this.ready.length = 0;
    this.dirty.clear();
    for (const g of this.getters.splice(0)) g(undefined);
    if (this.processing.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }
}
