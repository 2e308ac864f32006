// Exponential backoff with jitter (STYLE §4), the one implementation: randomness is
// injected so tests can pin it, and every constant carries its reason. The defaults are the
// work queues' (controllers/, reports/); other users pass their own policy, named where they
// use it (INFORMER_BACKOFF in informers.ts, BROKER_RETRY_BACKOFF in controllers/).

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
 * A fraction in [0, 1) fixed by `seed` (FNV-1a, then murmur3's finalizer): jitter for a pure reconciler, the same on
 * every replica and after a restart, and different between resources that failed together.
 */
export function seededFraction(seed: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // murmur3's finalizer: FNV alone barely moves the high bits when only the last character differs.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

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
