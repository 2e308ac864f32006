import { ManualClock } from './clock.js';

describe('ManualClock', () => {
  it('advance fires each due timer at its own due time, in order, and what they schedule too', () => {
    const clock = new ManualClock(1_000);
    const fired: Array<[string, number]> = [];
    clock.setTimer(() => void fired.push(['b', clock.now()]), 200);
    clock.setTimer(() => {
      fired.push(['a', clock.now()]);
      clock.setTimer(() => void fired.push(['c', clock.now()]), 50);
    }, 100);
    const cancelled = clock.setTimer(() => void fired.push(['never', clock.now()]), 10);
    cancelled.cancel();
    clock.advance(300);
    expect({ fired, now: clock.now(), pending: clock.pendingDelays(), asked: clock.requestedDelays }).toEqual({
      fired: [['a', 1_100], ['c', 1_150], ['b', 1_200]],
      now: 1_300,
      pending: [],
      asked: [200, 100, 10, 50],
    });
  });

  it('jump moves straight to the target, then runs what fell due, awaiting each', async () => {
    const clock = new ManualClock(new Date('2026-01-01T00:00:00Z'));
    const seen: string[] = [];
    clock.setTimer(async () => {
      await Promise.resolve();
      seen.push(clock.date().toISOString());
    }, 60_000);
    clock.setTimer(() => void seen.push('later'), 3_600_000);
    await clock.jump(120_000);
    expect({ seen, pending: clock.pendingDelays() }).toEqual({ seen: ['2026-01-01T00:02:00.000Z'], pending: [3_480_000] });
  });
});
