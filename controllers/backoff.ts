// The controllers' own backoff policy, on the shared mechanism (kube/backoff.ts).
import { BACKOFF_FACTOR, BACKOFF_JITTER, type BackoffPolicy } from '../kube/index.js';

/** First re-send after a broker reported a transient failure: such failures are apiserver or network blips on the target, which pass in seconds. */
export const BROKER_RETRY_BASE_MS = 5_000;
/** Longest wait between re-sends: a target that stays broken is still tried every 5 minutes, so it heals unattended without being hammered. */
export const BROKER_RETRY_MAX_MS = 5 * 60_000;

/** Re-sends of a request that a broker reported as failed (not permanently): doubling, ±20 %, 5 s to 5 min. */
export const BROKER_RETRY_BACKOFF: BackoffPolicy = { baseMs: BROKER_RETRY_BASE_MS, maxMs: BROKER_RETRY_MAX_MS, factor: BACKOFF_FACTOR, jitter: BACKOFF_JITTER };
