// Exponential backoff with jitter (STYLE §4): randomness is injected so tests can pin it,
// and every constant carries its reason.

/** First retry after a failure: short, because most failures here are 409 conflicts that a fresh cache resolves within milliseconds. */
export const BACKOFF_BASE_MS = 20;
/** Upper bound on one delay: a resource that keeps failing is still retried a few times a minute, so recovery is noticed without operator action. */
export const BACKOFF_MAX_MS = 30_000;
/** Growth per consecutive failure: doubling, the client-go workqueue default, reaches the cap after ~11 failures. */
export const BACKOFF_FACTOR = 2;
/** ±20 % spread so that keys failing together (an apiserver restart) do not retry in lock-step. */
export const BACKOFF_JITTER = 0.2;

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  factor: number;
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: BACKOFF_BASE_MS, maxMs: BACKOFF_MAX_MS, factor: BACKOFF_FACTOR, jitter: BACKOFF_JITTER };

/**
 * Delay before retry number `failures` (1 = first retry): base·factor^(failures-1), spread
 * by ±jitter with `random()` ∈ [0, 1), and never above maxMs.
 */
export function backoffDelay(failures: number, random: () => number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  const exponent = Math.max(0, failures - 1);
  // Capping before jitter keeps the spread at the cap too; capping after keeps the promise "never above maxMs".
  const raw = Math.min(policy.maxMs, policy.baseMs * policy.factor ** exponent);
  const spread = 1 + policy.jitter * (2 * random() - 1);
  return Math.min(policy.maxMs, Math.round(raw * spread));
}
