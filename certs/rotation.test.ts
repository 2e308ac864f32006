import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa } from './ca.js';
import { InvalidOptionsError, MaterialCorruptError } from './errors.js';
import { FileCertificateStore } from './file-store.js';
import { ManualClock } from '../kube/index.js';
import type { Material } from './material.js';
import type { CertificateStore } from './store.js';
import { MAX_TIMER_DELAY_MS, createCertificateManager, type CertificateManagerOptions } from './rotation.js';
import { issueServingCertificate } from './serving.js';

const T0 = new Date('2026-01-01T00:00:00Z');
const MIN = 60 * 1000;
const DAY = 24 * 60 * MIN;
const SKEW = 5 * MIN;
const identity = { serviceName: 'kidp-webhook', namespace: 'kidp-system' };
const servingRenewAfter = 90 * DAY - (90 * DAY + SKEW) / 3; // from T0, default policy
const caRenewAfter = 365 * DAY - (365 * DAY + SKEW) / 3;

let dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kidp-certs-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  dirs = [];
});

async function readAll(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) out[name] = await readFile(join(dir, name), 'utf8');
  return out;
}

function setup(dir: string, clock: ManualClock, extra: Partial<CertificateManagerOptions> = {}) {
  const errors: unknown[] = [];
  const rotations: Material[] = [];
  const manager = createCertificateManager({ ...identity, dir, clock, onError: (e) => errors.push(e), ...extra });
  manager.onRotate((m) => void rotations.push(m));
  return { manager, errors, rotations };
}

/** What a client holding caBundlePem would conclude about the serving certificate. */
function chainSummary(m: Material) {
  const leaf = new X509Certificate(m.certPem);
  const cas = m.caBundlePem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return {
    trustedByBundle: cas.some((pem) => leaf.verify(new X509Certificate(pem).publicKey)),
    caCount: cas.length,
    serial: leaf.serialNumber,
  };
}

describe('certificate manager on a directory store', () => {
  test('start on an empty directory issues and stores material; a second start loads it unchanged', async () => {
    const dir = await tempDir();
    const clock = new ManualClock(T0);
    const first = setup(join(dir, 'nested'), clock);
    const material = await first.manager.start();
    first.manager.stop();

    const onDisk = await readAll(join(dir, 'nested'));
    expect(Object.keys(onDisk)).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    expect(onDisk['tls.crt']).toBe(material.certPem);
    expect(onDisk['ca.crt']).toBe(material.caBundlePem);
    expect(((await stat(join(dir, 'nested', 'ca.key'))).mode & 0o777).toString(8)).toBe('600');
    expect(((await stat(join(dir, 'nested'))).mode & 0o777).toString(8)).toBe('700');
    expect(chainSummary(material)).toEqual({ trustedByBundle: true, caCount: 1, serial: material.serial });
    expect(material.notAfter.toISOString()).toBe(new Date(T0.getTime() + 90 * DAY).toISOString());

    const second = setup(join(dir, 'nested'), new ManualClock(new Date(T0.getTime() + DAY)));
    expect(await second.manager.start()).toEqual(material);
    second.manager.stop();
    expect(await readAll(join(dir, 'nested'))).toEqual(onDisk);
    expect([first.errors, second.errors, first.rotations, second.rotations]).toEqual([[], [], [], []]);
  });

  test('serving rotation: nothing before the threshold, one new certificate and one callback after', async () => {
    const clock = new ManualClock(T0);
    const { manager, errors, rotations } = setup(await tempDir(), clock);
    const initial = await manager.start();

    await clock.jump(servingRenewAfter - MIN);
    expect(rotations).toEqual([]);
    expect(manager.current()).toEqual(initial);

    await clock.jump(2 * MIN);
    expect(rotations.length).toBe(1);
    const rotated = manager.current();
    expect(rotations[0]).toEqual(rotated);
    expect({
      serialChanged: rotated.serial !== initial.serial,
      sameBundle: rotated.caBundlePem === initial.caBundlePem,
      chain: chainSummary(rotated),
      notAfter: rotated.notAfter.toISOString(),
    }).toEqual({
      serialChanged: true,
      sameBundle: true,
      chain: { trustedByBundle: true, caCount: 1, serial: rotated.serial },
      notAfter: new Date(clock.date().getTime() + 90 * DAY).toISOString(),
    });
    manager.stop();
    expect(errors).toEqual([]);
  });

  test('CA rotation: new CA joins the bundle first, serving switches after propagation, old CA stays until it expires', async () => {
    const clock = new ManualClock(T0);
    const { manager, errors, rotations } = setup(await tempDir(), clock);
    const initial = await manager.start();
    const oldCa = initial.caSerials[0];
    const steps: { at: string; rotations: number; caSerials: string[]; servingByNewCa: boolean; trusted: boolean }[] = [];
    const record = (at: string) => {
      const m = manager.current();
      const newest = m.caSerials[0];
      steps.push({
        at,
        rotations: rotations.length,
        caSerials: m.caSerials.map((s) => (s === oldCa ? 'old' : s === newest ? 'new' : 'other')),
        servingByNewCa: newest !== oldCa && new X509Certificate(m.certPem).verify(new X509Certificate(m.caBundlePem).publicKey),
        trusted: chainSummary(m).trustedByBundle,
      });
    };
    // Serving renewals every ~60 days along the way are expected; only the CA events matter here.
    await clock.jump(caRenewAfter - MIN);
    record('just before CA threshold');
    const before = rotations.length;
    await clock.jump(2 * MIN);
    record('CA threshold passed');
    await clock.jump(10 * MIN);
    record('10 min into propagation');
    await clock.jump(10 * MIN);
    record('propagation over');
    await clock.jump(365 * DAY - caRenewAfter);
    record('old CA expired');
    manager.stop();

    const n = before;
    expect(steps).toEqual([
      { at: 'just before CA threshold', rotations: n, caSerials: ['old'], servingByNewCa: false, trusted: true },
      { at: 'CA threshold passed', rotations: n + 1, caSerials: ['new', 'old'], servingByNewCa: false, trusted: true },
      { at: '10 min into propagation', rotations: n + 1, caSerials: ['new', 'old'], servingByNewCa: false, trusted: true },
      { at: 'propagation over', rotations: n + 2, caSerials: ['new', 'old'], servingByNewCa: true, trusted: true },
      { at: 'old CA expired', rotations: n + 3, caSerials: ['new'], servingByNewCa: true, trusted: true },
    ]);
    expect(errors).toEqual([]);
  });

  test('expired material on disk is replaced at start', async () => {
    const dir = await tempDir();
    const old = setup(dir, new ManualClock(new Date(T0.getTime() - 400 * DAY)));
    const stale = await old.manager.start();
    old.manager.stop();

    const { manager, errors } = setup(dir, new ManualClock(T0));
    const fresh = await manager.start();
    manager.stop();
    expect({
      newSerial: fresh.serial !== stale.serial,
      newCa: fresh.caSerials[0] !== stale.caSerials[0],
      caCount: fresh.caSerials.length,
      notAfter: fresh.notAfter.toISOString(),
      onDisk: (await readFile(join(dir, 'tls.crt'), 'utf8')) === fresh.certPem,
    }).toEqual({ newSerial: true, newCa: true, caCount: 1, notAfter: new Date(T0.getTime() + 90 * DAY).toISOString(), onDisk: true });
    expect(errors).toEqual([]);
  });

  test.each([
    ['ca.crt', 'not a certificate', 'it holds no PEM certificate'],
    ['ca.crt', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 'certificate #1 does not parse'],
    ['ca.key', 'garbage', 'it is not a PEM private key'],
    ['tls.crt', '', 'it holds no PEM certificate'],
    ['tls.key', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', 'it is not a PEM private key'],
  ])('corrupt %s (%j) fails start with a clear error and changes nothing on disk', async (file, content, reason) => {
    const dir = await tempDir();
    const seed = setup(dir, new ManualClock(T0));
    await seed.manager.start();
    seed.manager.stop();
    await writeFile(join(dir, file), content);
    const before = await readAll(dir);

    const { manager } = setup(dir, new ManualClock(new Date(T0.getTime() + DAY)));
    const error = await manager.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    manager.stop();
    expect(error).toBeInstanceOf(MaterialCorruptError);
    expect(error instanceof MaterialCorruptError && { code: error.code, message: error.message, item: error.item }).toEqual({
      code: 'KIDP_CERTS_MATERIAL_CORRUPT',
      item: file,
      message:
        `certificate material ${file} in ${dir} is corrupt: ${reason}; nothing was changed. ` +
        `Remove ${file} (or the whole ${dir}) to have KIDP issue new material`,
    });
    expect(await readAll(dir)).toEqual(before);
  });

  test('corruption appearing while running is reported through onError; the current certificate keeps serving and a retry is scheduled', async () => {
    const dir = await tempDir();
    const clock = new ManualClock(T0);
    const { manager, errors, rotations } = setup(dir, clock);
    const material = await manager.start();
    await writeFile(join(dir, 'tls.key'), 'garbage');
    await clock.jump(5 * MIN);
    expect({
      errors: errors.map((e) => (e instanceof MaterialCorruptError ? e.code : String(e))),
      current: manager.current() === material,
      rotations: rotations.length,
      pending: clock.pendingDelays(),
    }).toEqual({ errors: ['KIDP_CERTS_MATERIAL_CORRUPT'], current: true, rotations: 0, pending: [30_000] });
    manager.stop();
  });

  test('material written by another process (replica) is adopted at the next resync', async () => {
    const dir = await tempDir();
    const clock = new ManualClock(T0);
    const a = setup(dir, clock);
    const b = setup(dir, clock);
    await a.manager.start();
    await b.manager.start();
    // A second store writer replaces the serving certificate with one from the same CA.
    const files = await new FileCertificateStore(dir).read();
    const ca = { certPem: files.files['ca.crt'] ?? '', keyPem: files.files['ca.key'] ?? '' };
    const reissued = await issueServingCertificate({ ...identity, ca, now: clock.date() });
    await new FileCertificateStore(dir).write({ ...(files.files as Record<'ca.crt' | 'ca.key', string>), 'tls.crt': reissued.certPem, 'tls.key': reissued.keyPem }, files.version);
    await clock.jump(5 * MIN);
    const serial = new X509Certificate(reissued.certPem).serialNumber;
    expect([a.manager.current().serial, b.manager.current().serial, a.rotations.length, b.rotations.length]).toEqual([serial, serial, 1, 1]);
    a.manager.stop();
    b.manager.stop();
  });

  test('timer delays never exceed what setTimeout can hold, even with a year-long resync', async () => {
    const clock = new ManualClock(T0);
    const { manager } = setup(await tempDir(), clock, { resyncIntervalMs: 300 * DAY, servingValidityMs: 100 * DAY });
    await manager.start();
    expect(clock.pendingDelays()).toEqual([MAX_TIMER_DELAY_MS]);
    manager.stop();
    expect(clock.pendingDelays()).toEqual([]);
  });

  test.each([
    [{ servingRenewBeforeFraction: 1.5 }, 'certificate option servingRenewBeforeFraction is invalid: must be between 0 and 1, got 1.5'],
    [{ caValidityMs: 0 }, 'certificate option caValidityMs is invalid: must be a positive number of milliseconds, got 0'],
    [
      { servingValidityMs: 200 * DAY },
      'certificate option servingValidityMs is invalid: must not exceed the CA overlap (caValidityMs × caRenewBeforeFraction), or serving certificates could outlive the CA that signed them',
    ],
    [{ namespace: '' }, 'certificate option namespace is invalid: must not be empty'],
  ])('invalid options %j are rejected', (extra, message) => {
    expect(() => createCertificateManager({ ...identity, dir: '/nonexistent', ...extra })).toThrow(InvalidOptionsError);
    expect(() => createCertificateManager({ ...identity, dir: '/nonexistent', ...extra })).toThrow(message);
  });

  test('a CA made outside the manager (same key type) is honoured as the signer', async () => {
    const dir = await tempDir();
    const ca = await createCa({ now: T0, commonName: 'operator-provided' });
    await writeFile(join(dir, 'ca.crt'), ca.certPem);
    await writeFile(join(dir, 'ca.key'), ca.keyPem);
    const { manager } = setup(dir, new ManualClock(T0));
    const material = await manager.start();
    manager.stop();
    expect([new X509Certificate(material.certPem).issuer, material.caBundlePem]).toEqual(['CN=operator-provided\nO=kidp', ca.certPem]);
  });

  test('two replicas rotating at once: the loser gets a conflict, re-reads and adopts the winner\'s certificate', async () => {
    const dir = await tempDir();
    const clock = new ManualClock(T0);
    const winner = setup(dir, clock);
    await winner.manager.start();
    winner.manager.stop();
    // A real directory store; the only addition is that the other replica's rotation lands
    // between this replica's read and its write, the race optimistic concurrency exists for.
    const inner = new FileCertificateStore(dir);
    let raced = false;
    const racing: CertificateStore = {
      location: inner.location,
      read: () => inner.read(),
      write: async (files, version) => {
        if (!raced) {
          raced = true;
          await winner.manager.refresh();
        }
        return inner.write(files, version);
      },
    };
    const loser = setup(dir, clock, { dir: undefined, store: racing });
    await loser.manager.start();
    await clock.jump(servingRenewAfter + MIN);
    const onDisk = await readFile(join(dir, 'tls.crt'), 'utf8');
    expect({
      raced,
      loserAdoptedWinner: loser.manager.current().certPem === winner.manager.current().certPem,
      onDiskIsWinner: onDisk === winner.manager.current().certPem,
      loserRotations: loser.rotations.length,
      errors: loser.errors,
    }).toEqual({ raced: true, loserAdoptedWinner: true, onDiskIsWinner: true, loserRotations: 1, errors: [] });
    loser.manager.stop();
  });
});
