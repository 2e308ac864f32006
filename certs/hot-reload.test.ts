import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { attachHotReload } from './hot-reload.js';
import { ManualClock } from '../kube/index.js';
import { createCertificateManager } from './rotation.js';

const MIN = 60 * 1000;
/** Bounded load: a worker stops by itself after this many requests, rotation or not. */
const MAX_REQUESTS_PER_WORKER = 5_000;
const WORKERS = 4;

interface Outcome {
  ok: boolean;
  serial?: string;
  reused?: boolean;
  error?: string;
}

function get(port: number, caPem: string, agent: Agent | false): Promise<Outcome> {
  return new Promise((resolve) => {
    // host 127.0.0.1 without servername: the client checks the IP SAN.
    const req = request({ host: '127.0.0.1', port, path: '/', ca: caPem, agent }, (res) => {
      const socket = res.socket as import('node:tls').TLSSocket;
      const serial = socket.getPeerCertificate().serialNumber;
      res.resume();
      res.on('end', () => resolve({ ok: res.statusCode === 200, serial, reused: req.reusedSocket }));
    });
    req.on('error', (err) => resolve({ ok: false, error: err.message }));
    req.end();
  });
}

function peerSerial(port: number, caPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: caPem }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

describe('hot reload of a real HTTPS server', () => {
  let dir: string;
  let server: Server | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kidp-hot-reload-'));
  });
  afterAll(async () => {
    if (server) {
      server.closeAllConnections();
      server.close();
    }
    await rm(dir, { recursive: true, force: true });
  });

  test('rotation under load: zero failed requests, open connections survive, new connections see the new serial', async () => {
    // TLS clients check validity against the real clock, so the manual clock starts 40
    // minutes in the past and the jump to "now" crosses the serving threshold (~38 min
    // into a 1 h certificate), leaving every certificate valid in real time.
    const realNow = Math.floor(Date.now() / 1000) * 1000;
    const clock = new ManualClock(new Date(realNow - 40 * MIN));
    const manager = createCertificateManager({
      serviceName: 'kidp-webhook',
      namespace: 'kidp-system',
      dir,
      clock,
      servingValidityMs: 60 * MIN,
      caValidityMs: 24 * 60 * MIN,
    });
    const initial = await manager.start();
    server = createServer({ cert: initial.certPem, key: initial.keyPem }, (_req, res) => {
      res.end('ok');
    });
    // Node's default 5 s keep-alive could close the kept connection on a busy machine before
    // the test reuses it; the webhook itself keeps connections 65 s (server.ts).
    server.keepAliveTimeout = 120_000;
    const detach = attachHotReload(server, manager, { minVersion: 'TLSv1.2' });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;

    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    const firstOnKept = await get(port, initial.caBundlePem, keepAlive);

    let rotating = true;
    const outcomes: Outcome[] = [];
    const worker = async () => {
      // Keep going until rotation is done and ten more requests went through, bounded.
      let after = 0;
      for (let i = 0; i < MAX_REQUESTS_PER_WORKER && after < 10; i++) {
        if (!rotating) after++;
        outcomes.push(await get(port, manager.current().caBundlePem, false));
      }
    };
    const load = Promise.all(Array.from({ length: WORKERS }, worker));
    while (outcomes.length < 20) await new Promise((r) => setTimeout(r, 5));
    await clock.jump(40 * MIN);
    const rotated = manager.current();
    const servedBeforeRotationDone = outcomes.length;
    rotating = false;
    await load;

    const secondOnKept = await get(port, initial.caBundlePem, keepAlive);
    const newConnectionSerial = await peerSerial(port, rotated.caBundlePem);
    keepAlive.destroy();
    detach();
    manager.stop();

    const initialSerial = new X509Certificate(initial.certPem).serialNumber;
    const rotatedSerial = new X509Certificate(rotated.certPem).serialNumber;
    const serialsSeen = new Set(outcomes.map((o) => o.serial));
    expect({
      rotatedSerialDiffers: rotatedSerial !== initialSerial,
      failed: outcomes.filter((o) => !o.ok),
      sawOld: serialsSeen.has(initialSerial),
      sawNew: serialsSeen.has(rotatedSerial),
      afterRotation: outcomes.length > servedBeforeRotationDone,
      keptConnection: [
        { ok: firstOnKept.ok, reused: firstOnKept.reused, serial: firstOnKept.serial },
        { ok: secondOnKept.ok, reused: secondOnKept.reused, serial: secondOnKept.serial },
      ],
      newConnectionSerial,
    }).toEqual({
      rotatedSerialDiffers: true,
      failed: [],
      sawOld: true,
      sawNew: true,
      afterRotation: true,
      // The connection opened before rotation is reused afterwards and still presents the old certificate.
      keptConnection: [
        { ok: true, reused: false, serial: initialSerial },
        { ok: true, reused: true, serial: initialSerial },
      ],
      newConnectionSerial: rotatedSerial,
    });
  });
});
