// How a consumer handles one fetched batch of a partition: messages of one key strictly in
// offset order, different keys at the same time (up to a shared limit), and the offset to
// commit only ever the end of the handled prefix — so a consumer that stops mid-batch
// re-delivers what it had not finished, never skips it. Messages are keyed by resource uid
// (DESIGN.md §5), so "one key" is "one resource": its deploys and deletes stay in order,
// while a burst of different resources is applied in parallel.

export interface LaneMessage {
  /** Messages with the same key are handled one after another; null keys share one lane. */
  key: string | null;
  offset: string;
}

/** At most `max` handlers at once across every batch that shares this limit (FIFO). */
export class ConcurrencyLimit {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`concurrency must be a positive integer, not ${max}`);
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      // Hand the slot straight to the next waiter (active stays the same), else free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  /** Handlers running now (for tests and metrics). */
  get running(): number {
    return this.active;
  }
}

export interface ProcessByKeyOptions<M extends LaneMessage> {
  /** One partition's batch, in offset order. */
  messages: readonly M[];
  handle: (message: M) => Promise<void>;
  limit: ConcurrencyLimit;
  /** Called with the last offset of the handled prefix each time it grows. */
  resolveOffset: (offset: string) => void;
  /** Checked before each message starts; false (consumer stopping, partition revoked) leaves the rest for re-delivery. */
  keepGoing: () => boolean;
  /** After each handled message (heartbeat, commit); throwing stops the batch like a failed handler. */
  afterEach?: () => Promise<void>;
}

/**
 * Handles `messages` per key in order and across keys concurrently. Resolves when every
 * started message has finished; rejects with the first error of `handle` or `afterEach`,
 * after the messages already running have finished (none is abandoned half-way), and
 * without starting any more.
 */
export async function processByKey<M extends LaneMessage>(options: ProcessByKeyOptions<M>): Promise<void> {
  const { messages, limit } = options;
  const lanes = new Map<string | null, number[]>();
  messages.forEach((m, i) => {
    const lane = lanes.get(m.key);
    if (lane) lane.push(i);
    else lanes.set(m.key, [i]);
  });
  const done: boolean[] = messages.map(() => false);
  let prefix = 0;
  let failure: { error: unknown } | undefined;

  const finished = (i: number) => {
    done[i] = true;
    const before = prefix;
    while (prefix < messages.length && done[prefix]) prefix++;
    const last = messages[prefix - 1];
    if (prefix > before && last) options.resolveOffset(last.offset);
  };

  await Promise.all(
    [...lanes.values()].map(async (lane) => {
      for (const i of lane) {
        const message = messages[i];
        if (!message || failure || !options.keepGoing()) return;
        try {
          await limit.run(async () => {
            // Re-checked once a slot is free: the batch may have failed or stopped while this waited.
            if (failure || !options.keepGoing()) throw STOPPED;
            try {
              await options.handle(message);
            } catch (error) {
              // Recorded before the slot is released, so no waiter starts after a failure.
              failure ??= { error };
              throw STOPPED;
            }
          });
          finished(i);
          await options.afterEach?.();
        } catch (error) {
          if (error !== STOPPED) failure ??= { error };
          return;
        }
      }
    }),
  );
  if (failure) throw failure.error;
}

const STOPPED = Symbol('stopped');
