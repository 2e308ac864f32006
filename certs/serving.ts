// The webhook's serving certificate, signed by the KIDP CA, naming every way the
// kube-apiserver (service reference) and local tools (loopback) reach the server.
import { X509Certificate } from 'node:crypto';
import {
  CLOCK_SKEW_ALLOWANCE_MS,
  KEY_ALGORITHM,
  SIGNING_ALGORITHM,
  exportPrivateKeyPem,
  importSigningKey,
  randomSerial,
  withNewline,
  type IssuedCertificate,
} from './ca.js';
import { x509, subtle } from './x509-provider.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** 90 days, as public CAs issue: rotation is automatic, so short-lived costs nothing. */
export const DEFAULT_SERVING_VALIDITY_MS = 90 * DAY_MS;

/** Loopback names, so `kidp webhook serve` and tests can verify the same certificate. */
export const LOOPBACK_DNS_NAMES: readonly string[] = ['localhost'];
export const LOOPBACK_IPS: readonly string[] = ['127.0.0.1', '::1'];

export interface ServingIdentity {
  serviceName: string;
  namespace: string;
  /** Cluster DNS domain; `cluster.local` unless the cluster says otherwise. */
  clusterDomain?: string;
}

/**
 * The names the apiserver may dial for a webhook `clientConfig.service` (it uses
 * `<service>.<namespace>.svc`), plus the shorter and fully-qualified forms and loopback.
 */
export function servingDnsNames(identity: ServingIdentity): string[] {
  const { serviceName, namespace } = identity;
  const domain = identity.clusterDomain ?? 'cluster.local';
  return [
    serviceName,
    `${serviceName}.${namespace}`,
    `${serviceName}.${namespace}.svc`,
    `${serviceName}.${namespace}.svc.${domain}`,
    ...LOOPBACK_DNS_NAMES,
  ];
}

export interface IssueServingOptions extends ServingIdentity {
  ca: IssuedCertificate;
  now: Date;
  validityMs?: number;
}

export async function issueServingCertificate(options: IssueServingOptions): Promise<IssuedCertificate> {
  const validityMs = options.validityMs ?? DEFAULT_SERVING_VALIDITY_MS;
  const caCert = new x509.X509Certificate(options.ca.certPem);
  const caSigningKey = await importSigningKey(options.ca.keyPem);
  const keys = await subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
  // A leaf may not outlive its issuer: clients would reject the chain once the CA expires.
  const caNotAfter = new Date(new X509Certificate(options.ca.certPem).validTo).getTime();
  const notAfter = Math.min(options.now.getTime() + validityMs, caNotAfter);
  const dnsNames = servingDnsNames(options);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [dnsNames[2] ?? options.serviceName] }, { O: ['kidp'] }],
    issuer: caCert.subject,
    notBefore: new Date(options.now.getTime() - CLOCK_SKEW_ALLOWANCE_MS),
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey: caSigningKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      // ECDSA keys sign the handshake; keyEncipherment applies to RSA key transport only.
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...LOOPBACK_IPS.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { certPem: withNewline(cert.toString('pem')), keyPem: await exportPrivateKeyPem(keys.privateKey) };
}
