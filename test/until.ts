// Waiting in end-to-end tests. The real apiserver, informers and Kafka settle eventually,
// so a test polls for what it expects, with a deadline and a message naming what it waited
// for. One helper for every e2e file.

export interface UntilOptions {
  timeoutMs: number;
  /** Between probes: short enough for a 60 s test budget, long enough not to hammer the apiserver. */
  intervalMs?: number;
}

export const DEFAULT_POLL_INTERVAL_MS = 150;

/**
 * Calls `probe` until it returns something other than undefined and resolves with that value
 * and the milliseconds it took. A probe that throws counts as "not yet" (an apiserver or
 * broker still starting); on timeout the last such error is the cause.
 */
export async function poll<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, options: UntilOptions): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return { value, ms: Date.now() - started };
    } catch (err) {
      last = err;
    }
    if (Date.now() - started > options.timeoutMs) {
      const why = last instanceof Error ? ` (last error: ${last.message})` : '';
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}${why}`, { cause: last });
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? DEFAULT_POLL_INTERVAL_MS));
  }
}
