// Leader election on a coordination.k8s.io/v1 Lease (issue 5 item 1), the client-go way:
// expiry is judged by when *this* process last saw the record change (its own clock), not
// by the renewTime written by another machine, so clock skew between replicas is harmless.
// A leader that cannot renew within the renew deadline stops leading before any other
// candidate may take over.
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isConflict, isNotFound, systemClock, type Clock, type Timer } from '../kube/index.js';

/** How long a silent leader keeps the lease; the bound on failover time. client-go's default. */
export const LEASE_DURATION_MS = 15_000;
/** A leader that has not renewed for this long steps down; below LEASE_DURATION_MS so it stops before a successor starts. */
export const RENEW_DEADLINE_MS = 10_000;
/** Period of renewals and of candidates' attempts: several renewals fit in one renew deadline. */
export const RETRY_PERIOD_MS = 2_000;


export interface LeaderElectorOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  clock?: Clock;
  logger: Logger;
  onStartedLeading: () => Promise<void> | void;
  onStoppedLeading: () => Promise<void> | void;
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly clock: Clock;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private observedVersion: string | undefined;
  private observedAt = 0;
  private leading = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private timer: Timer | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly options: LeaderElectorOptions) {
    this.api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.clock = options.clock ?? systemClock;
    this.leaseDurationMs = options.leaseDurationMs ?? LEASE_DURATION_MS;
    this.renewDeadlineMs = options.renewDeadlineMs ?? RENEW_DEADLINE_MS;
    this.retryPeriodMs = options.retryPeriodMs ?? RETRY_PERIOD_MS;
    if (!(this.renewDeadlineMs < this.leaseDurationMs && this.retryPeriodMs < this.renewDeadlineMs)) {
      throw new Error(`leader election needs retryPeriod < renewDeadline < leaseDuration (got ${this.retryPeriodMs} ms, ${this.renewDeadlineMs} ms, ${this.leaseDurationMs} ms)`);
    }
  }

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.loop ??= this.run();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = this.clock.setTimer(resolve, ms);
    });
  }

  private async run(): Promise<void> {
    const log = this.options.logger;
    while (!this.stopped) {
      if (!(await this.tryAcquireOrRenew())) {
        await this.sleep(this.retryPeriodMs);
        continue;
      }
      this.leading = true;
      let renewedAt = this.clock.now();
      log.info({ lease: `${this.options.namespace}/${this.options.name}`, identity: this.options.identity }, 'became leader');
      await this.options.onStartedLeading();
      while (!this.stopped) {
        await this.sleep(this.retryPeriodMs);
        if (this.stopped) break;
        if (await this.tryAcquireOrRenew()) {
          renewedAt = this.clock.now();
        } else if (this.clock.now() - renewedAt >= this.renewDeadlineMs) {
          log.error({ identity: this.options.identity, sinceRenewMs: this.clock.now() - renewedAt }, 'could not renew the lease within the renew deadline; stepping down');
          this.leading = false;
          await this.options.onStoppedLeading();
          break;
        }
      }
    }
  }

  /**
   * One attempt, bounded in time: a call that hangs (a frozen apiserver connection) must not
   * keep a leader from noticing that it can no longer renew. Half the renew deadline leaves
   * room for a second attempt before stepping down.
   */
  private async tryAcquireOrRenew(): Promise<boolean> {
    let timer: Timer | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = this.clock.setTimer(() => {
        this.options.logger.warn({ identity: this.options.identity }, 'lease call timed out');
        resolve(false);
      }, this.renewDeadlineMs / 2);
    });
    try {
      return await Promise.race([this.attempt(), timeout]);
    } finally {
      timer?.cancel();
    }
  }

  /** False (never a throw) when the lease is held by another or the call failed. */
  private async attempt(): Promise<boolean> {
    const { namespace, name, identity, logger } = this.options;
    const now = this.clock.now();
    const leaseDurationSeconds = Math.ceil(this.leaseDurationMs / 1000);
    try {
      let lease: V1Lease;
      try {
        lease = await this.api.readNamespacedLease({ name, namespace });
      } catch (err) {
        if (!isNotFound(err)) throw err;
        const created = await this.api.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: new V1MicroTime(now), renewTime: new V1MicroTime(now), leaseTransitions: 0 } },
        });
        this.observe(created, now);
        return true;
      }
      const spec = lease.spec ?? {};
      if (lease.metadata?.resourceVersion !== this.observedVersion) this.observe(lease, now);
      const holder = spec.holderIdentity ?? '';
      // The holder's own duration counts, not ours (replicas may be configured differently).
      const durationMs = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
      if (holder !== '' && holder !== identity && this.observedAt + durationMs > now) return false;
      const mine = holder === identity;
      lease.spec = {
        holderIdentity: identity,
        leaseDurationSeconds,
        acquireTime: new V1MicroTime(mine && spec.acquireTime ? new Date(spec.acquireTime).getTime() : now),
        renewTime: new V1MicroTime(now),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
      };
      // resourceVersion in the body makes this compare-and-swap: two candidates cannot both win.
      const replaced = await this.api.replaceNamespacedLease({ name, namespace, body: lease });
      this.observe(replaced, now);
      if (!mine) logger.info({ identity, previous: holder || '(released)' }, 'acquired the lease');
      return true;
    } catch (err) {
      if (!isConflict(err)) logger.warn({ err: String(err), identity }, 'lease call failed');
      return false;
    }
  }

  private observe(lease: V1Lease, now: number): void {
    this.observedVersion = lease.metadata?.resourceVersion;
    this.observedAt = now;
  }

  /** Stops campaigning and renewing; the lease is kept until release(). */
  async halt(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.wake?.();
    await this.loop;
  }

  /**
   * Gives the lease up (graceful shutdown, after the work has drained) so a successor
   * need not wait out the lease duration: holder cleared, duration 1 s, as client-go does.
   */
  async release(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    const { namespace, name, logger } = this.options;
    try {
      const lease = await this.api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== this.options.identity) return;
      lease.spec = { holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime(this.clock.now()), leaseTransitions: lease.spec.leaseTransitions ?? 0 };
      await this.api.replaceNamespacedLease({ name, namespace, body: lease });
      logger.info({ identity: this.options.identity }, 'released the lease');
    } catch (err) {
      logger.warn({ err: String(err) }, 'could not release the lease; a successor waits out its duration');
    }
  }
}
