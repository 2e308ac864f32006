// A clock for unit tests (STYLE §4): time moves only when the test says so.
import type { Clock, Timer } from './queue.js';

interface Pending {
  dueAt: number;
  fn: () => void;
  cancelled: boolean;
}

export class ManualClock implements Clock {
  private nowMs: number;
  private readonly pending: Pending[] = [];

  constructor(startMs = 0) {
    this.nowMs = startMs;
  }

  readonly now = (): number => this.nowMs;

  readonly setTimer = (fn: () => void, ms: number): Timer => {
    const p: Pending = { dueAt: this.nowMs + ms, fn, cancelled: false };
    this.pending.push(p);
    return { cancel: () => void (p.cancelled = true) };
  };

  /** Moves time forward by `ms`, firing due timers in order. */
  advance(ms: number): void {
    const target = this.nowMs + ms;
    for (;;) {
      const due = this.pending.filter((p) => !p.cancelled && p.dueAt <= target).sort((a, b) => a.dueAt - b.dueAt)[0];
      if (!due) break;
      due.cancelled = true;
      this.nowMs = due.dueAt;
      due.fn();
    }
    this.nowMs = target;
  }

  pendingDelays(): number[] {
    return this.pending.filter((p) => !p.cancelled).map((p) => p.dueAt - this.nowMs).sort((a, b) => a - b);
  }
}
