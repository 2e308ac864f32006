// Stored files parsed into certificates and keys, and the Material handed to callers.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { MaterialCorruptError } from './errors.js';
import type { MaterialKey, StoredFiles } from './store.js';

/** What the webhook server and the caBundle injector need; never includes the CA key. */
export interface Material {
  /** Every CA a client must trust, signing CA first: put this in clientConfig.caBundle. */
  caBundlePem: string;
  /** Serving certificate and key for the TLS server. */
  certPem: string;
  keyPem: string;
  /** Serial of the serving certificate, uppercase hex as Node's TLS reports it. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** Serials of the CAs in caBundlePem, in the same order. */
  caSerials: string[];
}

export interface ParsedCertificate {
  pem: string;
  cert: X509Certificate;
  notBefore: number;
  notAfter: number;
}

export interface ParsedKeyPair extends ParsedCertificate {
  keyPem: string;
}

export interface ParsedMaterial {
  /** Certificates from ca.crt, in file order. */
  trusted: ParsedCertificate[];
  /** The ca.crt entry that ca.key belongs to, if any. */
  signer: ParsedKeyPair | undefined;
  /** tls.crt with tls.key, if both are present and belong together. */
  serving: ParsedKeyPair | undefined;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Parses what a store holds. Missing pieces and certificates that do not belong together
 * are not errors (the planner replaces them); bytes that are not certificates or keys are,
 * because replacing them silently could discard a CA that clients still trust.
 */
export function parseMaterial(files: StoredFiles, location: string): ParsedMaterial {
  const trusted = files['ca.crt'] === undefined ? [] : parseCertificates(files['ca.crt'], 'ca.crt', location);
  const caKey = files['ca.key'] === undefined ? undefined : parseKey(files['ca.key'], 'ca.key', location);
  const servingCerts = files['tls.crt'] === undefined ? [] : parseCertificates(files['tls.crt'], 'tls.crt', location);
  const servingKey = files['tls.key'] === undefined ? undefined : parseKey(files['tls.key'], 'tls.key', location);

  const signerCert = caKey === undefined ? undefined : trusted.find((c) => c.cert.checkPrivateKey(caKey.key));
  const leaf = servingCerts[0];
  const servingMatches = leaf !== undefined && servingKey !== undefined && leaf.cert.checkPrivateKey(servingKey.key);
  return {
    trusted,
    signer: signerCert && caKey ? { ...signerCert, keyPem: caKey.pem } : undefined,
    serving: servingMatches && servingKey ? { ...leaf, keyPem: servingKey.pem } : undefined,
  };
}

function parseCertificates(text: string, item: MaterialKey, location: string): ParsedCertificate[] {
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new MaterialCorruptError(location, item, 'it holds no PEM certificate');
  return blocks.map((pem, index) => {
    try {
      const cert = new X509Certificate(pem);
      return { pem: `${pem}\n`, cert, notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo) };
    } catch (err) {
      throw new MaterialCorruptError(location, item, `certificate #${index + 1} does not parse`, { cause: err });
    }
  });
}

function parseKey(text: string, item: MaterialKey, location: string): { pem: string; key: KeyObject } {
  try {
    return { pem: text, key: createPrivateKey(text) };
  } catch (err) {
    throw new MaterialCorruptError(location, item, 'it is not a PEM private key', { cause: err });
  }
}

export function toMaterial(parsed: ParsedMaterial & { serving: ParsedKeyPair }): Material {
  const { serving } = parsed;
  return {
    caBundlePem: parsed.trusted.map((c) => c.pem).join(''),
    certPem: serving.pem,
    keyPem: serving.keyPem,
    serial: serving.cert.serialNumber.toUpperCase(),
    notBefore: new Date(serving.notBefore),
    notAfter: new Date(serving.notAfter),
    caSerials: parsed.trusted.map((c) => c.cert.serialNumber.toUpperCase()),
  };
}
