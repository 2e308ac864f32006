// Client certificates for Applications' Kafka principals (issue 10 item 2, issue 15 item 3).
//
// Who issues them: the Topic broker, with an intermediate CA (`kidp-app-issuer`) below the
// Kafka CA that is name-constrained (critical nameConstraints, permitted dirName
// O=kidp-applications, pathlen 0). Everything it signs has the subject
// CN=kidp-app-<namespace>.<application>,O=kidp-applications; a chain from it naming any
// other subject (CN=kidp-admin, CN=kidp-controllers) fails Kafka's path validation at the
// handshake, and Kafka's principal mapping turns a constrained subject into User:<CN> only
// for kidp-app-* names. So the key the broker holds mints application principals and
// nothing else — which adds nothing to what the broker can already do, since it is the one
// that grants those principals their ACLs. The Application never needs to ask anyone: its
// credentials appear in a Secret beside its workloads when its Topic is Ready.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { X509Certificate, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import type { KafkaTls } from '../../kube/kafka.js';

x509.cryptoProvider.set(webcrypto);
const subtle = webcrypto.subtle;

/** The organisation the issuer is constrained to; test/env/kafka/kafka.sh's APP_ORG and its principal mapping rule name it too. */
export const APPLICATION_ORGANIZATION = 'kidp-applications';
/** Every application principal's CN starts so; the mapping rule maps only these. */
export const APPLICATION_PRINCIPAL_PREFIX = 'kidp-app-';
/** Seven days: a leaked Secret ages out within a week; re-applying the Topic renews it. */
export const APPLICATION_CERT_VALIDITY_MS = 7 * 24 * 60 * 60 * 1000;
/** A certificate with less than this left is renewed on the next apply of its Topic. */
export const APPLICATION_CERT_RENEW_BEFORE_MS = 2 * 24 * 60 * 60 * 1000;
/** Valid from a little in the past, so a peer whose clock lags does not see it as not yet valid. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;

/** The CN (and so the Kafka principal User:<CN>) of Application `name` in `namespace`: namespaces hold no dots, so the first dot separates the two. */
export function applicationCommonName(namespace: string, application: string): string {
  return `${APPLICATION_PRINCIPAL_PREFIX}${namespace}.${application}`;
}

export interface ApplicationCredentials {
  /** The Kafka CA (to trust the brokers' certificate). */
  caPem: string;
  /** The leaf and the issuer, in that order: what the client presents. */
  certChainPem: string;
  keyPem: string;
  notAfter: Date;
}

/** A positive serial in minimal DER form (first byte 0x40-0x7f: no sign byte, no leading zero). */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return bytes.toString('hex');
}

const pemLine = (pem: string) => (pem.endsWith('\n') ? pem : `${pem}\n`);

/**
 * Issues a clientAuth certificate for CN=`commonName`,O=kidp-applications from the issuer
 * in `issuer` (ca.crt = the Kafka CA, tls.crt = the issuer certificate, tls.key = its key),
 * never outliving the issuer. The subject's RDNs are encoded O first, CN second, so the
 * name sits inside the issuer's permitted subtree (RFC 5280 §4.2.1.10).
 */
export async function issueApplicationCertificate(issuer: KafkaTls, commonName: string, options: { now?: Date; validityMs?: number } = {}): Promise<ApplicationCredentials> {
  const material = issuer.read();
  const issuerCert = new x509.X509Certificate(material.cert);
  const now = (options.now ?? new Date()).getTime();
  const notAfter = new Date(Math.min(now + (options.validityMs ?? APPLICATION_CERT_VALIDITY_MS), issuerCert.notAfter.getTime()));
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256' } as const;
  const keys = await subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const signingKey = await subtle.importKey('pkcs8', createPrivateKey(material.key).export({ type: 'pkcs8', format: 'der' }), algorithm, false, ['sign']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ O: [APPLICATION_ORGANIZATION] }, { CN: [commonName] }],
    issuer: issuerCert.subject,
    notBefore: new Date(now - CLOCK_SKEW_MS),
    notAfter,
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(issuerCert, false),
    ],
  });
  const keyDer = await subtle.exportKey('pkcs8', keys.privateKey);
  return {
    caPem: pemLine(material.ca),
    certChainPem: pemLine(cert.toString('pem')) + pemLine(x509.PemConverter.encode(issuerCert.rawData, 'CERTIFICATE')),
    keyPem: pemLine(x509.PemConverter.encode(keyDer, 'PRIVATE KEY')),
    notAfter,
  };
}

/** True when `certChainPem`'s leaf is for `commonName`, was signed by the issuer in `issuer` now, and has more than the renewal margin left. */
export function stillGood(certChainPem: string, commonName: string, issuer: KafkaTls, now: Date = new Date()): boolean {
  try {
    const leaf = new X509Certificate(certChainPem);
    const issuerCert = new X509Certificate(issuer.read().cert);
    return leaf.subject.split('\n').includes(`CN=${commonName}`) && leaf.checkIssued(issuerCert) && leaf.verify(issuerCert.publicKey) && new Date(leaf.validTo).getTime() - now.getTime() > APPLICATION_CERT_RENEW_BEFORE_MS;
  } catch {
    return false;
  }
}
