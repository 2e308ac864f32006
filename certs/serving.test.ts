import { X509Certificate, createPrivateKey } from 'node:crypto';
import { CLOCK_SKEW_ALLOWANCE_MS, createCa } from './ca.js';
import { issueServingCertificate, servingDnsNames } from './serving.js';

const NOW = new Date('2026-01-01T00:00:00Z');
const DAY = 24 * 60 * 60 * 1000;
const identity = { serviceName: 'kidp-webhook', namespace: 'kidp-system' };

function describeCert(pem: string, issuers: Record<string, X509Certificate>) {
  const cert = new X509Certificate(pem);
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    ca: cert.ca,
    extKeyUsage: cert.keyUsage ?? null,
    subjectAltName: cert.subjectAltName ?? null,
    validFrom: new Date(cert.validFrom).toISOString(),
    validTo: new Date(cert.validTo).toISOString(),
    verifiesWith: Object.fromEntries(Object.entries(issuers).map(([name, ca]) => [name, cert.verify(ca.publicKey)])),
    keyType: cert.publicKey.asymmetricKeyType,
    curve: cert.publicKey.asymmetricKeyDetails?.namedCurve,
  };
}

describe('CA and serving certificate generation', () => {
  test('a CA and a serving certificate form a chain with the expected names, usages and validity', async () => {
    const ca = await createCa({ now: NOW, commonName: 'kidp-test-ca' });
    const other = await createCa({ now: NOW, commonName: 'other-ca' });
    const serving = await issueServingCertificate({ ...identity, ca, now: NOW });
    const issuers = { self: new X509Certificate(ca.certPem), other: new X509Certificate(other.certPem) };

    expect(describeCert(ca.certPem, issuers)).toEqual({
      subject: 'CN=kidp-test-ca\nO=kidp',
      issuer: 'CN=kidp-test-ca\nO=kidp',
      ca: true,
      extKeyUsage: null,
      subjectAltName: null,
      validFrom: new Date(NOW.getTime() - CLOCK_SKEW_ALLOWANCE_MS).toISOString(),
      validTo: new Date(NOW.getTime() + 365 * DAY).toISOString(),
      verifiesWith: { self: true, other: false },
      keyType: 'ec',
      curve: 'prime256v1',
    });
    expect(describeCert(serving.certPem, issuers)).toEqual({
      subject: 'CN=kidp-webhook.kidp-system.svc\nO=kidp',
      issuer: 'CN=kidp-test-ca\nO=kidp',
      ca: false,
      extKeyUsage: ['1.3.6.1.5.5.7.3.1'],
      subjectAltName:
        'DNS:kidp-webhook, DNS:kidp-webhook.kidp-system, DNS:kidp-webhook.kidp-system.svc, ' +
        'DNS:kidp-webhook.kidp-system.svc.cluster.local, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
      validFrom: new Date(NOW.getTime() - CLOCK_SKEW_ALLOWANCE_MS).toISOString(),
      validTo: new Date(NOW.getTime() + 90 * DAY).toISOString(),
      verifiesWith: { self: true, other: false },
      keyType: 'ec',
      curve: 'prime256v1',
    });
    const leaf = new X509Certificate(serving.certPem);
    expect(leaf.checkIssued(issuers.self)).toBe(true);
    expect(leaf.checkPrivateKey(createPrivateKey(serving.keyPem))).toBe(true);
    expect(serving.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  });

  test.each([
    ['kidp-webhook', true],
    ['kidp-webhook.kidp-system', true],
    ['kidp-webhook.kidp-system.svc', true],
    ['kidp-webhook.kidp-system.svc.cluster.local', true],
    ['localhost', true],
    ['other.kidp-system.svc', false],
    ['kidp-webhook.default.svc', false],
  ])('host %s is covered: %s', async (host, covered) => {
    const ca = await createCa({ now: NOW });
    const cert = new X509Certificate((await issueServingCertificate({ ...identity, ca, now: NOW })).certPem);
    expect(cert.checkHost(host, { wildcards: false })).toBe(covered ? host : undefined);
  });

  test.each([
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '::1'],
    ['10.0.0.1', undefined],
  ])('IP %s is covered: %s', async (ip, expected) => {
    const ca = await createCa({ now: NOW });
    const cert = new X509Certificate((await issueServingCertificate({ ...identity, ca, now: NOW })).certPem);
    expect(cert.checkIP(ip)).toBe(expected);
  });

  test('custom validity, and a serving certificate never outlives its CA', async () => {
    const ca = await createCa({ now: NOW, validityMs: 30 * DAY });
    const capped = await issueServingCertificate({ ...identity, ca, now: new Date(NOW.getTime() + 20 * DAY), validityMs: 90 * DAY });
    const short = await issueServingCertificate({ ...identity, ca, now: NOW, validityMs: 1 * DAY });
    expect([new X509Certificate(capped.certPem).validTo, new X509Certificate(short.certPem).validTo].map((d) => new Date(d).toISOString())).toEqual([
      new Date(NOW.getTime() + 30 * DAY).toISOString(),
      new Date(NOW.getTime() + 1 * DAY).toISOString(),
    ]);
  });

  test('serials are unique, positive and minimal DER (first byte 0x40-0x7f)', async () => {
    const ca = await createCa({ now: NOW });
    const serials = await Promise.all(
      Array.from({ length: 20 }, async () => new X509Certificate((await issueServingCertificate({ ...identity, ca, now: NOW })).certPem).serialNumber),
    );
    expect(new Set(serials).size).toBe(20);
    for (const serial of serials) expect(serial).toMatch(/^[4-7][0-9A-F]{31}$/);
  });

  test('servingDnsNames honours a custom cluster domain', () => {
    expect(servingDnsNames({ ...identity, clusterDomain: 'corp.example' })).toEqual([
      'kidp-webhook',
      'kidp-webhook.kidp-system',
      'kidp-webhook.kidp-system.svc',
      'kidp-webhook.kidp-system.svc.corp.example',
      'localhost',
    ]);
  });
});
