// Tokens signed and verified with real keys (node:crypto + jose), and a JWKS served over
// real HTTPS on loopback.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createPrivateKey as createPrivateKeyObject, createPublicKey } from 'node:crypto';
import { exportJWK, SignJWT } from 'jose';
import { createCa } from '../certs/ca.js';
import { issueServingCertificate } from '../certs/serving.js';
import { STATUS_AUDIENCE, TokenVerifier, generateBrokerKeyPair, signStatusToken } from './status-jwt.js';

const NOW = new Date('2026-05-01T12:00:00Z');
const keys = generateBrokerKeyPair();
const other = generateBrokerKeyPair();
const PREFIX = 'status report not authenticated: ';
const SUFFIX = '; send a JWT signed with the key named in the DeploymentTarget';

let server: Server;
let jwksURL: string;
let caPem: string;

beforeAll(async () => {
  const ca = await createCa({ now: new Date() });
  caPem = ca.certPem;
  const tls = await issueServingCertificate({ ca, now: new Date(), serviceName: 'jwks', namespace: 'test' });
  const jwk = { ...(await exportJWK(createPublicKey(keys.publicKeyPem))), kid: 'k1', alg: 'ES256', use: 'sig' };
  server = createServer({ cert: tls.certPem, key: tls.keyPem }, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  jwksURL = `https://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function verify(token: string, via: 'pem' | 'jwks' = 'pem') {
  const verifier = new TokenVerifier({ caBundle: caPem, now: () => NOW });
  try {
    return { ok: await verifier.verify(token, via === 'pem' ? { publicKey: keys.publicKeyPem } : { jwksURL }, 't1') };
  } catch (err) {
    return { error: (err as Error).name, message: (err as Error).message };
  }
}

describe('status tokens', () => {
  it.each([
    ['a fresh token, PEM key', () => signStatusToken({ privateKeyPem: keys.privateKeyPem, identity: 'b1', targets: ['t1', 't2'], now: NOW }), 'pem', { ok: { identity: 'b1', targets: ['t1', 't2'], expiresAt: NOW.getTime() / 1000 + 60 } }],
    ['a fresh token, JWKS', () => signStatusToken({ privateKeyPem: keys.privateKeyPem, identity: 'b1', targets: ['t1'], now: NOW }), 'jwks', { ok: { identity: 'b1', targets: ['t1'], expiresAt: NOW.getTime() / 1000 + 60 } }],
    ['scope instead of targets', () => new SignJWT({ scope: 'status:write target:t1 target:t3' }).setProtectedHeader({ alg: 'ES256' }).setSubject('b1').setAudience(STATUS_AUDIENCE).setExpirationTime(Math.floor(NOW.getTime() / 1000) + 60).sign(createPrivateKeyObject(keys.privateKeyPem)), 'pem', {
      ok: { identity: 'b1', targets: ['t1', 't3'], expiresAt: NOW.getTime() / 1000 + 60 },
    }],
    ['another key', () => signStatusToken({ privateKeyPem: other.privateKeyPem, identity: 'b1', targets: ['t1'], now: NOW }), 'pem', { error: 'UnauthenticatedError', message: `${PREFIX}signature does not verify with the key of target t1${SUFFIX}` }],
    ['another key, JWKS', () => signStatusToken({ privateKeyPem: other.privateKeyPem, identity: 'b1', targets: ['t1'], now: NOW }), 'jwks', { error: 'UnauthenticatedError', message: `${PREFIX}signature does not verify with the key of target t1${SUFFIX}` }],
    ['expired', () => signStatusToken({ privateKeyPem: keys.privateKeyPem, identity: 'b1', targets: ['t1'], now: new Date(NOW.getTime() - 120_000) }), 'pem', { error: 'UnauthenticatedError', message: `${PREFIX}token expired${SUFFIX}` }],
    ['wrong audience', () => new SignJWT({ targets: ['t1'] }).setProtectedHeader({ alg: 'ES256' }).setSubject('b1').setAudience('somewhere-else').setExpirationTime(Math.floor(NOW.getTime() / 1000) + 60).sign(createPrivateKeyObject(keys.privateKeyPem)), 'pem', {
      error: 'UnauthenticatedError',
      message: `${PREFIX}invalid token (ERR_JWT_CLAIM_VALIDATION_FAILED)${SUFFIX}`,
    }],
    ['no expiry', () => new SignJWT({ targets: ['t1'] }).setProtectedHeader({ alg: 'ES256' }).setSubject('b1').setAudience(STATUS_AUDIENCE).sign(createPrivateKeyObject(keys.privateKeyPem)), 'pem', {
      error: 'UnauthenticatedError',
      message: `${PREFIX}invalid token (ERR_JWT_CLAIM_VALIDATION_FAILED)${SUFFIX}`,
    }],
    ['not a JWT', () => Promise.resolve('abc.def.ghi'), 'pem', { error: 'UnauthenticatedError', message: `${PREFIX}invalid token (ERR_JWS_INVALID)${SUFFIX}` }],
  ] as const)('%s', async (_name, token, via, expected) => {
    expect(await verify(await token(), via)).toEqual(expected);
  });

  it('refuses when the target has no key at all', async () => {
    const token = await signStatusToken({ privateKeyPem: keys.privateKeyPem, identity: 'b1', targets: ['t1'], now: NOW });
    await expect(new TokenVerifier({ now: () => NOW }).verify(token, {}, 't1')).rejects.toThrow(`${PREFIX}DeploymentTarget t1 has neither spec.broker.publicKey nor spec.broker.jwksURL${SUFFIX}`);
  });
});
