// Prometheus metrics of the controllers (DESIGN §6).
import { Gauge, Histogram, Registry } from 'prom-client';

export type ReconcileResult = 'success' | 'requeue' | 'error' | 'terminal';

export class ControllerMetrics {
  readonly reconcileDuration: Histogram<'kind' | 'result'>;
  readonly resourceCount: Gauge<'type' | 'status'>;

  /** `counts` is read at scrape time from the informer caches: no bookkeeping to drift. */
  constructor(
    readonly registry: Registry,
    counts: () => Array<{ type: string; status: string; count: number }>,
  ) {
    this.reconcileDuration = new Histogram({
      name: 'kidp_reconciliation_duration_seconds',
      help: 'Time of one reconcile of one key: read, compute, apply (including broker dispatch).',
      labelNames: ['kind', 'result'],
      // Most reconciles are a few apiserver round trips; dispatches and slow apiservers reach seconds.
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    this.resourceCount = new Gauge({
      name: 'kidp_resource_count',
      help: 'KIDP resources in the informer caches by kind and status.phase (None before the first status).',
      labelNames: ['type', 'status'],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of counts()) this.set({ type: c.type, status: c.status }, c.count);
      },
    });
  }
}
