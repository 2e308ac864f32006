// Broker reports handed to this replica's deployable reconciler in memory (issue 13 item 6,
// issue 17 item 1). The status handler (brokers/status-handler.ts) has verified and
// deduplicated a report; recording it in status.brokerReports and then folding it costs two
// status writes, two watch events and two reconciles per report. When this replica leads,
// the handler offers the report here instead: the reconciler takes it on its next reconcile
// of the object, folds it (broker-reports.ts) and writes status once, with the event id in
// status.recentEventIds. The offer settles true only after that write landed, so the
// handler's caller (the status consumer, before it commits the offset; the status API,
// before it answers 200) acknowledges nothing that is not in etcd. Any other outcome (not
// leading, not taken within LOCAL_FOLD_WAIT_MS, the reconcile failed, the replica stopped
// leading) settles false and the handler records the report as before; a report that was
// in fact folded is then a duplicate by its event id, and the record's compare-and-swap on
// resourceVersion keeps a stale read from writing it twice.
import type { BrokerReport } from '../brokers/index.js';
import type { Clock, Timer } from '../kube/index.js';

/**
 * How long an offer waits for the reconciler to take it. A burst queues reconciles behind
 * each other; past this the handler records the report (one extra write) rather than hold
 * its consumer lane or the broker's HTTP call longer.
 */
export const LOCAL_FOLD_WAIT_MS = 5_000;

export interface LocalReport {
  readonly report: BrokerReport;
  /** Resolves the offer: true once the status write holding the fold has landed. */
  settle(folded: boolean): void;
}

interface Offer extends LocalReport {
  taken: boolean;
  timer?: Timer;
}

export class LocalReports {
  private readonly offers = new Map<string, Offer[]>();

  constructor(
    private readonly clock: Clock,
    private readonly waitMs = LOCAL_FOLD_WAIT_MS,
  ) {}

  /**
   * Offers `report` for the object at `key` (kind/namespace/name); `enqueue` asks the
   * reconciler to run and says whether it will (false when this replica does not lead).
   */
  offer(key: string, report: BrokerReport, enqueue: () => boolean): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      let done = false;
      const offer: Offer = {
        report,
        taken: false,
        settle: (folded) => {
          if (done) return;
          done = true;
          offer.timer?.cancel();
          resolve(folded);
        },
      };
      const list = this.offers.get(key);
      if (list) list.push(offer);
      else this.offers.set(key, [offer]);
      if (!enqueue()) {
        this.withdraw(key, offer);
        offer.settle(false);
        return;
      }
      offer.timer = this.clock.setTimer(() => {
        if (!offer.taken && this.withdraw(key, offer)) offer.settle(false);
      }, this.waitMs);
    });
  }

  /** The reports offered for `key`, in arrival order; the caller must settle each. */
  take(key: string): LocalReport[] {
    const list = this.offers.get(key);
    if (!list) return [];
    this.offers.delete(key);
    for (const o of list) o.taken = true;
    return list;
  }

  /** Settles every offer not yet taken as not folded (this replica stops leading). */
  releaseAll(): void {
    const all = [...this.offers.values()].flat();
    this.offers.clear();
    for (const o of all) o.settle(false);
  }

  /** Offers waiting to be taken (for tests and metrics). */
  get waiting(): number {
    let n = 0;
    for (const list of this.offers.values()) n += list.length;
    return n;
  }

  private withdraw(key: string, offer: Offer): boolean {
    const list = this.offers.get(key);
    const i = list ? list.indexOf(offer) : -1;
    if (!list || i < 0) return false;
    list.splice(i, 1);
    if (list.length === 0) this.offers.delete(key);
    return true;
  }
}
