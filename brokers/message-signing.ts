// End-to-end signatures on Kafka messages (issue 10 item 3). Kafka's ACLs decide which
// principal may produce to a topic; these decide whether a message was written by the one
// who should have, so a leaked Kafka certificate alone cannot forge a request or a status.
//
// Every record carries SIGNATURE_HEADER, a compact JWT over the record's exact value bytes:
// - a DeploymentRequest: the controllers' dispatch key, the same claims as a webhook
//   delivery (request-jwt.ts: iss kidp-controllers, aud = broker identity, sub = requestId,
//   body_sha256, exp);
// - a StatusEvent: the broker's key, the claims the status API checks (status-jwt.ts: sub =
//   broker identity, targets, aud kidp-status-api, exp) plus body_sha256, verified against
//   the DeploymentTarget's key exactly as the status API does.
// A message that fails is dead-lettered with the reason and counted; nothing acts on it.
import { createHash, type KeyObject } from 'node:crypto';
import type { IHeaders } from 'kafkajs';
import { errors as joseErrors } from 'jose';
import type { DeploymentRequest, StatusEvent } from './contract.js';
import { MessageRefusedError, RequestUnauthenticatedError, UnauthenticatedError, type MessageRefusal } from './errors.js';
import { checkTokenMatchesRequest, signRequestToken, verifyRequestToken } from './request-jwt.js';
import type { StatusAuth } from './status-handler.js';
import { signStatusToken, type TargetKeys, type TokenVerifier } from './status-jwt.js';

export const SIGNATURE_HEADER = 'kidp-signature';
/**
 * How long a signed request may wait in the topic. Longer than a webhook token's minute:
 * a request waits there while its broker restarts or rolls (the group resumes from its
 * offsets). One older than this is dead-lettered as expired rather than acted on late.
 */
export const KAFKA_MESSAGE_TOKEN_TTL_SECONDS = 15 * 60;

/** The header's value as a string, whatever kafkajs handed us (Buffer, string, or an array of them). */
export function headerValue(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  const one = Array.isArray(v) ? v[0] : v;
  if (one === undefined) return undefined;
  return Buffer.isBuffer(one) ? one.toString('utf8') : String(one);
}

/**
 * Remembers the tokens seen (by hash) and where, until they expire. The same token at the
 * same offset is a re-delivery (at-least-once consumption) and fine; at another offset it
 * is a replay: someone with produce rights copied a signed message. A restarted consumer
 * forgets; a replay after that re-applies a request id the broker is idempotent on.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, { at: string; expiresAtMs: number }>();
  /** Past this many remembered tokens, expired ones are dropped before adding another. */
  private static readonly PRUNE_ABOVE = 10_000;

  constructor(private readonly now: () => number = Date.now) {}

  /** Throws MessageRefusedError('replayed') when this token was seen at another position. */
  check(token: string, at: string, expiresAtSeconds: number): void {
    const id = createHash('sha256').update(token).digest('base64url');
    const nowMs = this.now();
    const previous = this.seen.get(id);
    if (previous && previous.expiresAtMs > nowMs && previous.at !== at) {
      throw new MessageRefusedError('replayed', `the same signed message was first seen at ${previous.at}`);
    }
    if (this.seen.size >= ReplayGuard.PRUNE_ABOVE) {
      for (const [key, entry] of this.seen) if (entry.expiresAtMs <= nowMs) this.seen.delete(key);
    }
    if (!previous) this.seen.set(id, { at, expiresAtMs: expiresAtSeconds * 1000 });
  }
}

/** The signature header of a request the controllers put on Kafka. */
export async function signRequestMessage(options: { privateKey: KeyObject; request: DeploymentRequest; body: Uint8Array; now?: Date }): Promise<string> {
  return signRequestToken({ privateKey: options.privateKey, request: options.request, body: options.body, ttlSeconds: KAFKA_MESSAGE_TOKEN_TTL_SECONDS, ...(options.now ? { now: options.now } : {}) });
}

/** The signature header of a status event a broker puts on Kafka. */
export async function signStatusMessage(options: { privateKeyPem: string; event: StatusEvent; body: Uint8Array; now?: Date }): Promise<string> {
  return signStatusToken({ privateKeyPem: options.privateKeyPem, identity: options.event.broker, targets: [options.event.target], body: options.body, ttlSeconds: KAFKA_MESSAGE_TOKEN_TTL_SECONDS, ...(options.now ? { now: options.now } : {}) });
}

const REQUEST_REASONS: Record<RequestUnauthenticatedError['reason'], MessageRefusal> = {
  'missing-token': 'unsigned',
  'bad-signature': 'bad-signature',
  expired: 'expired',
  'wrong-issuer': 'wrong-issuer',
  'wrong-audience': 'wrong-audience',
  'wrong-subject': 'wrong-subject',
  'body-mismatch': 'body-mismatch',
  'invalid-token': 'invalid-token',
};

/** A broker's check of one request record (consumed by identity `identity`). */
export async function authenticateRequestMessage(options: {
  request: DeploymentRequest;
  body: Uint8Array;
  headers: IHeaders | undefined;
  at: string;
  identity: string;
  platformKeys: readonly KeyObject[];
  replay: ReplayGuard;
  now?: Date;
}): Promise<void> {
  const token = headerValue(options.headers, SIGNATURE_HEADER);
  if (!token) throw new MessageRefusedError('unsigned', `request ${options.request.requestId} carries no ${SIGNATURE_HEADER} header`);
  try {
    const verified = await verifyRequestToken({ authorization: `Bearer ${token}`, body: options.body, publicKey: options.platformKeys, audiences: [options.identity], ...(options.now ? { now: options.now } : {}) });
    checkTokenMatchesRequest(verified, options.request);
    options.replay.check(token, options.at, verified.expiresAt);
  } catch (err) {
    if (err instanceof RequestUnauthenticatedError) throw new MessageRefusedError(REQUEST_REASONS[err.reason], err.message, { cause: err });
    throw err;
  }
}

function statusReason(err: UnauthenticatedError): MessageRefusal {
  const cause = err.cause;
  if (cause instanceof joseErrors.JWTExpired) return 'expired';
  if (cause instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad-signature';
  if (cause instanceof joseErrors.JWTClaimValidationFailed && cause.claim === 'aud') return 'wrong-audience';
  return 'invalid-token';
}

/**
 * The status consumer's check of one status record: the DeploymentTarget the event names
 * must hold the key that signed it, for its broker identity, naming that target, over these
 * bytes. Returns what the status handler needs to bind the event to the token.
 */
export async function authenticateStatusMessage(options: {
  event: StatusEvent;
  body: Uint8Array;
  headers: IHeaders | undefined;
  at: string;
  targetKeys: (target: string) => Promise<(TargetKeys & { identity?: string }) | undefined>;
  verifier: TokenVerifier;
  replay: ReplayGuard;
}): Promise<StatusAuth> {
  const { event } = options;
  const token = headerValue(options.headers, SIGNATURE_HEADER);
  if (!token) throw new MessageRefusedError('unsigned', `status event ${event.eventId} carries no ${SIGNATURE_HEADER} header`);
  const target = await options.targetKeys(event.target);
  if (!target) throw new MessageRefusedError('unknown-target', `DeploymentTarget ${event.target} does not exist, so there is no key to verify with`);
  if (!target.publicKey && !target.jwksURL) throw new MessageRefusedError('no-target-key', `DeploymentTarget ${event.target} has neither spec.broker.publicKey nor spec.broker.jwksURL, so no status event for it can be verified`);
  let verified;
  try {
    verified = await options.verifier.verify(token, { ...(target.publicKey ? { publicKey: target.publicKey } : {}), ...(target.jwksURL ? { jwksURL: target.jwksURL } : {}) }, event.target);
  } catch (err) {
    if (err instanceof UnauthenticatedError) throw new MessageRefusedError(statusReason(err), err.message, { cause: err });
    throw err;
  }
  if (verified.identity !== target.identity || verified.identity !== event.broker) {
    throw new MessageRefusedError('wrong-broker', `signed by ${verified.identity}, the event claims broker ${event.broker}, target ${event.target}'s broker is ${target.identity ?? 'none'}`);
  }
  if (!verified.targets.includes(event.target)) throw new MessageRefusedError('wrong-broker', `the signature does not name target ${event.target}`);
  if (verified.bodySha256 !== createHash('sha256').update(options.body).digest('base64url')) {
    throw new MessageRefusedError('body-mismatch', `the event is not the one signed for (event ${event.eventId})`);
  }
  options.replay.check(token, options.at, verified.expiresAt);
  return { identity: verified.identity, targets: verified.targets };
}
