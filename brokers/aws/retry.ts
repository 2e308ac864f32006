// How the `aws` provider meets AWS's errors. Each call goes through the SDK's own retry
// strategy with a bounded number of attempts and exponential backoff (throttling and
// transient errors, 5xx, dropped connections: the SDK's classification); what still fails
// after the last attempt is classified once here, into what the controllers should retry
// later and what will fail the same way however often it is sent.
import { ConfiguredRetryStrategy, isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import type { SdkError } from '@smithy/types';

/** Attempts per SDK call, the first included: four retries cover a burst of throttling without holding the resource's lane for minutes. */
export const MAX_ATTEMPTS = 5;
/** First retry delay; doubled per attempt. AWS's standard mode starts at 100 ms; RDS control-plane throttling clears slower. */
export const BACKOFF_BASE_MS = 200;
/** No single wait longer than this: the polling deadline, not one retry, bounds a request. */
export const BACKOFF_CAP_MS = 10_000;

/** Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"). */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

export function retryStrategy(options: { maxAttempts?: number; delay?: (attempt: number) => number } = {}): ConfiguredRetryStrategy {
  return new ConfiguredRetryStrategy(options.maxAttempts ?? MAX_ATTEMPTS, options.delay ?? ((attempt) => backoffDelay(attempt)));
}

export type Failure = 'throttled' | 'transient' | 'credentials' | 'permanent';

/** Error names that mean the credentials (the DeploymentTarget's Secret) are wrong: fixable by an admin, so not for good. */
const CREDENTIAL_ERRORS = new Set(['InvalidClientTokenId', 'SignatureDoesNotMatch', 'UnrecognizedClientException', 'ExpiredToken', 'ExpiredTokenException', 'AccessDenied', 'AccessDeniedException', 'AuthFailure', 'CredentialsProviderError']);

/** Client faults that pass: the instance is busy (modifying, backing up) and takes the call once it is done. */
const BUSY_STATE_ERRORS = new Set(['InvalidDBInstanceStateFault', 'InvalidDBInstanceState']);

/** Node's network errors: the endpoint did not answer (down, DNS, reset). */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/** What an error left after the SDK's retries means for the request. */
export function classify(err: unknown): Failure {
  if (!(err instanceof Error)) return 'transient';
  const sdk = err as SdkError & { code?: string };
  if (isThrottlingError(sdk)) return 'throttled';
  if (CREDENTIAL_ERRORS.has(err.name)) return 'credentials';
  if (isTransientError(sdk) || isServerError(sdk) || BUSY_STATE_ERRORS.has(err.name)) return 'transient';
  if (sdk.code && NETWORK_CODES.has(sdk.code)) return 'transient';
  // Whatever AWS says is the caller's fault (invalid parameter, quota, wrong state) fails the same way when re-sent.
  if (sdk.$fault === 'client') return 'permanent';
  return 'transient';
}
