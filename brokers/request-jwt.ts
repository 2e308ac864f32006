// Webhook delivery tokens (DESIGN.md §5, the controller → broker direction): the controllers
// sign each HTTPS delivery of a DeploymentRequest, the broker verifies it before it reads
// the request. Symmetric to status-jwt.ts, which covers broker → status API.
//
// Claims: `iss` = REQUEST_TOKEN_ISSUER, `aud` = the broker identity the request is for
// (request.target.identity), `sub` = the requestId, BODY_HASH_CLAIM = base64url SHA-256 of
// the exact body bytes, `iat`, `exp` (60 s). The body hash is what makes a token useless
// for any other request: a captured token can only re-deliver the same bytes within its
// minute, and brokers are idempotent on a request id, so that replay is a no-op.
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { DeploymentRequest } from './contract.js';
import { RequestUnauthenticatedError } from './errors.js';

/** Who signs deliveries; a token minted by anyone else for anything else is refused. */
export const REQUEST_TOKEN_ISSUER = 'kidp-controllers';
/** One token per delivery, used at once: a minute covers a slow apiserver behind the broker's answer, not more. */
export const REQUEST_TOKEN_TTL_SECONDS = 60;
/** Skew tolerated on exp/iat between the controllers' and the broker's hosts (as status-jwt.ts). */
export const REQUEST_CLOCK_TOLERANCE_SECONDS = 5;
/** The claim binding a token to the body it was signed for. */
export const BODY_HASH_CLAIM = 'body_sha256';
/** Fixed by the key type we accept (EC P-256), never by the token's header. */
const ALGORITHM = 'ES256';

/** base64url(SHA-256(body)), over the bytes as sent, not a re-encoding of the parsed JSON. */
export function bodyHash(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('base64url');
}

/** A PEM key (PKCS#8 private or SPKI public) as a KeyObject; refuses anything but EC P-256, since the tokens are ES256. */
export function es256Key(pem: string, kind: 'private' | 'public', what: string): KeyObject {
  const key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`${what} is a ${key.asymmetricKeyType ?? 'unknown'} key; ES256 needs an EC P-256 key (openssl ecparam -name prime256v1)`);
  }
  return key;
}

/**
 * Every public key in a PEM text (one or more SPKI blocks, e.g. a file holding the current
 * and the next dispatch key during a rotation), each checked as es256Key does.
 */
export function es256PublicKeys(pemText: string, what: string): KeyObject[] {
  const blocks = pemText.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`${what} holds no PEM public key (-----BEGIN PUBLIC KEY-----)`);
  return blocks.map((pem, i) => es256Key(pem, 'public', blocks.length > 1 ? `${what} (key ${i + 1} of ${blocks.length})` : what));
}

/** What the controllers put in `Authorization: Bearer` for one delivery of `body` (the encoded `request`). */
export async function signRequestToken(options: { privateKey: KeyObject; request: Pick<DeploymentRequest, 'requestId' | 'target'>; body: Uint8Array; now?: Date; ttlSeconds?: number }): Promise<string> {
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
  return new SignJWT({ [BODY_HASH_CLAIM]: bodyHash(options.body) })
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setIssuer(REQUEST_TOKEN_ISSUER)
    .setAudience(options.request.target.identity)
    .setSubject(options.request.requestId)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (options.ttlSeconds ?? REQUEST_TOKEN_TTL_SECONDS))
    .sign(options.privateKey);
}

export interface VerifiedRequestToken {
  /** The broker identities the token is for. */
  audiences: string[];
  /** The requestId the token is for. */
  requestId: string;
  /** `exp`, seconds since the epoch. */
  expiresAt: number;
}

function reasonFor(err: unknown, audiences: readonly string[]): RequestUnauthenticatedError {
  if (err instanceof joseErrors.JWTExpired) return new RequestUnauthenticatedError('expired', `token expired (${err.message})`, { cause: err });
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new RequestUnauthenticatedError('bad-signature', 'signature does not verify with any trusted platform public key', { cause: err });
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return new RequestUnauthenticatedError('wrong-audience', `token is not for this broker (serves ${audiences.join(', ')})`, { cause: err });
    if (err.claim === 'iss') return new RequestUnauthenticatedError('wrong-issuer', `token issuer is not ${REQUEST_TOKEN_ISSUER}`, { cause: err });
    return new RequestUnauthenticatedError('invalid-token', `claim ${err.claim}: ${err.message}`, { cause: err });
  }
  if (err instanceof joseErrors.JOSEError) return new RequestUnauthenticatedError('invalid-token', `invalid token (${err.code})`, { cause: err });
  return new RequestUnauthenticatedError('invalid-token', `could not verify token: ${(err as Error).message}`, { cause: err });
}

/**
 * Authenticates one webhook delivery before its body is parsed: a bearer token signed by
 * a platform key, issued by the controllers, for one of `audiences`, unexpired, over
 * exactly `body`. Throws RequestUnauthenticatedError naming the reason. Several keys are
 * trusted during a rotation: a token verifies if its signature verifies with any of them.
 */
export async function verifyRequestToken(options: { authorization: string | undefined; body: Uint8Array; publicKey: KeyObject | readonly KeyObject[]; audiences: readonly string[]; now?: Date }): Promise<VerifiedRequestToken> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(options.authorization ?? '');
  if (!match?.[1]) throw new RequestUnauthenticatedError('missing-token', 'no Authorization: Bearer <JWT> header');
  const keys = Array.isArray(options.publicKey) ? (options.publicKey as readonly KeyObject[]) : [options.publicKey as KeyObject];
  let payload: JWTPayload | undefined;
  let failure: unknown;
  for (const key of keys) {
    try {
      ({ payload } = await jwtVerify(match[1], key, {
        algorithms: [ALGORITHM],
        issuer: REQUEST_TOKEN_ISSUER,
        audience: [...options.audiences],
        requiredClaims: ['sub', 'iat', 'exp', BODY_HASH_CLAIM],
        clockTolerance: REQUEST_CLOCK_TOLERANCE_SECONDS,
        currentDate: options.now,
      }));
      break;
    } catch (err) {
      failure = err;
      // Another trusted key may have signed it; any other failure is the token's own.
      if (!(err instanceof joseErrors.JWSSignatureVerificationFailed)) break;
    }
  }
  if (!payload) throw reasonFor(failure, options.audiences);
  if (payload[BODY_HASH_CLAIM] !== bodyHash(options.body)) {
    throw new RequestUnauthenticatedError('body-mismatch', 'the body is not the one the token was signed for');
  }
  const aud = payload.aud;
  return { audiences: typeof aud === 'string' ? [aud] : (aud ?? []), requestId: payload.sub ?? '', expiresAt: payload.exp ?? 0 };
}

/** After parsing: the token must be for this very request and the broker identity it names. */
export function checkTokenMatchesRequest(token: VerifiedRequestToken, request: DeploymentRequest): void {
  if (token.requestId !== request.requestId) {
    throw new RequestUnauthenticatedError('wrong-subject', `token is for request ${token.requestId}, the body is request ${request.requestId}`);
  }
  if (!token.audiences.includes(request.target.identity)) {
    throw new RequestUnauthenticatedError('wrong-audience', `token is for ${token.audiences.join(', ')}, the request is for broker ${request.target.identity}`);
  }
}
