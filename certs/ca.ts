// The KIDP webhook certificate authority: a self-signed ECDSA P-256 CA whose only job is
// to sign the webhook's serving certificates. The kube-apiserver's webhook client (Go
// crypto/tls) verifies ECDSA P-256 chains as readily as RSA, and P-256 keys cost ~0.3 ms
// to make against ~150 ms for RSA 2048.
import { createPrivateKey, randomBytes, type webcrypto } from 'node:crypto';
import { subtle, x509 } from './x509-provider.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** One year: short enough that a leaked CA key ages out, long enough that CA rotation is rare. */
export const DEFAULT_CA_VALIDITY_MS = 365 * DAY_MS;

/**
 * Certificates start this far in the past so a peer whose clock runs a little behind
 * ours does not reject a certificate issued a moment ago as "not yet valid".
 */
export const CLOCK_SKEW_ALLOWANCE_MS = 5 * 60 * 1000;

/** ECDSA P-256 with SHA-256: accepted by Go's crypto/tls and by Node's TLS. */
export const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** 16 random bytes: RFC 5280 allows up to 20 octets; 128 bits make collisions moot. */
const SERIAL_BYTES = 16;

/** A certificate and its private key, both PEM (the key as PKCS#8). */
export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
}

export interface CreateCaOptions {
  /** Issue time; the certificate is valid from `now - CLOCK_SKEW_ALLOWANCE_MS`. */
  now: Date;
  validityMs?: number;
  /** Defaults to `kidp-webhook-ca@<unix seconds>`, unique per generation like kubeadm's. */
  commonName?: string;
}

export async function createCa(options: CreateCaOptions): Promise<IssuedCertificate> {
  const validityMs = options.validityMs ?? DEFAULT_CA_VALIDITY_MS;
  const commonName = options.commonName ?? `kidp-webhook-ca@${Math.floor(options.now.getTime() / 1000)}`;
  const keys = await subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [commonName] }, { O: ['kidp'] }],
    notBefore: new Date(options.now.getTime() - CLOCK_SKEW_ALLOWANCE_MS),
    notAfter: new Date(options.now.getTime() + validityMs),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      // pathLen 0: this CA signs leaf certificates only, never another CA.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: withNewline(cert.toString('pem')), keyPem: await exportPrivateKeyPem(keys.privateKey) };
}

/**
 * A positive serial in minimal DER form as hex: first byte 0x40–0x7f, so there is no
 * sign byte and no leading zero, which Go's strict ASN.1 integer parser rejects.
 */
export function randomSerial(): string {
  const bytes = randomBytes(SERIAL_BYTES);
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return bytes.toString('hex');
}

export async function exportPrivateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await subtle.exportKey('pkcs8', key);
  return withNewline(x509.PemConverter.encode(der, 'PRIVATE KEY'));
}

/** PEM files end in a newline; concatenated bundles depend on it. */
export function withNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

/** Imports a PEM private key (PKCS#8 or SEC1) for signing; throws if it is not P-256. */
export async function importSigningKey(keyPem: string): Promise<webcrypto.CryptoKey> {
  const der = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  return subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']);
}
