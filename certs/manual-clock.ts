// A clock for tests (STYLE §4): `now` and `setTimer` for the certificate manager, moved
// by hand. Moving it jumps straight to the target time and then runs what fell due,
// the way a process sees time after a suspend, so a 300-day jump costs one check.
import type { SetTimer } from './rotation.js';

interface PendingTimer {
  dueAt: number;
  callback: () => Promise<void>;
  cancelled: boolean;
}

export class ManualClock {
  private nowMs: number;
  private readonly pending: PendingTimer[] = [];
  /** Every delay the code under test asked for, in order. */
  readonly requestedDelays: number[] = [];

  constructor(start: Date) {
    this.nowMs = start.getTime();
  }

  readonly now = (): Date => new Date(this.nowMs);

  readonly setTimer: SetTimer = (callback, delayMs) => {
    this.requestedDelays.push(delayMs);
    const timer: PendingTimer = { dueAt: this.nowMs + delayMs, callback, cancelled: false };
    this.pending.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  };

  /** Moves to `now + ms` and runs, in due order, every timer due by then (awaiting each). */
  async advance(ms: number): Promise<void> {
    this.nowMs += ms;
    for (;;) {
      const due = this.pending.filter((t) => !t.cancelled && t.dueAt <= this.nowMs).sort((a, b) => a.dueAt - b.dueAt)[0];
      if (due === undefined) return;
      due.cancelled = true;
      await due.callback();
    }
  }

  /** Timers still waiting, as delays from now. */
  pendingDelays(): number[] {
    return this.pending.filter((t) => !t.cancelled).map((t) => t.dueAt - this.nowMs);
  }
}
