// The application issuer's certificates, checked by OpenSSL's path validation (which, like
// Kafka's PKIX, enforces the issuer's name constraints). The issuer is made here exactly as
// test/env/kafka/kafka.sh makes it; Kafka's own verdict is in test/topic-access.e2e.test.ts.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KafkaTls } from '../../kube/kafka.js';
import { APPLICATION_CERT_RENEW_BEFORE_MS, applicationCommonName, issueApplicationCertificate, stillGood } from './app-certificate.js';

let dir: string;
let issuer: KafkaTls;
const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kidp-app-issuer-'));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256', '-days', '30', '-subj', '/CN=test-kafka-ca', '-keyout', 'root.key', '-out', 'ca.crt']);
  writeFileSync(join(dir, 'ext'), '[v3]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nnameConstraints=critical,permitted;dirName:apps\n[apps]\nO=kidp-applications\n');
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/O=kidp-applications/CN=kidp-app-issuer', '-keyout', 'tls.key', '-out', 'csr']);
  openssl(['x509', '-req', '-in', 'csr', '-CA', 'ca.crt', '-CAkey', 'root.key', '-set_serial', '0x51', '-days', '30', '-sha256', '-extfile', 'ext', '-extensions', 'v3', '-out', 'tls.crt']);
  issuer = new KafkaTls(dir);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('application certificates', () => {
  it('names the application principal inside the permitted subtree, chains to the Kafka CA, and is for client auth only', async () => {
    const cn = applicationCommonName('team-a', 'shop');
    const issued = await issueApplicationCertificate(issuer, cn, { now: new Date() });
    writeFileSync(join(dir, 'chain.pem'), issued.certChainPem);
    const leaf = new X509Certificate(issued.certChainPem);
    expect({
      cn,
      subject: openssl(['x509', '-in', 'chain.pem', '-noout', '-subject', '-nameopt', 'RFC2253']).trim(),
      verify: openssl(['verify', '-CAfile', 'ca.crt', '-untrusted', 'tls.crt', '-purpose', 'sslclient', 'chain.pem']).trim(),
      ca: leaf.ca,
      chainLength: issued.certChainPem.match(/BEGIN CERTIFICATE/g)?.length,
      caPem: issued.caPem === execFileSync('cat', [join(dir, 'ca.crt')]).toString(),
      usable: stillGood(issued.certChainPem, cn, issuer),
      otherName: stillGood(issued.certChainPem, applicationCommonName('team-a', 'billing'), issuer),
    }).toEqual({
      cn: 'kidp-app-team-a.shop',
      subject: 'subject=CN=kidp-app-team-a.shop,O=kidp-applications',
      verify: 'chain.pem: OK',
      ca: false,
      chainLength: 2,
      caPem: true,
      usable: true,
      otherName: false,
    });
  });

  it('is renewed when close to expiry, and never outlives the issuer', async () => {
    const cn = applicationCommonName('team-a', 'shop');
    const short = await issueApplicationCertificate(issuer, cn, { validityMs: APPLICATION_CERT_RENEW_BEFORE_MS - 60_000 });
    const long = await issueApplicationCertificate(issuer, cn, { validityMs: 365 * 24 * 3600 * 1000 });
    const issuerEnd = new Date(new X509Certificate(issuer.read().cert).validTo).getTime();
    expect({ shortStillGood: stillGood(short.certChainPem, cn, issuer), longEndsWithIssuer: Math.abs(long.notAfter.getTime() - issuerEnd) < 1000 }).toEqual({ shortStillGood: false, longEndsWithIssuer: true });
  });

  it('is not taken for good once the issuer changes (a rotated issuer re-issues)', async () => {
    const cn = applicationCommonName('team-a', 'shop');
    const issued = await issueApplicationCertificate(issuer, cn);
    const other = mkdtempSync(join(tmpdir(), 'kidp-app-issuer2-'));
    try {
      copyFileSync(join(dir, 'ca.crt'), join(other, 'ca.crt'));
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/O=kidp-applications/CN=kidp-app-issuer', '-keyout', join(other, 'tls.key'), '-out', join(other, 'tls.crt')], { stdio: 'ignore' });
      expect(stillGood(issued.certChainPem, cn, new KafkaTls(other))).toBe(false);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
