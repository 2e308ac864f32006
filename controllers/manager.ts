// One controller per kind: a work queue, N workers, and a reconcile that reads the caches,
// computes actions with a pure reconciler and hands them to the applier (STYLE §3).
import type { Logger } from 'pino';
import type { Action } from './actions.js';
import type { Applier } from './apply.js';
import { ConflictError, TerminalError } from './errors.js';
import type { ControllerMetrics, ReconcileResult } from './metrics.js';
import type { BackoffPolicy, Clock } from '../kube/index.js';
import { WorkQueue } from './queue.js';

export interface KindController {
  kind: string;
  /** The actions for `key` from the caches; undefined when the object is gone. */
  compute(key: string): Action[] | undefined;
  /** What a terminal error leaves in status; empty when the kind records none. */
  terminal(key: string, error: TerminalError): Action[];
  /** Every key in the cache, for resync and for a new leader. */
  keys(): string[];
}

export interface ControllerOptions {
  workers: number;
  clock: Clock;
  random: () => number;
  backoff?: BackoffPolicy;
  applier: Applier;
  metrics: ControllerMetrics;
  logger: Logger;
}

export class Controller {
  private readonly queue: WorkQueue;
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly kind: KindController,
    private readonly options: ControllerOptions,
  ) {
    this.queue = new WorkQueue({ clock: options.clock, random: options.random, ...(options.backoff ? { backoff: options.backoff } : {}) });
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Adds `key` after `ms` (an earlier pending deadline for it wins): coalesces bursts of triggers. */
  enqueueAfter(key: string, ms: number): void {
    this.queue.addAfter(key, ms);
  }

  start(): void {
    for (let i = 0; i < this.options.workers; i++) this.loops.push(this.work());
  }

  /** Stops taking keys and waits for the ones in flight (graceful shutdown, or lost leadership). */
  async stop(): Promise<void> {
    await this.queue.shutDown();
    await Promise.all(this.loops);
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.reconcile(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async reconcile(key: string): Promise<void> {
    const { kind } = this.kind;
    const log = this.options.logger.child({ correlationId: `${kind}/${key}`, kind, key });
    const started = this.options.clock.now();
    let result: ReconcileResult = 'success';
    try {
      const actions = this.kind.compute(key);
      if (actions === undefined) {
        this.queue.forget(key);
        return;
      }
      const applied = await this.options.applier.apply(actions, log);
      this.queue.forget(key);
      if (applied.requeueAfterMs !== undefined) {
        result = 'requeue';
        this.queue.addAfter(key, applied.requeueAfterMs);
      }
    } catch (err) {
      if (err instanceof TerminalError) {
        result = 'terminal';
        log.error({ err: err.message, reason: err.reason }, 'terminal error; recorded in status, not retried');
        this.queue.forget(key);
        try {
          await this.options.applier.apply(this.kind.terminal(key, err), log);
        } catch (recordErr) {
          log.error({ err: String(recordErr) }, 'could not record the terminal error');
        }
        return;
      }
      result = 'error';
      const delay = this.queue.addRateLimited(key);
      // Conflicts are routine (the status handler writes the same objects): debug, not warn.
      const level = err instanceof ConflictError ? 'debug' : 'warn';
      log[level]({ err: err instanceof Error ? err.message : String(err), retryInMs: delay, failures: this.queue.failures(key) }, 'reconcile failed; retrying with backoff');
    } finally {
      this.options.metrics.reconcileDuration.observe({ kind, result }, (this.options.clock.now() - started) / 1000);
    }
  }
}
