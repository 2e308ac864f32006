// Status-report tokens (DESIGN.md §5): brokers sign, the status API verifies against the
// DeploymentTarget's key. Claims: `sub` = broker identity, `targets` = the DeploymentTarget
// names it may update (or `scope` = "target:<name> ..."), `aud` = STATUS_AUDIENCE, `exp`.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { SignJWT, createLocalJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { UnauthenticatedError } from './errors.js';

/** Tokens are for this API only, so one leaked elsewhere (or minted for something else) is useless here. */
export const STATUS_AUDIENCE = 'kidp-status-api';
/** Short-lived: a broker signs one per report, so a captured token is worth a minute. */
export const STATUS_TOKEN_TTL_SECONDS = 60;
/** Clock skew tolerated on exp/nbf between broker and status API hosts. */
export const CLOCK_TOLERANCE_SECONDS = 5;
/** JWKS documents are re-fetched after this; key rotation at the broker shows up within it. */
export const JWKS_CACHE_MS = 5 * 60 * 1000;
const JWKS_FETCH_TIMEOUT_MS = 5_000;

export interface TargetKeys {
  /** PEM SPKI (DeploymentTarget spec.broker.publicKey). */
  publicKey?: string;
  /** DeploymentTarget spec.broker.jwksURL. */
  jwksURL?: string;
}

export interface VerifiedToken {
  identity: string;
  targets: string[];
  /** BODY_HASH_CLAIM when the token binds a body (status events over Kafka). */
  bodySha256?: string;
  /** `exp`, seconds since the epoch. */
  expiresAt: number;
}

/** The claim binding a status token to the event bytes it was signed for (as request-jwt.ts). */
export const STATUS_BODY_HASH_CLAIM = 'body_sha256';

/** Algorithms a PEM key may verify; never chosen by the token's own header. */
function algorithmsFor(key: KeyObject): string[] {
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    return curve === 'secp384r1' ? ['ES384'] : curve === 'secp521r1' ? ['ES512'] : ['ES256'];
  }
  if (type === 'rsa' || type === 'rsa-pss') return ['RS256', 'PS256'];
  if (type === 'ed25519') return ['EdDSA'];
  return [];
}

function claimedTargets(payload: JWTPayload): string[] {
  const targets = payload['targets'];
  if (Array.isArray(targets)) return targets.filter((t): t is string => typeof t === 'string');
  const scope = payload['scope'];
  if (typeof scope === 'string') {
    return scope
      .split(' ')
      .filter((s) => s.startsWith('target:'))
      .map((s) => s.slice('target:'.length));
  }
  return [];
}

function getJson(url: string, caBundle: string | undefined): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(url), { method: 'GET', ca: caBundle, timeout: JWKS_FETCH_TIMEOUT_MS }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8')));
      res.on('end', () => {
        if ((res.statusCode ?? 0) !== 200) return reject(new Error(`GET ${url} answered ${res.statusCode}`));
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export class TokenVerifier {
  private readonly jwks = new Map<string, { fetchedAt: number; set: ReturnType<typeof createLocalJWKSet> }>();

  constructor(private readonly options: { caBundle?: string; now?: () => Date } = {}) {}

  private async jwksFor(url: string): Promise<ReturnType<typeof createLocalJWKSet>> {
    const nowMs = (this.options.now?.() ?? new Date()).getTime();
    const cached = this.jwks.get(url);
    if (cached && nowMs - cached.fetchedAt < JWKS_CACHE_MS) return cached.set;
    const set = createLocalJWKSet((await getJson(url, this.options.caBundle)) as JSONWebKeySet);
    this.jwks.set(url, { fetchedAt: nowMs, set });
    return set;
  }

  /** Verifies signature, audience and expiry; throws UnauthenticatedError with the reason. */
  async verify(token: string, keys: TargetKeys, targetName: string): Promise<VerifiedToken> {
    const common = { audience: STATUS_AUDIENCE, requiredClaims: ['sub', 'exp'], clockTolerance: CLOCK_TOLERANCE_SECONDS, currentDate: this.options.now?.() };
    let payload: JWTPayload;
    try {
      if (keys.publicKey) {
        const key = createPublicKey(keys.publicKey);
        ({ payload } = await jwtVerify(token, key, { ...common, algorithms: algorithmsFor(key) }));
      } else if (keys.jwksURL) {
        ({ payload } = await jwtVerify(token, await this.jwksFor(keys.jwksURL), { ...common, algorithms: ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'] }));
      } else {
        throw new UnauthenticatedError(`DeploymentTarget ${targetName} has neither spec.broker.publicKey nor spec.broker.jwksURL`);
      }
    } catch (err) {
      if (err instanceof UnauthenticatedError) throw err;
      const reason =
        err instanceof joseErrors.JWTExpired
          ? 'token expired'
          : err instanceof joseErrors.JWSSignatureVerificationFailed
            ? `signature does not verify with the key of target ${targetName}`
            : err instanceof joseErrors.JOSEError
              ? `invalid token (${err.code})`
              : `could not verify token: ${(err as Error).message}`;
      throw new UnauthenticatedError(reason, { cause: err });
    }
    const bodySha256 = payload[STATUS_BODY_HASH_CLAIM];
    return { identity: payload.sub ?? '', targets: claimedTargets(payload), ...(typeof bodySha256 === 'string' ? { bodySha256 } : {}), expiresAt: payload.exp ?? 0 };
  }
}

/**
 * What a broker sends: ES256 over `sub`, `targets`, `aud`, `iat`, `exp`, and with `body`
 * (a status event on Kafka, where no TLS session ties token to body) the body's hash.
 */
export async function signStatusToken(options: { privateKeyPem: string; identity: string; targets: string[]; body?: Uint8Array; now?: Date; ttlSeconds?: number }): Promise<string> {
  const key = createPrivateKey(options.privateKeyPem);
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
  return new SignJWT({ targets: options.targets, ...(options.body ? { [STATUS_BODY_HASH_CLAIM]: createHash('sha256').update(options.body).digest('base64url') } : {}) })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
    .setSubject(options.identity)
    .setAudience(STATUS_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (options.ttlSeconds ?? STATUS_TOKEN_TTL_SECONDS))
    .sign(key);
}

/** An ES256 key pair for a broker: the private key stays with it, the public key goes into its DeploymentTargets. */
export function generateBrokerKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}
