import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa } from '../certs/index.js';
import { KafkaTls, type KafkaTlsTimer } from './kafka.js';

/** Timers that fire when the test says so (STYLE §4). */
class ManualTimer implements KafkaTlsTimer {
  private pending: Array<{ fn: () => void; cancelled: boolean }> = [];
  setTimer(fn: () => void) {
    const t = { fn, cancelled: false };
    this.pending.push(t);
    return { cancel: () => void (t.cancelled = true) };
  }
  fire(): void {
    const due = this.pending;
    this.pending = [];
    for (const t of due) if (!t.cancelled) t.fn();
  }
}

describe('KafkaTls', () => {
  let dir: string;
  const write = (name: string, text: string) => {
    // As kafka.sh and a Secret volume do: a rename, never a partial file.
    writeFileSync(join(dir, `.${name}.tmp`), text);
    renameSync(join(dir, `.${name}.tmp`), join(dir, name));
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kidp-kafka-tls-'));
    const ca = await createCa({ now: new Date(), commonName: 'kidp-controllers' });
    write('ca.crt', ca.certPem);
    write('tls.crt', ca.certPem);
    write('tls.key', ca.keyPem);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("reads the current files each time and names the certificate's principal", async () => {
    const tls = new KafkaTls(dir);
    expect(tls.principal()).toBe('User:kidp-controllers');
    const next = await createCa({ now: new Date(), commonName: 'kidp-broker-b1' });
    write('tls.key', next.keyPem);
    write('tls.crt', next.certPem);
    expect({ principal: tls.principal(), cert: tls.read().cert }).toEqual({ principal: 'User:kidp-broker-b1', cert: next.certPem });
  });

  it('tells its watcher once per change, and not after stop', async () => {
    const timer = new ManualTimer();
    const tls = new KafkaTls(dir);
    let changes = 0;
    const watch = tls.watch(() => changes++, { timer });
    timer.fire();
    const next = await createCa({ now: new Date(), commonName: 'kidp-controllers' });
    write('tls.crt', next.certPem);
    timer.fire();
    timer.fire();
    write('tls.key', next.keyPem);
    timer.fire();
    watch.stop();
    write('tls.crt', (await createCa({ now: new Date(), commonName: 'x' })).certPem);
    timer.fire();
    expect(changes).toBe(2);
  });

  it('fails at start, naming the file, when the directory is incomplete', () => {
    rmSync(join(dir, 'tls.key'));
    expect(() => new KafkaTls(dir).read()).toThrow(`Kafka TLS: cannot read ${join(dir, 'tls.key')} (the directory needs ca.crt, tls.crt, tls.key)`);
  });
});
