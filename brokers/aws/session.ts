// What every AWS service of the `aws` provider shares: the client configuration from the
// DeploymentTarget alone (region, endpoint, the credentials Secret; never the request), the
// one way an error left after the SDK's retries becomes a DeployFailedError, and the polling
// loop that waits for a resource to reach a state (backoff between polls, a deadline).
import type { DeploymentRequest } from '../contract.js';
import { DeployFailedError } from '../errors.js';
import type { ProvisionContext, TargetAws } from '../provisioner.js';
import { MAX_ATTEMPTS, classify, retryStrategy } from './retry.js';

/** First wait between two polls while a resource is created or deleted; doubled up to POLL_CAP_MS. */
export const POLL_FIRST_MS = 2_000;
/** RDS and ElastiCache change status over minutes; polling faster than this only spends API quota. */
export const POLL_CAP_MS = 20_000;
/** How long one request waits (for `available`, or gone) before it fails as transient and is retried: RDS and ElastiCache create in 5 to 15 minutes. */
export const WAIT_DEADLINE_MS = 20 * 60_000;

export interface AwsProvisionerOptions {
  /** Attempts per SDK call (default MAX_ATTEMPTS). */
  maxAttempts?: number;
  /** The SDK's retry delay per attempt (default: exponential with full jitter, retry.ts). */
  retryDelay?: (attempt: number) => number;
  pollFirstMs?: number;
  pollCapMs?: number;
  waitDeadlineMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /**
   * The SDK's HTTP handler. Unit tests only, to answer as AWS does when it throttles, which
   * moto cannot; everything else is tested against moto over real HTTP.
   */
  requestHandler?: unknown;
}

/** The configuration any SDK v3 client of the provider is made with. */
export interface ClientSettings {
  aws: TargetAws;
  region: string;
  config: {
    region: string;
    endpoint?: string;
    credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
    retryStrategy: ReturnType<typeof retryStrategy>;
    requestHandler?: never;
  };
}

/** The client settings for a request, from its DeploymentTarget and the Secret it names; a target without them fails for good. */
export async function clientSettings(request: DeploymentRequest, context: ProvisionContext, options: AwsProvisionerOptions): Promise<ClientSettings> {
  const { aws, region } = context.target;
  if (!aws || !region) throw new DeployFailedError(request.requestId, `DeploymentTarget ${context.target.name} needs spec.region and spec.aws (credentialsSecretRef): the aws provider provisions only where its target says`, true);
  const secret = await context.readSecret(aws.credentialsSecretRef);
  const accessKeyId = secret['accessKeyId'];
  const secretAccessKey = secret['secretAccessKey'];
  if (!accessKeyId || !secretAccessKey) {
    throw new DeployFailedError(request.requestId, `Secret ${aws.credentialsSecretRef.namespace}/${aws.credentialsSecretRef.name} (spec.aws.credentialsSecretRef of ${context.target.name}) needs keys accessKeyId and secretAccessKey`, true);
  }
  return {
    aws,
    region,
    config: {
      region,
      ...(aws.endpoint ? { endpoint: aws.endpoint } : {}),
      credentials: { accessKeyId, secretAccessKey, ...(secret['sessionToken'] ? { sessionToken: secret['sessionToken'] } : {}) },
      ...(options.requestHandler ? { requestHandler: options.requestHandler as never } : {}),
      retryStrategy: retryStrategy({ ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}), ...(options.retryDelay ? { delay: options.retryDelay } : {}) }),
    },
  };
}

/** An error left after the SDK's retries, as the request's failure: transient (throttling, 5xx, credentials) or permanent (the caller's fault). */
export function fail(request: DeploymentRequest, what: string, err: unknown): never {
  if (err instanceof DeployFailedError) throw err;
  const kind = classify(err);
  const detail = `${(err as Error).name}: ${(err as Error).message}`;
  const message =
    kind === 'throttled'
      ? `${what}: AWS still throttled after ${MAX_ATTEMPTS} attempts (${detail}); retried later`
      : kind === 'credentials'
        ? `${what}: AWS refused the credentials (${detail}); check the Secret the DeploymentTarget's spec.aws.credentialsSecretRef names`
        : `${what}: ${detail}`;
  throw new DeployFailedError(request.requestId, message, kind === 'permanent', { cause: err });
}

export interface Poller {
  /** Polls `reached` until it answers; backoff between polls; past the deadline a transient failure naming `what`. */
  until<T>(request: DeploymentRequest, what: string, reached: () => Promise<T | undefined>, context: ProvisionContext): Promise<T>;
}

export function poller(options: AwsProvisionerOptions): Poller {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;
  return {
    async until(request, what, reached, context) {
      const deadlineMs = options.waitDeadlineMs ?? WAIT_DEADLINE_MS;
      const deadline = now() + deadlineMs;
      let delay = options.pollFirstMs ?? POLL_FIRST_MS;
      for (;;) {
        const done = await reached();
        if (done !== undefined) return done;
        if (now() + delay > deadline) throw new DeployFailedError(request.requestId, `${what} after ${Math.round(deadlineMs / 1000)} s; the request is retried and resumes the wait`, false);
        context.logger.info({ waitMs: delay }, `waiting: ${what}`);
        await sleep(delay);
        delay = Math.min(delay * 2, options.pollCapMs ?? POLL_CAP_MS);
      }
    },
  };
}
