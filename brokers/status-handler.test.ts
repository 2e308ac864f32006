// The recorder's pure half: which events are recorded, and what recording changes. What a
// recorded report does to status is the deployable reconciler's (controllers/broker-reports.test.ts).
import { PROTOCOL_VERSION, type StatusEvent } from './contract.js';
import { BROKER_REPORTS_KEPT, RECENT_EVENT_IDS_KEPT, isCleanedUp, recordEvent, reportOf, staleReason, type BrokerReport, type DeployableObject, type DeployableStatus } from './status-handler.js';

const NOW = new Date('2026-03-01T10:00:00Z');
const EARLIER = '2026-03-01T09:00:00.000Z';
const AT = NOW.toISOString();

function db(status?: DeployableStatus, extra: Partial<DeployableObject['metadata']> = {}): DeployableObject {
  return {
    apiVersion: 'platform.kidp.io/v1alpha1',
    kind: 'Database',
    metadata: { name: 'ledger', namespace: 'payments', uid: 'u1', generation: 2, labels: { role: 'ledger' }, ...extra },
    spec: { target: 't1', engine: 'postgresql' },
    ...(status ? { status } : {}),
  };
}

function ev(phase: StatusEvent['phase'], overrides: Partial<StatusEvent> = {}): StatusEvent {
  return {
    apiVersion: PROTOCOL_VERSION,
    kind: 'StatusEvent',
    eventId: `e-${phase}`,
    requestId: phase === 'Deleted' ? 'u1-2-delete' : 'u1-2',
    target: 't1',
    broker: 'b1',
    resource: { kind: 'Database', namespace: 'payments', name: 'ledger', uid: 'u1', generation: 2 },
    phase,
    reason: phase === 'Failed' ? 'ApplyFailed' : 'ObjectsApplied',
    message: phase === 'Failed' ? 'quota exceeded' : 'all there',
    ...(phase === 'Ready' ? { outputs: { connectionSecretRef: { name: 'ledger-connection', namespace: 'work' } } } : {}),
    reportedAt: EARLIER,
    ...overrides,
  };
}

const report = (phase: StatusEvent['phase'], overrides: Partial<BrokerReport> = {}): BrokerReport => ({
  eventId: `e-${phase}`,
  requestId: phase === 'Deleted' ? 'u1-2-delete' : 'u1-2',
  target: 't1',
  broker: 'b1',
  generation: 2,
  phase,
  reason: phase === 'Failed' ? 'ApplyFailed' : 'ObjectsApplied',
  message: phase === 'Failed' ? 'quota exceeded' : 'all there',
  reportedAt: EARLIER,
  receivedAt: AT,
  ...(phase === 'Ready' ? { outputs: { connectionSecretRef: { name: 'ledger-connection', namespace: 'work' } } } : {}),
  ...overrides,
});

describe('recordEvent', () => {
  const dispatched: DeployableStatus = {
    phase: 'Deploying',
    requestId: 'u1-2',
    conditions: [{ type: 'Dispatched', status: 'True', reason: 'RequestSent', message: 'sent', lastTransitionTime: EARLIER }],
  };
  const cases: Array<[string, DeployableObject, StatusEvent, ReturnType<typeof recordEvent>]> = [
    ['a new event joins recentEventIds and brokerReports, and nothing else changes', db(dispatched), ev('Ready'), {
      decision: 'record',
      status: { ...dispatched, recentEventIds: ['e-Ready'], brokerReports: [report('Ready')] },
    }],
    ['a second one queues behind the first, unfolded one', db({ ...dispatched, recentEventIds: ['e-Deploying'], brokerReports: [report('Deploying')] }), ev('Ready'), {
      decision: 'record',
      status: { ...dispatched, recentEventIds: ['e-Deploying', 'e-Ready'], brokerReports: [report('Deploying'), report('Ready')] },
    }],
    ['a permanent Failed keeps its flag', db(dispatched), ev('Failed', { permanent: true }), {
      decision: 'record',
      status: { ...dispatched, recentEventIds: ['e-Failed'], brokerReports: [report('Failed', { permanent: true })] },
    }],
    ['an event id already recorded is a duplicate', db({ recentEventIds: ['e-0', 'e-Ready'] }), ev('Ready'), { decision: 'duplicate' }],
    ['an event for an older generation is stale', db({ observedGeneration: 3 }), ev('Ready'), { decision: 'stale', reason: 'event is for generation 2; status already reflects generation 3' }],
    ['an event for a previous object of the same name is stale, even with a known id', db({ recentEventIds: ['e-Ready'] }), ev('Ready', { resource: { kind: 'Database', namespace: 'payments', name: 'ledger', uid: 'old', generation: 2 } }), {
      decision: 'stale',
      reason: 'event is for uid old, but Database payments/ledger now has uid u1',
    }],
    ['a late deploy report for an object being deleted is stale', db({}, { deletionTimestamp: EARLIER }), ev('Ready'), {
      decision: 'stale',
      reason: 'a Ready report of a deploy request arrived while the object is being deleted',
    }],
    ['a late Failed of attempt 1 after attempt 2 was sent is stale', db({ ...dispatched, requestId: 'u1-2-retry2' }), ev('Failed'), {
      decision: 'stale',
      reason: 'event reports attempt 1 (u1-2); attempt 2 (u1-2-retry2) has been sent since',
    }],
    ['a late Deploying of attempt 2 after attempt 3 was sent is stale', db({ ...dispatched, requestId: 'u1-2-retry3' }), ev('Deploying', { requestId: 'u1-2-retry2' }), {
      decision: 'stale',
      reason: 'event reports attempt 2 (u1-2-retry2); attempt 3 (u1-2-retry3) has been sent since',
    }],
  ];
  it.each(cases)('%s', (_name, object, event, expected) => {
    expect(recordEvent(object, event, NOW)).toEqual(expected);
  });

  it('still records a late Ready of an earlier attempt (its objects exist) and a Failed of the attempt sent', () => {
    const retried = db({ ...dispatched, requestId: 'u1-2-retry2' });
    expect({
      lateReady: recordEvent(retried, ev('Ready'), NOW).decision,
      currentFailed: recordEvent(retried, ev('Failed', { requestId: 'u1-2-retry2' }), NOW).decision,
      newerGeneration: recordEvent(db({ ...dispatched, requestId: 'u1-1-retry2' }), ev('Failed'), NOW).decision,
    }).toEqual({ lateReady: 'record', currentFailed: 'record', newerGeneration: 'record' });
  });

  it(`keeps only the last ${RECENT_EVENT_IDS_KEPT} event ids and ${BROKER_REPORTS_KEPT} reports`, () => {
    const ids = Array.from({ length: RECENT_EVENT_IDS_KEPT }, (_, i) => `old-${i}`);
    const reports = Array.from({ length: BROKER_REPORTS_KEPT }, (_, i) => report('Deploying', { eventId: `old-${i}` }));
    const d = recordEvent(db({ recentEventIds: ids, brokerReports: reports }), ev('Deploying'), NOW);
    expect(d.decision === 'record' ? { ids: d.status.recentEventIds, reports: d.status.brokerReports?.map((r) => r.eventId) } : d).toEqual({
      ids: [...ids.slice(1), 'e-Deploying'],
      reports: [...ids.slice(1), 'e-Deploying'],
    });
  });
});

describe('staleReason', () => {
  it('judges the recorded report against the status as it is now', () => {
    const subject = { uid: 'u1', generation: 2, requestId: 'u1-2', phase: 'Failed' as const };
    expect({
      current: staleReason(db({ requestId: 'u1-2', observedGeneration: 2 }), subject),
      newerGenerationReported: staleReason(db({ observedGeneration: 3 }), subject),
      retriedSince: staleReason(db({ requestId: 'u1-2-retry2' }), subject),
    }).toEqual({
      current: undefined,
      newerGenerationReported: 'event is for generation 2; status already reflects generation 3',
      retriedSince: 'event reports attempt 1 (u1-2); attempt 2 (u1-2-retry2) has been sent since',
    });
  });
});

describe('reportOf', () => {
  it('keeps what the fold needs and when the event was received', () => {
    expect(reportOf(ev('Failed', { permanent: false }), NOW)).toEqual(report('Failed', { permanent: false }));
  });
});

describe('isCleanedUp', () => {
  it.each([
    ['Deployed=False CleanedUp', { conditions: [{ type: 'Deployed', status: 'False' as const, reason: 'CleanedUp', message: '', lastTransitionTime: AT }] }, true],
    ['Deployed=False for another reason', { conditions: [{ type: 'Deployed', status: 'False' as const, reason: 'ApplyFailed', message: '', lastTransitionTime: AT }] }, false],
    ['no status', undefined, false],
  ])('%s → %s', (_name, status, expected) => {
    expect(isCleanedUp(status)).toBe(expected);
  });
});
