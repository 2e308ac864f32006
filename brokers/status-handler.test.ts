import { PROTOCOL_VERSION, type StatusEvent } from './contract.js';
import {
  RECENT_EVENT_IDS_KEPT,
  databaseConnectionRefsFor,
  isCleanedUp,
  setCondition,
  statusAfterEvent,
  type DeployableObject,
  type DeployableStatus,
} from './status-handler.js';

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
    reportedAt: AT,
    ...overrides,
  };
}

const by = (phase: string, id = `e-${phase}`, req = phase === 'Deleted' ? 'u1-2-delete' : 'u1-2') => ({ by: `broker b1 on target t1, request ${req}`, reported: `${phase} from broker b1 on target t1, request ${req} (event ${id})` });

describe('statusAfterEvent', () => {
  const dispatched: DeployableStatus = {
    phase: 'Deploying',
    requestId: 'u1-2',
    conditions: [{ type: 'Dispatched', status: 'True', reason: 'Kafka', message: 'sent', lastTransitionTime: EARLIER }],
  };
  const cases: Array<[string, DeployableObject, StatusEvent, ReturnType<typeof statusAfterEvent>]> = [
    ['Ready sets phase, conditions, ids and the connection secret', db(dispatched), ev('Ready'), {
      decision: 'apply',
      status: {
        phase: 'Ready',
        requestId: 'u1-2',
        observedGeneration: 2,
        lastStatusEventId: 'e-Ready',
        lastStatusTime: AT,
        recentEventIds: ['e-Ready'],
        connectionSecretRef: { name: 'ledger-connection', namespace: 'work' },
        conditions: [
          { type: 'Dispatched', status: 'True', reason: 'Kafka', message: 'sent', lastTransitionTime: EARLIER },
          { type: 'Deployed', status: 'True', reason: 'ObjectsApplied', message: `all there (${by('Ready').by})`, observedGeneration: 2, lastTransitionTime: AT },
          { type: 'Ready', status: 'True', reason: 'ObjectsApplied', message: 'all there', observedGeneration: 2, lastTransitionTime: AT },
          { type: 'StatusReported', status: 'True', reason: 'StatusEventApplied', message: by('Ready').reported, observedGeneration: 2, lastTransitionTime: AT },
        ],
      },
    }],
    ['a permanent Failed says so in both conditions', db(dispatched), ev('Failed', { permanent: true }), {
      decision: 'apply',
      status: {
        phase: 'Failed',
        requestId: 'u1-2',
        observedGeneration: 2,
        lastStatusEventId: 'e-Failed',
        lastStatusTime: AT,
        recentEventIds: ['e-Failed'],
        failure: { requestId: 'u1-2', permanent: true },
        conditions: [
          { type: 'Dispatched', status: 'True', reason: 'Kafka', message: 'sent', lastTransitionTime: EARLIER },
          { type: 'Deployed', status: 'False', reason: 'ApplyFailed', message: `permanent failure, not retried: quota exceeded (${by('Failed').by})`, observedGeneration: 2, lastTransitionTime: AT },
          { type: 'Ready', status: 'False', reason: 'ApplyFailed', message: 'permanent failure, not retried: quota exceeded', observedGeneration: 2, lastTransitionTime: AT },
          { type: 'StatusReported', status: 'True', reason: 'StatusEventApplied', message: by('Failed').reported, observedGeneration: 2, lastTransitionTime: AT },
        ],
      },
    }],
    ['a Failed that is not permanent is recorded as retryable; Ready after it ends the failure', db({ ...dispatched, phase: 'Failed', failure: { requestId: 'u1-2', permanent: false } }), ev('Ready', { requestId: 'u1-2-retry2' }), {
      decision: 'apply',
      status: {
        phase: 'Ready',
        requestId: 'u1-2',
        observedGeneration: 2,
        lastStatusEventId: 'e-Ready',
        lastStatusTime: AT,
        recentEventIds: ['e-Ready'],
        connectionSecretRef: { name: 'ledger-connection', namespace: 'work' },
        conditions: [
          { type: 'Dispatched', status: 'True', reason: 'Kafka', message: 'sent', lastTransitionTime: EARLIER },
          { type: 'Deployed', status: 'True', reason: 'ObjectsApplied', message: `all there (${by('Ready', 'e-Ready', 'u1-2-retry2').by})`, observedGeneration: 2, lastTransitionTime: AT },
          { type: 'Ready', status: 'True', reason: 'ObjectsApplied', message: 'all there', observedGeneration: 2, lastTransitionTime: AT },
          { type: 'StatusReported', status: 'True', reason: 'StatusEventApplied', message: by('Ready', 'e-Ready', 'u1-2-retry2').reported, observedGeneration: 2, lastTransitionTime: AT },
        ],
      },
    }],
    ['a transient Failed (permanent unset) is recorded as a retryable failure', db(dispatched), ev('Failed'), {
      decision: 'apply',
      status: {
        phase: 'Failed',
        requestId: 'u1-2',
        observedGeneration: 2,
        lastStatusEventId: 'e-Failed',
        lastStatusTime: AT,
        recentEventIds: ['e-Failed'],
        failure: { requestId: 'u1-2', permanent: false },
        conditions: [
          { type: 'Dispatched', status: 'True', reason: 'Kafka', message: 'sent', lastTransitionTime: EARLIER },
          { type: 'Deployed', status: 'False', reason: 'ApplyFailed', message: `failure: quota exceeded (${by('Failed').by})`, observedGeneration: 2, lastTransitionTime: AT },
          { type: 'Ready', status: 'False', reason: 'ApplyFailed', message: 'failure: quota exceeded', observedGeneration: 2, lastTransitionTime: AT },
          { type: 'StatusReported', status: 'True', reason: 'StatusEventApplied', message: by('Failed').reported, observedGeneration: 2, lastTransitionTime: AT },
        ],
      },
    }],
    ['Deleted keeps the object in Deleting with Deployed=False CleanedUp and drops the secret ref', db({ phase: 'Deleting', connectionSecretRef: { name: 'x', namespace: 'y' } }, { deletionTimestamp: EARLIER }), ev('Deleted', { message: '' }), {
      decision: 'apply',
      status: {
        phase: 'Deleting',
        observedGeneration: 2,
        lastStatusEventId: 'e-Deleted',
        lastStatusTime: AT,
        recentEventIds: ['e-Deleted'],
        conditions: [
          { type: 'Deployed', status: 'False', reason: 'CleanedUp', message: `ObjectsApplied (${by('Deleted').by})`, observedGeneration: 2, lastTransitionTime: AT },
          { type: 'Ready', status: 'False', reason: 'CleanedUp', message: 'removed from the target', observedGeneration: 2, lastTransitionTime: AT },
          { type: 'StatusReported', status: 'True', reason: 'StatusEventApplied', message: by('Deleted').reported, observedGeneration: 2, lastTransitionTime: AT },
        ],
      },
    }],
    ['an event id already applied is a duplicate', db({ recentEventIds: ['e-0', 'e-Ready'] }), ev('Ready'), { decision: 'duplicate' }],
    ['an event for an older generation is stale', db({ observedGeneration: 3 }), ev('Ready'), { decision: 'stale', reason: 'event is for generation 2; status already reflects generation 3' }],
    ['an event for a previous object of the same name is stale', db(), ev('Ready', { resource: { kind: 'Database', namespace: 'payments', name: 'ledger', uid: 'old', generation: 2 } }), {
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
    expect(statusAfterEvent(object, event, NOW)).toEqual(expected);
  });

  it('still applies a late Ready of an earlier attempt (its objects exist) and a Failed of the attempt sent', () => {
    const retried = db({ ...dispatched, requestId: 'u1-2-retry2' });
    expect({
      lateReady: statusAfterEvent(retried, ev('Ready'), NOW).decision,
      currentFailed: statusAfterEvent(retried, ev('Failed', { requestId: 'u1-2-retry2' }), NOW).decision,
      newerGeneration: statusAfterEvent(db({ ...dispatched, requestId: 'u1-1-retry2' }), ev('Failed'), NOW).decision,
    }).toEqual({ lateReady: 'apply', currentFailed: 'apply', newerGeneration: 'apply' });
  });

  it(`keeps only the last ${RECENT_EVENT_IDS_KEPT} event ids`, () => {
    const ids = Array.from({ length: RECENT_EVENT_IDS_KEPT }, (_, i) => `old-${i}`);
    const d = statusAfterEvent(db({ recentEventIds: ids }), ev('Deploying'), NOW);
    expect(d.decision === 'apply' ? d.status.recentEventIds : d).toEqual([...ids.slice(1), 'e-Deploying']);
  });
});

describe('setCondition', () => {
  const c = { type: 'Ready', status: 'True' as const, reason: 'A', message: 'm', lastTransitionTime: EARLIER };
  it.each([
    ['keeps lastTransitionTime when the status is unchanged', [c], { type: 'Ready', status: 'True' as const, reason: 'B', message: 'n' }, [{ ...c, reason: 'B', message: 'n' }]],
    ['moves it when the status changes', [c], { type: 'Ready', status: 'False' as const, reason: 'B', message: 'n' }, [{ type: 'Ready', status: 'False', reason: 'B', message: 'n', lastTransitionTime: AT }]],
    ['appends a new type', [], { type: 'Deployed', status: 'Unknown' as const, reason: 'X', message: '' }, [{ type: 'Deployed', status: 'Unknown', reason: 'X', message: '', lastTransitionTime: AT }]],
  ])('%s', (_name, before, next, expected) => {
    expect(setCondition(before, next, NOW)).toEqual(expected);
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

describe('databaseConnectionRefsFor', () => {
  const service = (selector?: Record<string, string>): DeployableObject => ({
    apiVersion: 'platform.kidp.io/v1alpha1',
    kind: 'Service',
    metadata: { name: 'api', namespace: 'payments', uid: 's1' },
    spec: selector ? { dependencies: { databaseSelector: { matchLabels: selector } } } : {},
  });
  const ready = (name: string, labels: Record<string, string>, extra: Partial<DeployableObject['metadata']> = {}, phase: DeployableStatus['phase'] = 'Ready'): DeployableObject => ({
    ...db({ phase, connectionSecretRef: { name: `${name}-connection`, namespace: 'work' } }, { name, labels, ...extra }),
  });
  const databases = [
    ready('zeta', { role: 'ledger' }),
    ready('alpha', { role: 'ledger', tier: 'gold' }),
    ready('other', { role: 'cache' }),
    ready('pending', { role: 'ledger' }, {}, 'Deploying'),
    ready('leaving', { role: 'ledger' }, { deletionTimestamp: EARLIER }),
    ready('elsewhere', { role: 'ledger' }, { namespace: 'search' }),
  ];
  it.each([
    ['no selector: leave the field alone', service(), undefined],
    ['matching Ready databases in the namespace, sorted', service({ role: 'ledger' }), [
      { database: 'alpha', name: 'alpha-connection', namespace: 'work' },
      { database: 'zeta', name: 'zeta-connection', namespace: 'work' },
    ]],
    ['every label must match', service({ role: 'ledger', tier: 'gold' }), [{ database: 'alpha', name: 'alpha-connection', namespace: 'work' }]],
    ['nothing matches', service({ role: 'none' }), []],
  ])('%s', (_name, svc, expected) => {
    expect(databaseConnectionRefsFor(svc, databases)).toEqual(expected);
  });
});
