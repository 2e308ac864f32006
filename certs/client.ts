// Client certificates signed by a KIDP CA: a principal (CN, and O for groups) that a TLS
// server checking client certificates — the webhook's --client-ca-file, Kafka's mTLS
// listener — can authenticate.
import { CLOCK_SKEW_ALLOWANCE_MS, KEY_ALGORITHM, SIGNING_ALGORITHM, exportPrivateKeyPem, importSigningKey, randomSerial, withNewline, type IssuedCertificate } from './ca.js';
import { x509, subtle } from './x509-provider.js';

/** One hour: client certificates here are for tests and short-lived tools, not long-term identities. */
export const DEFAULT_CLIENT_VALIDITY_MS = 60 * 60 * 1000;

export interface ClientIdentity {
  commonName: string;
  organizations?: readonly string[];
  validityMs?: number;
  /** Defaults to Date.now(); injected by tests that control time. */
  now?: number;
}

/** Issues a clientAuth-only leaf certificate for `identity`, signed by `ca`. */
export async function issueClientCertificate(ca: IssuedCertificate, identity: ClientIdentity): Promise<IssuedCertificate> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const keys = await subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
  const now = identity.now ?? Date.now();
  const subject: Record<string, string[]> = { CN: [identity.commonName] };
  if (identity.organizations && identity.organizations.length > 0) subject.O = [...identity.organizations];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [subject],
    issuer: caCert.subject,
    notBefore: new Date(now - CLOCK_SKEW_ALLOWANCE_MS),
    notAfter: new Date(now + (identity.validityMs ?? DEFAULT_CLIENT_VALIDITY_MS)),
    publicKey: keys.publicKey,
    signingKey: await importSigningKey(ca.keyPem),
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true), new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
  });
  return { certPem: withNewline(cert.toString('pem')), keyPem: await exportPrivateKeyPem(keys.privateKey) };
}
