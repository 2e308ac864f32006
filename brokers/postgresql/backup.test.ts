// How a backup report travels: the protocol carries outputs.backup and the status handler
// records it with the report (controllers/broker-reports.ts then sets status.backup).
import { PROTOCOL_VERSION, type StatusEvent } from '../contract.js';
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
