import { WorkQueue } from './queue.js';
import { backoffDelay, seededFraction, BACKOFF_BASE_MS, BACKOFF_MAX_MS, BACKOFF_JITTER, DEFAULT_BACKOFF, ManualClock } from '../kube/index.js';
import { BROKER_RETRY_BACKOFF, BROKER_RETRY_BASE_MS, BROKER_RETRY_MAX_MS } from './backoff.js';

/** Keys available right now, without waiting (each taken key is marked processing). */
async function takeAll(q: WorkQueue): Promise<string[]> {
  const out: string[] = [];
  while (q.len() > 0) {
    const k = await q.get();
    if (k !== undefined) out.push(k);
  }
  return out;
}

const midRandom = () => 0.5; // no jitter: 1 + j·(2·0.5 − 1) = 1

describe('WorkQueue', () => {
  it('dedupes a key added while it waits, keeping first-add order', async () => {
    const q = new WorkQueue({ clock: new ManualClock(), random: midRandom });
    for (const k of ['ns/a', 'ns/b', 'ns/a', 'ns/c', 'ns/b']) q.add(k);
    expect(await takeAll(q)).toEqual(['ns/a', 'ns/b', 'ns/c']);
  });

  it('never hands a key in flight to a second worker; adds during processing coalesce into one re-run after done', async () => {
    const q = new WorkQueue({ clock: new ManualClock(), random: midRandom });
    q.add('ns/a');
    const first = await q.get();
    q.add('ns/a');
    q.add('ns/a');
    q.add('ns/b');
    // Only ns/b is available: ns/a is being processed.
    expect(await takeAll(q)).toEqual(['ns/b']);
    q.done('ns/b');
    q.done(first ?? '');
    expect(await takeAll(q)).toEqual(['ns/a']);
    q.done('ns/a');
    expect(q.len()).toBe(0);
  });

  it('a waiting worker gets a key as soon as it is added', async () => {
    const q = new WorkQueue({ clock: new ManualClock(), random: midRandom });
    const pending = q.get();
    q.add('ns/x');
    expect(await pending).toBe('ns/x');
    expect(q.inFlight()).toBe(1);
  });

  it('addAfter fires at the deadline; an earlier deadline replaces a later one, not the reverse', async () => {
    const clock = new ManualClock();
    const q = new WorkQueue({ clock, random: midRandom });
    q.addAfter('ns/a', 1_000);
    q.addAfter('ns/a', 5_000);
    q.addAfter('ns/b', 5_000);
    q.addAfter('ns/b', 2_000);
    expect(clock.pendingDelays()).toEqual([1_000, 2_000]);
    clock.advance(999);
    expect(q.len()).toBe(0);
    clock.advance(1);
    expect(await takeAll(q)).toEqual(['ns/a']);
    clock.advance(1_000);
    expect(await takeAll(q)).toEqual(['ns/b']);
  });

  it('backoff per key doubles from the base and stops at the cap; forget resets it; keys are independent', () => {
    const clock = new ManualClock();
    const q = new WorkQueue({ clock, random: midRandom });
    const delays = Array.from({ length: 14 }, () => {
      const d = q.addRateLimited('ns/a');
      clock.advance(d);
      return d;
    });
    expect(delays).toEqual([20, 40, 80, 160, 320, 640, 1_280, 2_560, 5_120, 10_240, 20_480, 30_000, 30_000, 30_000]);
    expect(q.failures('ns/a')).toBe(14);
    expect(q.addRateLimited('ns/b')).toBe(BACKOFF_BASE_MS);
    q.forget('ns/a');
    expect(q.addRateLimited('ns/a')).toBe(BACKOFF_BASE_MS);
  });

  it('shutDown hands undefined to waiting workers, drops waiting keys and resolves once in-flight keys are done', async () => {
    const clock = new ManualClock();
    const q = new WorkQueue({ clock, random: midRandom });
    q.add('ns/a');
    q.add('ns/b');
    q.addAfter('ns/c', 100);
    const a = await q.get();
    let drained = false;
    const shut = q.shutDown().then(() => (drained = true));
    expect(await q.get()).toBeUndefined();
    await Promise.resolve();
    expect(drained).toBe(false);
    q.done(a ?? '');
    await shut;
    expect(drained).toBe(true);
    clock.advance(1_000);
    q.add('ns/d');
    expect({ len: q.len(), timers: clock.pendingDelays() }).toEqual({ len: 0, timers: [] });
  });
});

describe('backoffDelay', () => {
  it.each([
    // failures, random, expected
    [1, 0, Math.round(BACKOFF_BASE_MS * (1 - BACKOFF_JITTER))],
    [1, 0.5, BACKOFF_BASE_MS],
    [1, 0.999_999, Math.round(BACKOFF_BASE_MS * (1 + BACKOFF_JITTER * 0.999_998))],
    [3, 0.5, BACKOFF_BASE_MS * 4],
    [3, 0, Math.round(BACKOFF_BASE_MS * 4 * (1 - BACKOFF_JITTER))],
    [40, 0, Math.round(BACKOFF_MAX_MS * (1 - BACKOFF_JITTER))],
    [40, 0.999_999, BACKOFF_MAX_MS],
  ])('failure %d with random %d waits %d ms', (failures, random, expected) => {
    expect(backoffDelay(failures, () => random)).toBe(expected);
  });

  it('stays within ±jitter of the exponential and never above the cap, over many draws', () => {
    let seed = 42;
    // A fixed linear congruential sequence: reproducible draws across [0, 1).
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    for (let failures = 1; failures <= 20; failures++) {
      const nominal = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (failures - 1));
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(failures, random, DEFAULT_BACKOFF);
        expect(d).toBeGreaterThanOrEqual(Math.floor(nominal * (1 - BACKOFF_JITTER)));
        expect(d).toBeLessThanOrEqual(Math.min(BACKOFF_MAX_MS, Math.ceil(nominal * (1 + BACKOFF_JITTER))));
      }
    }
  });
});

describe('seededFraction (the broker-retry jitter)', () => {
  const seeds = Array.from({ length: 1_000 }, (_, i) => `${String(i).padStart(8, '0')}-2222-3333-4444-555555555555/${(i % 5) + 1}`);
  const values = seeds.map(seededFraction);

  it('is fixed by its seed and lies in [0, 1)', () => {
    expect({ again: seeds.map(seededFraction), inRange: values.every((v) => v >= 0 && v < 1) }).toEqual({ again: values, inRange: true });
  });

  it('spreads resources that failed together over the whole jitter range (every tenth of [0, 1) used)', () => {
    const deciles = new Set(values.map((v) => Math.floor(v * 10)));
    expect([...deciles].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('gives re-send delays from 5 s ± 20 % up to the 5 min cap', () => {
    const delays = [1, 2, 6, 30].map((attempt) => backoffDelay(attempt, () => 0.5, BROKER_RETRY_BACKOFF));
    expect(delays).toEqual([BROKER_RETRY_BASE_MS, BROKER_RETRY_BASE_MS * 2, BROKER_RETRY_BASE_MS * 32, BROKER_RETRY_MAX_MS]);
  });
});
