// Time as KIDP's machinery sees it (STYLE §4): informers, queues, leases, backoff and
// certificate rotation take one Clock, so a test moves time with one ManualClock instead of
// waiting for it.

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `ms`; a returned promise is awaited by ManualClock.jump, never by real time. */
  setTimer(fn: () => void | Promise<void>, ms: number): Timer;
}

function realTimer(fn: () => void | Promise<void>, ms: number, unref: boolean): Timer {
  const t = setTimeout(() => void fn(), ms);
  if (unref) t.unref();
  return { cancel: () => clearTimeout(t) };
}

/** Real time; a pending timer keeps the process alive (queues, leases, informer restarts). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => realTimer(fn, ms, false),
};

/** Real time whose timers do not keep the process alive: background checks of a process that something else keeps running (certificate rotation). */
export const backgroundClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => realTimer(fn, ms, true),
};

interface Pending {
  dueAt: number;
  fn: () => void | Promise<void>;
  cancelled: boolean;
}

/** A clock for tests: time moves only when the test says so. */
export class ManualClock implements Clock {
  private nowMs: number;
  private readonly pending: Pending[] = [];
  /** Every delay the code under test asked for, in order. */
  readonly requestedDelays: number[] = [];

  constructor(start: number | Date = 0) {
    this.nowMs = typeof start === 'number' ? start : start.getTime();
  }

  readonly now = (): number => this.nowMs;

  /** now() as a Date. */
  readonly date = (): Date => new Date(this.nowMs);

  readonly setTimer = (fn: () => void | Promise<void>, ms: number): Timer => {
    this.requestedDelays.push(ms);
    const p: Pending = { dueAt: this.nowMs + ms, fn, cancelled: false };
    this.pending.push(p);
    return { cancel: () => void (p.cancelled = true) };
  };

  private nextDue(by: number): Pending | undefined {
    return this.pending.filter((p) => !p.cancelled && p.dueAt <= by).sort((a, b) => a.dueAt - b.dueAt)[0];
  }

  /** Moves time forward by `ms` as a running process sees it: each due timer fires at its own due time, in order. */
  advance(ms: number): void {
    const target = this.nowMs + ms;
    for (;;) {
      const due = this.nextDue(target);
      if (!due) break;
      due.cancelled = true;
      this.nowMs = due.dueAt;
      void due.fn();
    }
    this.nowMs = target;
  }

  /**
   * Moves straight to `now + ms`, then runs every timer due by then in due order, awaiting
   * each: the way a process sees time after a suspend, so a 300-day jump costs one check.
   */
  async jump(ms: number): Promise<void> {
    this.nowMs += ms;
    for (;;) {
      const due = this.nextDue(this.nowMs);
      if (!due) return;
      due.cancelled = true;
      await due.fn();
    }
  }

  /** Timers still waiting, as delays from now, shortest first. */
  pendingDelays(): number[] {
    return this.pending
      .filter((p) => !p.cancelled)
      .map((p) => p.dueAt - this.nowMs)
      .sort((a, b) => a - b);
  }
}
