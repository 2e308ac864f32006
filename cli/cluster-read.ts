// One-shot reads from the apiserver for the CLI (suggest --from-cluster, mcp resource_status):
// a 429 or 5xx (priority and fairness, storage still initializing after a restart) is
// retried as the apiserver asks; anything else, and a read still failing after the retries,
// is reported in the apiserver's own words.
import { apiErrorDetail, apiErrorKind, backoffDelay, type BackoffPolicy } from '../kube/index.js';
import { CommandError } from './program.js';

/** A one-shot command waits at most a few seconds: 5 attempts, 0.5 s doubling to 4 s. */
export const CLI_READ_BACKOFF: BackoffPolicy = { baseMs: 500, factor: 2, maxMs: 4000, jitter: 0.2 };
const ATTEMPTS = 5;

export class ClusterReadError extends CommandError {}

export async function readWithRetry<T>(what: string, read: () => Promise<T>): Promise<T> {
  for (let failures = 1; ; failures++) {
    try {
      return await read();
    } catch (err) {
      if (apiErrorKind(err) !== 'transient' || failures >= ATTEMPTS) throw new ClusterReadError(`${what}: ${apiErrorDetail(err)}`, { cause: err });
      await new Promise((r) => setTimeout(r, backoffDelay(failures, Math.random, CLI_READ_BACKOFF)));
    }
  }
}
