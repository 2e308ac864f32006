// How a backup report travels: the protocol carries outputs.backup and the status handler
// records it with the report (controllers/broker-reports.ts then sets status.backup).
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { PROTOCOL_VERSION, type StatusEvent } from '../contract.js';
import { BackupScheduler } from './backup.js';
import { encodeMessage, parseStatusEvent } from '../protocol.js';
import { reportOf } from '../status-handler.js';

const NOW = new Date('2026-03-01T10:00:00Z');
const event: StatusEvent = {
  apiVersion: PROTOCOL_VERSION,
  kind: 'StatusEvent',
  eventId: 'u1-2:Ready:backup-2026-03-01T09:59:00.000Z',
  requestId: 'u1-2',
  target: 'pg',
  broker: 'postgresql-broker',
  resource: { kind: 'Database', namespace: 'payments', name: 'ledger', uid: 'u1', generation: 2 },
  phase: 'Ready',
  reason: 'DatabaseProvisioned',
  message: 'database kidp_payments_ledger ...; last backup 2026-03-01T09:59:00.000Z',
  outputs: { backup: { lastBackupTime: '2026-03-01T09:59:00.000Z', location: '/var/lib/kidp/backups/kidp_payments_ledger/2026-03-01T09-59-00-000Z.dump' } },
  reportedAt: '2026-03-01T09:59:01.000Z',
};

it('the protocol carries outputs.backup and refuses anything else in it', () => {
  expect(parseStatusEvent(encodeMessage(event))).toEqual({ ok: true, value: event });
  const extra = parseStatusEvent(Buffer.from(JSON.stringify({ ...event, outputs: { backup: { ...event.outputs?.backup, command: 'rm -rf /' } } })));
  const noTime = parseStatusEvent(Buffer.from(JSON.stringify({ ...event, outputs: { backup: { location: '/x' } } })));
  expect({ extra: extra.ok, noTime: noTime.ok }).toEqual({ extra: false, noTime: false });
});

it('the recorded report keeps outputs.backup for the reconciler to fold into status.backup', () => {
  expect(reportOf(event, NOW).outputs).toEqual({ backup: event.outputs?.backup });
});

describe('BackupScheduler: a resumed schedule (after a broker restart) derives the next backup from the last one', () => {
  const job = (reports: Array<{ lastBackupTime: string }>) => ({
    database: 'kidp_payments_ledger',
    server: { host: '127.0.0.1', port: 1, user: 'u', password: 'p' },
    schedule: '0 2 * * *',
    retentionDays: 7,
    report: async (b: { lastBackupTime: string }) => void reports.push(b),
  });
  let dir: string;
  let pgDump: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kidp-backup-test-'));
    // Stands in for pg_dump (not what is tested here): writes the file named after -f.
    pgDump = join(dir, 'fake-pg-dump.sh');
    writeFileSync(pgDump, '#!/bin/sh\nwhile [ $# -gt 0 ]; do if [ "$1" = "-f" ]; then echo dump > "$2"; fi; shift; done\n', { mode: 0o755 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['the 02:00 after the last backup has passed (the broker was down over it): one backup now', '2026-03-01T02:00:05Z', '2026-03-02T09:00:00Z', true],
    ['the 02:00 after the last backup is still ahead: nothing now, the schedule goes on', '2026-03-02T02:00:03Z', '2026-03-02T09:00:00Z', false],
  ])('%s', async (_name, last, now, owed) => {
    const reports: Array<{ lastBackupTime: string }> = [];
    const scheduler = new BackupScheduler({ dir: join(dir, String(owed)), logger: pino({ level: 'silent' }), pgDump, now: () => new Date(now) });
    const file = await scheduler.set('u1', job(reports), { lastBackupTime: last });
    const next = scheduler.scheduled('u1')?.next;
    scheduler.close();
    expect({ took: file !== undefined && existsSync(file), reports: reports.map((r) => r.lastBackupTime), nextIsCron: next?.getUTCHours() === 2 && next.getUTCMinutes() === 0 }).toEqual({ took: owed, reports: owed ? [now.replace('Z', '.000Z')] : [], nextIsCron: true });
  });

  it('without a reported backup, the newest dump on disk is the last one; a new schedule with no backup at all owes nothing', async () => {
    const reports: Array<{ lastBackupTime: string }> = [];
    const disk = join(dir, 'disk');
    mkdirSync(join(disk, 'kidp_payments_ledger'), { recursive: true });
    const old = join(disk, 'kidp_payments_ledger', 'old.dump');
    writeFileSync(old, 'dump');
    utimesSync(old, new Date('2026-03-01T02:00:00Z'), new Date('2026-03-01T02:00:00Z'));
    const now = () => new Date('2026-03-05T12:00:00Z');
    const fromDisk = new BackupScheduler({ dir: disk, logger: pino({ level: 'silent' }), pgDump, now });
    const empty = new BackupScheduler({ dir: join(dir, 'empty'), logger: pino({ level: 'silent' }), pgDump, now });
    const [a, b] = [await fromDisk.set('u1', job(reports), {}), await empty.set('u1', job([]), {})];
    fromDisk.close();
    empty.close();
    expect({ fromDisk: a !== undefined, empty: b, reports: reports.length }).toEqual({ fromDisk: true, empty: undefined, reports: 1 });
  });
});
