// The fold of recorded broker reports into status, as whole statuses and whole action lists.
import type { BrokerReport } from '../brokers/index.js';
import type { Database, Service } from '../crds/types.js';
import { databaseConnectionRefsFor, foldReports, statusAfterReport } from './broker-reports.js';
import type { Deployable } from './deployable.js';

const NOW = new Date('2026-03-01T10:00:00.000Z');
/** Conditions carry second precision, as the apiserver stores metav1.Time. */
const T = '2026-03-01T10:00:00Z';
const EARLIER = '2026-03-01T09:00:00Z';
const RECEIVED = '2026-03-01T09:59:58.250Z';

type DbStatus = NonNullable<Database['status']>;

function db(status?: DbStatus, extra: Partial<Database['metadata']> = {}, name = 'ledger', labels: Record<string, string> = { role: 'ledger' }): Database {
  const d: Database = {
    apiVersion: 'platform.kidp.io/v1alpha1',
    kind: 'Database',
    metadata: { name, namespace: 'payments', uid: 'u1', generation: 2, resourceVersion: '7', labels, finalizers: ['platform.kidp.io/cleanup'], ...extra },
    spec: { owner: { kind: 'Team', name: 'pay' }, target: 't1', engine: 'postgresql', version: '16' } as Database['spec'],
  };
  if (status) d.status = status;
  return d;
}

const report = (phase: BrokerReport['phase'], overrides: Partial<BrokerReport> = {}): BrokerReport => ({
  eventId: `e-${phase}`,
  requestId: phase === 'Deleted' ? 'u1-2-delete' : 'u1-2',
  target: 't1',
  broker: 'b1',
  generation: 2,
  phase,
  reason: phase === 'Failed' ? 'ApplyFailed' : 'ObjectsApplied',
  message: phase === 'Failed' ? 'quota exceeded' : 'all there',
  receivedAt: RECEIVED,
  ...(phase === 'Ready' ? { outputs: { connectionSecretRef: { name: 'ledger-connection', namespace: 'work' } } } : {}),
  ...overrides,
});

const by = (phase: string, id = `e-${phase}`, req = phase === 'Deleted' ? 'u1-2-delete' : 'u1-2') => ({ by: `broker b1 on target t1, request ${req}`, reported: `${phase} from broker b1 on target t1, request ${req} (event ${id})` });
const dispatched: DbStatus = {
  phase: 'Deploying',
  requestId: 'u1-2',
  conditions: [{ type: 'Dispatched', status: 'True', reason: 'RequestSent', message: 'sent', lastTransitionTime: EARLIER }],
};
const sent = dispatched.conditions?.[0];

describe('statusAfterReport', () => {
  const cases: Array<[string, Database, BrokerReport, DbStatus]> = [
    ['Ready sets phase, conditions, the last event and the connection secret', db(dispatched), report('Ready'), {
      phase: 'Ready',
      requestId: 'u1-2',
      observedGeneration: 2,
      lastStatusEventId: 'e-Ready',
      lastStatusTime: RECEIVED,
      connectionSecretRef: { name: 'ledger-connection', namespace: 'work' },
      conditions: [
        sent!,
        { type: 'Deployed', status: 'True', reason: 'ObjectsApplied', message: `all there (${by('Ready').by})`, observedGeneration: 2, lastTransitionTime: T },
        { type: 'Ready', status: 'True', reason: 'ObjectsApplied', message: 'all there', observedGeneration: 2, lastTransitionTime: T },
        { type: 'StatusReported', status: 'True', reason: 'StatusEventApplied', message: by('Ready').reported, observedGeneration: 2, lastTransitionTime: T },
      ],
    }],
    ['a permanent Failed says so in both conditions', db(dispatched), report('Failed', { permanent: true }), {
      phase: 'Failed',
      requestId: 'u1-2',
      observedGeneration: 2,
      lastStatusEventId: 'e-Failed',
      lastStatusTime: RECEIVED,
      failure: { requestId: 'u1-2', permanent: true },
      conditions: [
        sent!,
        { type: 'Deployed', status: 'False', reason: 'ApplyFailed', message: `permanent failure, not retried: quota exceeded (${by('Failed').by})`, observedGeneration: 2, lastTransitionTime: T },
        { type: 'Ready', status: 'False', reason: 'ApplyFailed', message: 'permanent failure, not retried: quota exceeded', observedGeneration: 2, lastTransitionTime: T },
        { type: 'StatusReported', status: 'True', reason: 'StatusEventApplied', message: by('Failed').reported, observedGeneration: 2, lastTransitionTime: T },
      ],
    }],
    ['a Ready after a retryable failure ends the failure', db({ ...dispatched, phase: 'Failed', failure: { requestId: 'u1-2', permanent: false } }), report('Ready', { requestId: 'u1-2-retry2' }), {
      phase: 'Ready',
      requestId: 'u1-2',
      observedGeneration: 2,
      lastStatusEventId: 'e-Ready',
      lastStatusTime: RECEIVED,
      connectionSecretRef: { name: 'ledger-connection', namespace: 'work' },
      conditions: [
        sent!,
        { type: 'Deployed', status: 'True', reason: 'ObjectsApplied', message: `all there (${by('Ready', 'e-Ready', 'u1-2-retry2').by})`, observedGeneration: 2, lastTransitionTime: T },
        { type: 'Ready', status: 'True', reason: 'ObjectsApplied', message: 'all there', observedGeneration: 2, lastTransitionTime: T },
        { type: 'StatusReported', status: 'True', reason: 'StatusEventApplied', message: by('Ready', 'e-Ready', 'u1-2-retry2').reported, observedGeneration: 2, lastTransitionTime: T },
      ],
    }],
    ['a transient Failed (permanent unset) is a retryable failure', db(dispatched), report('Failed'), {
      phase: 'Failed',
      requestId: 'u1-2',
      observedGeneration: 2,
      lastStatusEventId: 'e-Failed',
      lastStatusTime: RECEIVED,
      failure: { requestId: 'u1-2', permanent: false },
      conditions: [
        sent!,
        { type: 'Deployed', status: 'False', reason: 'ApplyFailed', message: `failure: quota exceeded (${by('Failed').by})`, observedGeneration: 2, lastTransitionTime: T },
        { type: 'Ready', status: 'False', reason: 'ApplyFailed', message: 'failure: quota exceeded', observedGeneration: 2, lastTransitionTime: T },
        { type: 'StatusReported', status: 'True', reason: 'StatusEventApplied', message: by('Failed').reported, observedGeneration: 2, lastTransitionTime: T },
      ],
    }],
    ['Deleted keeps the object in Deleting with Deployed=False CleanedUp and drops the secret ref', db({ phase: 'Deleting', connectionSecretRef: { name: 'x', namespace: 'y' } }, { deletionTimestamp: EARLIER }), report('Deleted', { message: '' }), {
      phase: 'Deleting',
      observedGeneration: 2,
      lastStatusEventId: 'e-Deleted',
      lastStatusTime: RECEIVED,
      conditions: [
        { type: 'Deployed', status: 'False', reason: 'CleanedUp', message: `ObjectsApplied (${by('Deleted').by})`, observedGeneration: 2, lastTransitionTime: T },
        { type: 'Ready', status: 'False', reason: 'CleanedUp', message: 'removed from the target', observedGeneration: 2, lastTransitionTime: T },
        { type: 'StatusReported', status: 'True', reason: 'StatusEventApplied', message: by('Deleted').reported, observedGeneration: 2, lastTransitionTime: T },
      ],
    }],
  ];
  it.each(cases)('%s', (_name, object, r, expected) => {
    expect(statusAfterReport(object as Deployable, r, NOW)).toEqual(expected);
  });
});

describe('foldReports', () => {
  const ref = { apiVersion: 'platform.kidp.io/v1alpha1', kind: 'Database', plural: 'databases', namespace: 'payments', name: 'ledger', uid: 'u1' };
  const event = (r: BrokerReport, type: 'Normal' | 'Warning' = 'Normal') => ({
    type: 'event',
    ref,
    eventType: type,
    reason: r.phase === 'Deleted' ? 'CleanedUp' : r.reason,
    message: `${r.phase}: ${r.message || r.reason} (broker b1, target t1, request ${r.requestId})`,
  });

  it('nothing recorded: status as it is, no Events', () => {
    const object = db(dispatched);
    expect(foldReports({ object: object as Deployable, now: NOW }, ref)).toEqual({ status: dispatched, events: [], dropped: [] });
  });

  it('applies the reports in the order recorded, one Event each, and empties the list; recentEventIds stay the recorder\'s', () => {
    const deploying = report('Deploying', { reason: 'Applying', message: 'applying' });
    const ready = report('Ready');
    const object = db({ ...dispatched, recentEventIds: ['e-Deploying', 'e-Ready'], brokerReports: [deploying, ready] });
    const folded = foldReports({ object: object as Deployable, now: NOW }, ref);
    expect(folded).toEqual({
      status: { ...statusAfterReport(db({ ...dispatched, recentEventIds: ['e-Deploying', 'e-Ready'] }) as Deployable, ready, NOW), conditions: expect.any(Array) },
      events: [event(deploying), event(ready)],
      dropped: [],
    });
    expect({ phase: folded.status.phase, ids: folded.status.recentEventIds, reports: folded.status.brokerReports }).toEqual({ phase: 'Ready', ids: ['e-Deploying', 'e-Ready'], reports: undefined });
  });

  it('drops what is stale by the time it is folded (a newer generation folded first), and still empties the list', () => {
    const newer = report('Ready', { eventId: 'e-3', generation: 3, requestId: 'u1-3' });
    const late = report('Failed', { eventId: 'e-2' });
    const object = db({ ...dispatched, brokerReports: [newer, late] }, { generation: 3 });
    const folded = foldReports({ object: object as Deployable, now: NOW }, ref);
    expect({ phase: folded.status.phase, last: folded.status.lastStatusEventId, failure: folded.status.failure, reports: folded.status.brokerReports, events: folded.events, dropped: folded.dropped }).toEqual({
      phase: 'Ready',
      last: 'e-3',
      failure: undefined,
      reports: undefined,
      events: [{ ...event(newer), message: 'Ready: all there (broker b1, target t1, request u1-3)' }],
      dropped: [{ eventId: 'e-2', reason: 'event is for generation 2; status already reflects generation 3' }],
    });
  });

  it('folds reports handed over in memory after the recorded ones, and records their event ids as the recorder would', () => {
    const deploying = report('Deploying', { reason: 'Applying', message: 'applying' });
    const ready = report('Ready');
    const object = db({ ...dispatched, recentEventIds: ['e-Deploying'], brokerReports: [deploying] });
    const folded = foldReports({ object: object as Deployable, now: NOW, pending: [ready] }, ref);
    expect({ phase: folded.status.phase, ids: folded.status.recentEventIds, reports: folded.status.brokerReports, events: folded.events }).toEqual({
      phase: 'Ready',
      ids: ['e-Deploying', 'e-Ready'],
      reports: undefined,
      events: [event(deploying), event(ready)],
    });
  });

  it('skips a handed-over report whose event id is already recorded or seen: one Event, no second fold', () => {
    const ready = report('Ready');
    const seen = foldReports({ object: db({ ...dispatched, recentEventIds: ['e-Ready'] }) as Deployable, now: NOW, pending: [ready] }, ref);
    expect(seen).toEqual({ status: { ...dispatched, recentEventIds: ['e-Ready'] }, events: [], dropped: [] });
    const twice = foldReports({ object: db(dispatched) as Deployable, now: NOW, pending: [ready, ready] }, ref);
    expect({ ids: twice.status.recentEventIds, events: twice.events.length }).toEqual({ ids: ['e-Ready'], events: 1 });
  });

  it('a Failed report is a Warning Event', () => {
    const failed = report('Failed');
    expect(foldReports({ object: db({ ...dispatched, brokerReports: [failed] }) as Deployable, now: NOW }, ref).events).toEqual([event(failed, 'Warning')]);
  });
});

describe('databaseConnectionRefsFor and the Service fold', () => {
  const service = (selector?: Record<string, string>, status?: Service['status']): Service => {
    const s: Service = {
      apiVersion: 'platform.kidp.io/v1alpha1',
      kind: 'Service',
      metadata: { name: 'api', namespace: 'payments', uid: 's1', generation: 1 },
      spec: { owner: { kind: 'Application', name: 'shop' }, image: 'x:1', ...(selector ? { dependencies: { databaseSelector: { matchLabels: selector } } } : {}) } as Service['spec'],
    };
    if (status) s.status = status;
    return s;
  };
  const ready = (name: string, labels: Record<string, string>, extra: Partial<Database['metadata']> = {}, phase: DbStatus['phase'] = 'Ready'): Deployable =>
    db({ phase, connectionSecretRef: { name: `${name}-connection`, namespace: 'work' } }, extra, name, labels) as Deployable;
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
    expect(databaseConnectionRefsFor(svc as Deployable, databases)).toEqual(expected);
  });

  it('the fold writes the refs when they change, and leaves an absent field absent when there are none', () => {
    const sref = { apiVersion: 'platform.kidp.io/v1alpha1', kind: 'Service', plural: 'services', namespace: 'payments', name: 'api', uid: 's1' };
    expect({
      gained: foldReports({ object: service({ role: 'ledger', tier: 'gold' }) as Deployable, databases, now: NOW }, sref).status,
      none: foldReports({ object: service({ role: 'none' }) as Deployable, databases, now: NOW }, sref).status,
      lost: foldReports({ object: service({ role: 'none' }, { databaseConnectionSecretRefs: [{ database: 'gone', name: 'gone-connection', namespace: 'work' }] }) as Deployable, databases, now: NOW }, sref).status,
    }).toEqual({
      gained: { databaseConnectionSecretRefs: [{ database: 'alpha', name: 'alpha-connection', namespace: 'work' }] },
      none: {},
      lost: { databaseConnectionSecretRefs: [] },
    });
  });
});

describe('statusAfterReport: usage (issue 15 item 6)', () => {
  const usage = { priceClass: 'db.t3.micro', sizeGiB: 20, hours: 10, hourlyRate: 0.02116, cost: 0.2116 };
  const withUsage = (object: Database, r: BrokerReport) => (statusAfterReport(object, r, NOW) as { usage?: unknown }).usage;
  it.each([
    ['a Ready report with usage sets status.usage', db(dispatched), report('Ready', { outputs: { usage } }), usage],
    ['a report without usage keeps the last', db({ ...dispatched, usage } as DbStatus), report('Ready'), usage],
    ['a Deleted report removes it', db({ ...dispatched, usage } as DbStatus), report('Deleted'), undefined],
  ] as const)('%s', (_name, object, r, expected) => {
    expect(withUsage(object, r)).toEqual(expected);
  });
});
