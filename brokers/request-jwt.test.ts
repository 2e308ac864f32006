// Webhook delivery tokens signed and verified with real keys (node:crypto + jose); the
// clock is injected, so expiry is tested without waiting.
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import type { DeploymentRequest } from './contract.js';
import { generateBrokerKeyPair } from './status-jwt.js';
import { encodeMessage } from './protocol.js';
import { sampleRequest } from './testdata.js';
import { BODY_HASH_CLAIM, REQUEST_TOKEN_ISSUER, bodyHash, checkTokenMatchesRequest, es256Key, es256PublicKeys, signRequestToken, verifyRequestToken } from './request-jwt.js';

const NOW = new Date('2026-05-01T12:00:00Z');
const platform = generateBrokerKeyPair();
const other = generateBrokerKeyPair();
const privateKey = es256Key(platform.privateKeyPem, 'private', 'test key');
const publicKey = es256Key(platform.publicKeyPem, 'public', 'test key');
const SUFFIX =
  '; the controllers sign each webhook delivery with their dispatch key (kidp controllers run --dispatch-signing-key-file) and the broker must trust its public half (kidp broker run --platform-public-key-file)';

const request: DeploymentRequest = sampleRequest;
const body = encodeMessage(request);
const tampered = encodeMessage({ ...request, resource: { ...request.resource, spec: { image: 'evil/miner:1' } } });

const sign = (options: { key?: string; now?: Date; req?: DeploymentRequest; signedBody?: Buffer } = {}) =>
  signRequestToken({ privateKey: options.key ? es256Key(options.key, 'private', 'k') : privateKey, request: options.req ?? request, body: options.signedBody ?? body, now: options.now ?? NOW });

/** The whole outcome: the verified claims, or the error's name, code, reason and message. */
async function verify(authorization: string | undefined, options: { sent?: Buffer; now?: Date; audiences?: string[] } = {}) {
  try {
    return { ok: await verifyRequestToken({ authorization, body: options.sent ?? body, publicKey, audiences: options.audiences ?? ['b1', 'b2'], now: options.now ?? NOW }) };
  } catch (err) {
    const e = err as Error & { code: string; reason: string };
    return { error: e.name, code: e.code, reason: e.reason, message: e.message };
  }
}

const refused = (reason: string, detail: string) => ({
  error: 'RequestUnauthenticatedError',
  code: 'KIDP_BROKERS_REQUEST_UNAUTHENTICATED',
  reason,
  message: `deployment request not authenticated (${reason}): ${detail}${SUFFIX}`,
});

describe('webhook delivery tokens', () => {
  it.each([
    ['a valid token for exactly this body', async () => `Bearer ${await sign()}`, {}, { ok: { audiences: ['b1'], requestId: 'uid-1-1', expiresAt: NOW.getTime() / 1000 + 60 } }],
    ['valid 4 s after expiry (clock tolerance)', async () => `Bearer ${await sign()}`, { now: new Date(NOW.getTime() + 64_000) }, { ok: { audiences: ['b1'], requestId: 'uid-1-1', expiresAt: NOW.getTime() / 1000 + 60 } }],
    ['no Authorization header', () => Promise.resolve(undefined), {}, refused('missing-token', 'no Authorization: Bearer <JWT> header')],
    ['not a Bearer header', async () => `Basic ${await sign()}`, {}, refused('missing-token', 'no Authorization: Bearer <JWT> header')],
    ['signed by another key', async () => `Bearer ${await sign({ key: other.privateKeyPem })}`, {}, refused('bad-signature', 'signature does not verify with any trusted platform public key')],
    ['expired (injected clock, 66 s after issue)', async () => `Bearer ${await sign()}`, { now: new Date(NOW.getTime() + 66_000) }, refused('expired', 'token expired ("exp" claim timestamp check failed)')],
    ['for another broker', async () => `Bearer ${await sign({ req: { ...request, target: { ...request.target, identity: 'b9' } } })}`, {}, refused('wrong-audience', 'token is not for this broker (serves b1, b2)')],
    ['the body was changed after signing', async () => `Bearer ${await sign()}`, { sent: tampered }, refused('body-mismatch', 'the body is not the one the token was signed for')],
    ['a status token (other issuer)', () => new SignJWT({ [BODY_HASH_CLAIM]: bodyHash(body) }).setProtectedHeader({ alg: 'ES256' }).setIssuer('kidp-brokers').setAudience('b1').setSubject('uid-1-1').setIssuedAt(NOW).setExpirationTime(new Date(NOW.getTime() + 60_000)).sign(privateKey).then((t) => `Bearer ${t}`), {}, refused('wrong-issuer', `token issuer is not ${REQUEST_TOKEN_ISSUER}`)],
    ['no body hash claim', () => new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setIssuer(REQUEST_TOKEN_ISSUER).setAudience('b1').setSubject('uid-1-1').setIssuedAt(NOW).setExpirationTime(new Date(NOW.getTime() + 60_000)).sign(privateKey).then((t) => `Bearer ${t}`), {}, refused('invalid-token', `claim ${BODY_HASH_CLAIM}: missing required "${BODY_HASH_CLAIM}" claim`)],
    ['an HMAC token (algorithm not ours)', () => new SignJWT({ [BODY_HASH_CLAIM]: bodyHash(body) }).setProtectedHeader({ alg: 'HS256' }).setIssuer(REQUEST_TOKEN_ISSUER).setAudience('b1').setSubject('uid-1-1').setIssuedAt(NOW).setExpirationTime(new Date(NOW.getTime() + 60_000)).sign(new TextEncoder().encode('x'.repeat(32))).then((t) => `Bearer ${t}`), {}, refused('invalid-token', 'invalid token (ERR_JOSE_ALG_NOT_ALLOWED)')],
    ['not a JWT', () => Promise.resolve('Bearer abc.def.ghi'), {}, refused('invalid-token', 'invalid token (ERR_JWS_INVALID)')],
  ] as const)('%s', async (_name, header, options, expected) => {
    expect(await verify(await header(), options)).toEqual(expected);
  });

  it('binds the token to the parsed request: its requestId and its broker identity', () => {
    const token = { audiences: ['b1'], requestId: 'uid-1-1', expiresAt: 0 };
    const outcome = (req: DeploymentRequest) => {
      try {
        checkTokenMatchesRequest(token, req);
        return 'ok';
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect([outcome(request), outcome({ ...request, requestId: 'uid-1-2' }), outcome({ ...request, target: { ...request.target, identity: 'b2' } })]).toEqual([
      'ok',
      refused('wrong-subject', 'token is for request uid-1-1, the body is request uid-1-2').message,
      refused('wrong-audience', 'token is for b1, the request is for broker b2').message,
    ]);
  });

  it('signs ES256 over iss, aud, sub, the body hash, iat and exp (60 s)', async () => {
    const [header, payload] = (await sign())
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown);
    const iat = NOW.getTime() / 1000;
    expect({ header, payload }).toEqual({
      header: { alg: 'ES256', typ: 'JWT' },
      payload: { iss: 'kidp-controllers', aud: 'b1', sub: 'uid-1-1', [BODY_HASH_CLAIM]: bodyHash(body), iat, exp: iat + 60 },
    });
  });

  it('trusts every key of a rotation: a token from either verifies, from neither is a bad signature, and an expired one stays expired', async () => {
    const next = generateBrokerKeyPair();
    const trusted = es256PublicKeys(`${next.publicKeyPem}\n${platform.publicKeyPem}`, 'the platform public key');
    const check = async (key: string, now = NOW) => {
      try {
        await verifyRequestToken({ authorization: `Bearer ${await sign({ key })}`, body, publicKey: trusted, audiences: ['b1'], now });
        return 'ok';
      } catch (err) {
        return (err as Error & { reason: string }).reason;
      }
    };
    expect({
      keys: trusted.length,
      current: await check(platform.privateKeyPem),
      next: await check(next.privateKeyPem),
      other: await check(other.privateKeyPem),
      expired: await check(platform.privateKeyPem, new Date(NOW.getTime() + 66_000)),
    }).toEqual({ keys: 2, current: 'ok', next: 'ok', other: 'bad-signature', expired: 'expired' });
    expect(() => es256PublicKeys('not a key', 'the platform public key')).toThrow('the platform public key holds no PEM public key (-----BEGIN PUBLIC KEY-----)');
  });

  it('refuses keys that are not EC P-256', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => es256Key(rsa, 'public', 'the platform public key')).toThrow('the platform public key is a rsa key; ES256 needs an EC P-256 key (openssl ecparam -name prime256v1)');
  });
});
