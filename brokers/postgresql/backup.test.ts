// How a backup report travels: the protocol carries outputs.backup, and the status handler
// records it as status.backup while keeping what the provision reported.
import { PROTOCOL_VERSION, type StatusEvent } from '../contract.js';
import { encodeMessage, parseStatusEvent } from '../protocol.js';
import { statusAfterEvent, type DeployableObject } from '../status-handler.js';

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

it('statusAfterEvent records status.backup and keeps the connection secret ref', () => {
  const db: DeployableObject = {
    apiVersion: 'platform.kidp.io/v1alpha1',
    kind: 'Database',
    metadata: { name: 'ledger', namespace: 'payments', uid: 'u1', generation: 2 },
    spec: { target: 'pg', engine: 'postgresql' },
    status: { phase: 'Ready', requestId: 'u1-2', observedGeneration: 2, connectionSecretRef: { name: 'ledger-connection', namespace: 'payments' }, recentEventIds: ['u1-2:Ready'] },
  };
  const d = statusAfterEvent(db, event, NOW);
  expect(d.decision === 'apply' ? { phase: d.status.phase, backup: d.status['backup'], ref: d.status.connectionSecretRef, ids: d.status.recentEventIds } : d).toEqual({
    phase: 'Ready',
    backup: event.outputs?.backup,
    ref: { name: 'ledger-connection', namespace: 'payments' },
    ids: ['u1-2:Ready', event.eventId],
  });
});
