// One controller: a work queue, N workers, and a reconcile per key, with per-key backoff,
// terminal errors, duration metrics and a logger per key (STYLE §3). The KIDP kinds'
// reconcilers are pure (compute actions from the caches, then the applier runs them:
// appliedReconciler); the reports controller reconciles report scopes on the same machinery.
import type { Logger } from 'pino';
import type { BackoffPolicy, Clock } from '../kube/index.js';
import type { Action } from './actions.js';
import type { Applier } from './apply.js';
import { ConflictError, TerminalError } from './errors.js';
import type { ReconcileResult } from './metrics.js';
import { WorkQueue } from './queue.js';

export interface ReconcileOutcome {
  /** Reconcile the key again after this long (a deadline, not a failure). */
  requeueAfterMs?: number;
}

export interface Reconciler {
  /** Names the controller: correlationId `<name>/<key>` in logs, `kind` in metrics. */
  name: string;
  /** Brings `key` in line; undefined when there is nothing (left) to reconcile. Throwing means "retry with backoff". */
  reconcile(key: string, log: Logger): Promise<ReconcileOutcome | undefined>;
  /** Records a terminal error (retrying cannot help); it is not retried. */
  terminal?(key: string, error: TerminalError, log: Logger): Promise<void>;
}

export interface KindController {
  kind: string;
  /** The actions for `key` from the caches; undefined when the object is gone. */
  compute(key: string): Action[] | undefined;
  /** What a terminal error leaves in status; empty when the kind records none. */
  terminal(key: string, error: TerminalError): Action[];
  /** Every key in the cache, for resync and for a new leader. */
  keys(): string[];
  /** After compute's actions for `key` were applied (true) or failed, or compute found nothing (false). */
  settle?(key: string, applied: boolean): void;
}

/** A KIDP kind's controller: its pure compute, executed by the applier. */
export function appliedReconciler(kind: KindController, applier: Applier): Reconciler {
  return {
    name: kind.kind,
    reconcile: async (key, log) => {
      let ok = false;
      try {
        const actions = kind.compute(key);
        if (actions === undefined) return undefined;
        const applied = await applier.apply(actions, log);
        ok = true;
        return applied.requeueAfterMs !== undefined ? { requeueAfterMs: applied.requeueAfterMs } : {};
      } finally {
        kind.settle?.(key, ok);
      }
    },
    terminal: async (key, error, log) => {
      await applier.apply(kind.terminal(key, error), log);
    },
  };
}

export interface ControllerOptions {
  workers: number;
  clock: Clock;
  random: () => number;
  backoff?: BackoffPolicy;
  logger: Logger;
  /** Every reconcile's duration, by result. */
  observe?: (name: string, result: ReconcileResult, seconds: number) => void;
  /** A reconcile failed and is retried after `delayMs`. */
  onRetry?: (key: string, error: unknown, delayMs: number) => void;
}

export class Controller {
  private readonly queue: WorkQueue;
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly reconciler: Reconciler,
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

  /** Whether any key is queued, delayed or in flight; `except` (the key the caller is reconciling) does not count. */
  busy(except?: string): boolean {
    return this.queue.len() > 0 || this.queue.inFlight() > (except === undefined ? 0 : 1) || this.queue.delayedKeys().some((k) => k !== except);
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
    const { name } = this.reconciler;
    const log = this.options.logger.child({ correlationId: `${name}/${key}`, kind: name, key });
    const started = this.options.clock.now();
    let result: ReconcileResult = 'success';
    try {
      const outcome = await this.reconciler.reconcile(key, log);
      this.queue.forget(key);
      if (outcome?.requeueAfterMs !== undefined) {
        result = 'requeue';
        this.queue.addAfter(key, outcome.requeueAfterMs);
      }
    } catch (err) {
      if (err instanceof TerminalError) {
        result = 'terminal';
        log.error({ err: err.message, reason: err.reason }, 'terminal error; recorded in status, not retried');
        this.queue.forget(key);
        try {
          await this.reconciler.terminal?.(key, err, log);
        } catch (recordErr) {
          log.error({ err: String(recordErr) }, 'could not record the terminal error');
        }
        return;
      }
      result = 'error';
      const delay = this.queue.addRateLimited(key);
      this.options.onRetry?.(key, err, delay);
      // Conflicts are routine (the status recorder writes the same objects): debug, not warn.
      const level = err instanceof ConflictError ? 'debug' : 'warn';
      log[level]({ err: err instanceof Error ? err.message : String(err), retryInMs: delay, failures: this.queue.failures(key) }, 'reconcile failed; retrying with backoff');
    } finally {
      this.options.observe?.(name, result, (this.options.clock.now() - started) / 1000);
    }
  }
}
