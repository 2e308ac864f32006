import { ConcurrencyLimit, processByKey, type LaneMessage } from './key-lanes.js';

/** A handler step that takes `turns` event-loop turns: deterministic, no timers. */
const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

interface Msg extends LaneMessage {
  /** How many turns the handler takes. */
  cost: number;
  fail?: boolean;
}

const m = (offset: number, key: string | null, cost = 1, fail = false): Msg => ({ offset: String(offset), key, cost, fail });

async function run(messages: Msg[], options: { max?: number; stopAfter?: number } = {}) {
  const limit = new ConcurrencyLimit(options.max ?? 4);
  const started: string[] = [];
  const order = new Map<string, string[]>();
  const resolved: string[] = [];
  let peak = 0;
  let finished = 0;
  let error: unknown;
  try {
    await processByKey({
      messages,
      limit,
      resolveOffset: (o) => resolved.push(o),
      keepGoing: () => options.stopAfter === undefined || finished < options.stopAfter,
      handle: async (msg) => {
        started.push(msg.offset);
        peak = Math.max(peak, limit.running);
        await turns(msg.cost);
        if (msg.fail) throw new Error(`handler failed at ${msg.offset}`);
        const k = String(msg.key);
        order.set(k, [...(order.get(k) ?? []), msg.offset]);
        finished++;
      },
    });
  } catch (err) {
    error = (err as Error).message;
  }
  return { started, perKey: Object.fromEntries(order), resolved, peak, error, runningAfter: limit.running };
}

describe('processByKey', () => {
  it('keeps each key in offset order, runs keys in parallel, and resolves only the handled prefix', async () => {
    // a is slow, so b and c finish first; the prefix cannot pass offset 0 until a0 is done.
    const result = await run([m(0, 'a', 6), m(1, 'b'), m(2, 'a', 1), m(3, 'c'), m(4, 'b')]);
    expect(result).toEqual({
      started: ['0', '1', '3', '4', '2'],
      perKey: { a: ['0', '2'], b: ['1', '4'], c: ['3'] },
      resolved: ['1', '4'],
      peak: 3,
      error: undefined,
      runningAfter: 0,
    });
  });

  it('never runs more handlers than the limit, and null keys share one lane', async () => {
    const messages = [m(0, null, 2), m(1, 'x', 3), m(2, 'y', 3), m(3, null, 1), m(4, 'z', 1)];
    expect(await run(messages, { max: 2 })).toEqual({
      started: ['0', '1', '2', '4', '3'],
      perKey: { null: ['0', '3'], x: ['1'], y: ['2'], z: ['4'] },
      resolved: ['0', '1', '2', '4'],
      peak: 2,
      error: undefined,
      runningAfter: 0,
    });
  });

  it('stops starting messages once told to, leaving the unhandled ones unresolved for re-delivery', async () => {
    const result = await run([m(0, 'a'), m(1, 'a'), m(2, 'a'), m(3, 'a')], { stopAfter: 2 });
    expect(result).toEqual({ started: ['0', '1'], perKey: { a: ['0', '1'] }, resolved: ['0', '1'], peak: 1, error: undefined, runningAfter: 0 });
  });

  it('on a failed handler: lets running ones finish, starts no more, rejects with the first error, resolves nothing past it', async () => {
    const result = await run([m(0, 'a', 2), m(1, 'b', 1, true), m(2, 'c', 4), m(3, 'a', 1), m(4, 'd', 1)], { max: 3 });
    expect(result).toEqual({
      // d waits for a slot and gets b's after b failed; a's second message comes after the failure too: neither starts.
      started: ['0', '1', '2'],
      perKey: { a: ['0'], c: ['2'] },
      resolved: ['0'],
      peak: 3,
      error: 'handler failed at 1',
      runningAfter: 0,
    });
  });
});

describe('ConcurrencyLimit', () => {
  it('refuses a limit that is not a positive integer', () => {
    expect(() => new ConcurrencyLimit(0)).toThrow('concurrency must be a positive integer, not 0');
  });

  it('admits waiters in arrival order as slots free', async () => {
    const limit = new ConcurrencyLimit(1);
    const order: number[] = [];
    await Promise.all([3, 1, 2].map((cost, i) => limit.run(async () => {
      order.push(i);
      await turns(cost);
    })));
    expect({ order, running: limit.running }).toEqual({ order: [0, 1, 2], running: 0 });
  });
});
