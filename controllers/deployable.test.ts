// Table-driven: each row is (object, targets, time) → the complete list of actions.
import type { DeploymentTarget, Service, Database } from '../crds/types.js';
import type { Action } from './actions.js';
import { parseRequestId, reconcileDeployable, requestIdFor, resolveTarget, type Deployable } from './deployable.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const T = '2026-03-01T12:00:00Z';
const EARLIER = '2026-03-01T11:59:50Z';
const UID = '11111111-2222-3333-4444-555555555555';
const TIMEOUT = 30_000;
const FIN = 'platform.kidp.io/cleanup';

function target(name: string, over: Partial<DeploymentTarget['spec']> = {}): DeploymentTarget {
  return { apiVersion: 'platform.kidp.io/v1alpha1', kind: 'DeploymentTarget', metadata: { name }, spec: { provider: 'kubernetes', environment: 'production', namespace: 'kidp-workloads', broker: { identity: 'kubernetes-broker', transport: 'kafka' }, ...over } };
}
const prod = target('local-production', { default: true, region: 'local' });
const hooked = target('hooked', { broker: { identity: 'hook-broker', transport: 'webhook', webhookURL: 'https://broker.example:8443/v1/requests' } });

function service(over: { status?: Service['status']; finalizers?: string[]; deletionTimestamp?: string; target?: string | null; generation?: number } = {}): Service {
  const spec: Service['spec'] = { owner: { kind: 'Application', name: 'checkout' }, environment: 'production', image: 'registry.kidp.io/p/api:1.0.0', target: 'local-production' };
  if (over.target === null) delete spec.target;
  else if (over.target) spec.target = over.target;
  const metadata: Service['metadata'] = { name: 'api', namespace: 'payments', uid: UID, generation: over.generation ?? 2, resourceVersion: '100', labels: { environment: 'production' }, finalizers: over.finalizers ?? [FIN] };
  if (over.deletionTimestamp) metadata.deletionTimestamp = over.deletionTimestamp;
  const svc: Service = { apiVersion: 'platform.kidp.io/v1alpha1', kind: 'Service', metadata, spec };
  if (over.status) svc.status = over.status;
  return svc;
}

const ref = { apiVersion: 'platform.kidp.io/v1alpha1', kind: 'Service', plural: 'services', namespace: 'payments', name: 'api', uid: UID };
const request = (action: 'deploy' | 'delete', tgt = prod, generation = 2, spec: Record<string, unknown> = service().spec as unknown as Record<string, unknown>) => ({
  apiVersion: 'broker.kidp.io/v1',
  kind: 'DeploymentRequest',
  requestId: action === 'deploy' ? `${UID}-${generation}` : `${UID}-${generation}-delete`,
  action,
  target: { name: tgt.metadata.name, identity: tgt.spec.broker.identity, provider: 'kubernetes', environment: 'production', namespace: 'kidp-workloads', ...(tgt.spec.region ? { region: tgt.spec.region } : {}) },
  resource: { kind: 'Service', namespace: 'payments', name: 'api', uid: UID, generation, labels: { environment: 'production' }, spec },
  issuedAt: NOW.toISOString(),
});

/** Closures become their results for a transport and for both kinds of failure, so rows compare plain data. */
function expand(actions: Action[]): unknown[] {
  return actions.map((a) =>
    a.type === 'dispatch'
      ? { type: 'dispatch', request: a.request, target: a.target, sentVia: a.sent(a.target.transport), transient: a.failed({ permanent: false, message: 'kafka down' }), permanent: a.failed({ permanent: true, message: 'no route' }) }
      : a,
  );
}

const dispatched = (id: string, at = T, transport = 'kafka') => ({ type: 'Dispatched', status: 'True' as const, observedGeneration: 2, lastTransitionTime: at, reason: 'RequestSent', message: `request ${id} sent to broker kubernetes-broker via ${transport}` });
const id2 = `${UID}-2`;
const del2 = `${UID}-2-delete`;
const retry2 = `${UID}-2-retry2`;
const retry3 = `${UID}-2-retry3`;
/** BROKER_RETRY_BACKOFF for this uid: 5 s / 10 s doubled, ±20 % seeded by uid and attempt (pinned here so a change shows). */
const RETRY_AFTER_ATTEMPT_1_MS = 5_577;
const RETRY_AFTER_ATTEMPT_2_MS = 10_394;
/** What the fold leaves after a broker's Failed report (controllers/broker-reports.ts statusAfterReport). */
const brokerFailed = (requestId: string, permanent: boolean, recorded = id2, at = EARLIER): Service['status'] => ({
  phase: 'Failed',
  observedGeneration: 2,
  requestId: recorded,
  target: 'local-production',
  lastStatusTime: at,
  failure: { requestId, permanent },
  conditions: [
    dispatched(recorded, EARLIER),
    { type: 'Deployed', status: 'False', observedGeneration: 2, lastTransitionTime: at, reason: 'ApplyFailed', message: `${permanent ? 'permanent failure, not retried' : 'failure'}: apiserver unavailable` },
    { type: 'Ready', status: 'False', observedGeneration: 2, lastTransitionTime: at, reason: 'ApplyFailed', message: `${permanent ? 'permanent failure, not retried' : 'failure'}: apiserver unavailable` },
    { type: 'StatusReported', status: 'True', observedGeneration: 2, lastTransitionTime: at, reason: 'StatusEventApplied', message: 'Failed' },
  ],
});

/** What the status API or the status consumer recorded (brokers/status-handler.ts recordEvent). */
const RECEIVED = '2026-03-01T11:59:58.500Z';
const report = (phase: 'Deploying' | 'Ready' | 'Failed' | 'Deleted', eventId: string, requestId: string) => ({
  eventId,
  requestId,
  target: 'local-production',
  broker: 'kubernetes-broker',
  generation: 2,
  phase,
  reason: phase === 'Failed' ? 'ApplyFailed' : 'ObjectsApplied',
  message: phase === 'Failed' ? 'apiserver unavailable' : 'all there',
  receivedAt: RECEIVED,
});

interface Row {
  name: string;
  object: Deployable;
  targets?: DeploymentTarget[];
  now?: Date;
  expected: unknown[];
}

const rows: Row[] = [
  {
    name: 'no finalizer yet: adds it and nothing else',
    object: service({ finalizers: ['other/keep'] }),
    expected: [{ type: 'finalizers', ref, resourceVersion: '100', finalizers: ['other/keep', FIN] }],
  },
  {
    name: 'new: dispatches generation 2; sent → Deploying + Dispatched + Event + status-timeout requeue; transient → Pending; permanent → Failed',
    object: service(),
    expected: [
      {
        type: 'dispatch',
        request: request('deploy'),
        target: { transport: 'kafka' },
        sentVia: [
          { type: 'status', ref, resourceVersion: '100', status: { phase: 'Deploying', observedGeneration: 2, requestId: id2, target: 'local-production', conditions: [dispatched(id2)] } },
          { type: 'event', ref, eventType: 'Normal', reason: 'Deploying', message: `phase none -> Deploying: request ${id2} sent to broker kubernetes-broker via kafka` },
          { type: 'requeue', ms: TIMEOUT },
        ],
        transient: [
          { type: 'status', ref, resourceVersion: '100', status: { phase: 'Pending', observedGeneration: 2, conditions: [{ type: 'Dispatched', status: 'False', observedGeneration: 2, lastTransitionTime: T, reason: 'DispatchFailed', message: `request ${id2} could not be sent yet (retrying): kafka down` }] } },
          { type: 'event', ref, eventType: 'Normal', reason: 'Pending', message: `phase none -> Pending: request ${id2} could not be sent yet (retrying): kafka down` },
        ],
        permanent: [
          {
            type: 'status',
            ref,
            resourceVersion: '100',
            status: {
              phase: 'Failed',
              observedGeneration: 2,
              conditions: [
                { type: 'Ready', status: 'False', observedGeneration: 2, lastTransitionTime: T, reason: 'DispatchRejected', message: `request ${id2} was rejected: no route` },
                { type: 'Dispatched', status: 'False', observedGeneration: 2, lastTransitionTime: T, reason: 'DispatchRejected', message: `request ${id2} was rejected: no route` },
              ],
            },
          },
          { type: 'event', ref, eventType: 'Warning', reason: 'Failed', message: `phase none -> Failed: request ${id2} was rejected: no route` },
        ],
      },
    ],
  },
  {
    name: 'sent but not recorded (crash or 409): the same request id is sent again',
    object: service({ status: { phase: 'Ready', observedGeneration: 1, requestId: `${UID}-1`, conditions: [{ ...dispatched(`${UID}-1`, EARLIER), observedGeneration: 1 }] } }),
    expected: [
      {
        type: 'dispatch',
        request: request('deploy'),
        target: { transport: 'kafka' },
        sentVia: [
          { type: 'status', ref, resourceVersion: '100', status: { phase: 'Deploying', observedGeneration: 2, requestId: id2, target: 'local-production', conditions: [dispatched(id2)] } },
          { type: 'event', ref, eventType: 'Normal', reason: 'Deploying', message: `phase Ready -> Deploying: request ${id2} sent to broker kubernetes-broker via kafka` },
          { type: 'requeue', ms: TIMEOUT },
        ],
        transient: expect.any(Array),
        permanent: expect.any(Array),
      },
    ],
  },
  {
    name: 'the broker reported Ready on this generation before the Dispatched record landed: the record keeps phase Ready, no event',
    object: service({ status: { phase: 'Ready', observedGeneration: 2, lastStatusTime: EARLIER, conditions: [{ type: 'StatusReported', status: 'True', observedGeneration: 2, lastTransitionTime: EARLIER, reason: 'StatusEventApplied', message: 'Ready' }] } }),
    expected: [
      {
        type: 'dispatch',
        request: request('deploy'),
        target: { transport: 'kafka' },
        sentVia: [
          {
            type: 'status',
            ref,
            resourceVersion: '100',
            status: {
              phase: 'Ready',
              observedGeneration: 2,
              lastStatusTime: EARLIER,
              requestId: id2,
              target: 'local-production',
              conditions: [{ type: 'StatusReported', status: 'True', observedGeneration: 2, lastTransitionTime: EARLIER, reason: 'StatusEventApplied', message: 'Ready' }, dispatched(id2)],
            },
          },
          { type: 'requeue', ms: TIMEOUT },
        ],
        transient: expect.any(Array),
        permanent: expect.any(Array),
      },
    ],
  },
  {
    name: 'recorded and waiting within the timeout: requeue for the rest of it',
    object: service({ status: { phase: 'Deploying', observedGeneration: 2, requestId: id2, conditions: [dispatched(id2, EARLIER)] } }),
    expected: [{ type: 'requeue', ms: 20_000 }],
  },
  {
    name: 'recorded and no status event within the timeout: Unknown, StatusReported=False NoStatusReported, Warning event',
    object: service({ status: { phase: 'Deploying', observedGeneration: 2, requestId: id2, target: 'local-production', conditions: [dispatched(id2, EARLIER)] } }),
    now: new Date(Date.parse(EARLIER) + TIMEOUT),
    expected: [
      {
        type: 'status',
        ref,
        resourceVersion: '100',
        status: {
          phase: 'Unknown',
          observedGeneration: 2,
          requestId: id2,
          target: 'local-production',
          conditions: [
            dispatched(id2, EARLIER),
            { type: 'StatusReported', status: 'False', observedGeneration: 2, lastTransitionTime: '2026-03-01T12:00:20Z', reason: 'NoStatusReported', message: `no status event for request ${id2} within 30 s of dispatch; check broker local-production is running` },
          ],
        },
      },
      { type: 'event', ref, eventType: 'Warning', reason: 'Unknown', message: `phase Deploying -> Unknown: no status event for request ${id2} within 30 s of dispatch; check broker local-production is running` },
    ],
  },
  {
    name: 'recorded and a status event arrived after dispatch: nothing to do, even past the timeout',
    object: service({ status: { phase: 'Deploying', observedGeneration: 2, requestId: id2, lastStatusTime: '2026-03-01T11:59:51.120Z', conditions: [dispatched(id2, EARLIER)] } }),
    now: new Date(Date.parse(EARLIER) + 10 * TIMEOUT),
    expected: [],
  },
  {
    name: 'Ready for this request: steady state, no writes',
    object: service({ status: { phase: 'Ready', observedGeneration: 2, requestId: id2, conditions: [dispatched(id2, EARLIER)] } }),
    expected: [],
  },
  {
    name: 'named target missing: Failed NoDeploymentTarget (terminal, no dispatch)',
    object: service({ target: 'gone' }),
    expected: [
      { type: 'status', ref, resourceVersion: '100', status: { phase: 'Failed', observedGeneration: 2, conditions: [{ type: 'Ready', status: 'False', observedGeneration: 2, lastTransitionTime: T, reason: 'NoDeploymentTarget', message: 'DeploymentTarget gone (spec.target) does not exist; create it or change spec.target' }] } },
      { type: 'event', ref, eventType: 'Warning', reason: 'Failed', message: 'phase none -> Failed: DeploymentTarget gone (spec.target) does not exist; create it or change spec.target' },
    ],
  },
  {
    name: 'already Failed NoDeploymentTarget and still no target: no write, no event',
    object: service({ target: 'gone', status: { phase: 'Failed', observedGeneration: 2, conditions: [{ type: 'Ready', status: 'False', observedGeneration: 2, lastTransitionTime: EARLIER, reason: 'NoDeploymentTarget', message: 'DeploymentTarget gone (spec.target) does not exist; create it or change spec.target' }] } }),
    expected: [],
  },
  {
    name: 'permanently rejected for this generation: nothing more until the spec changes',
    object: service({ status: { phase: 'Failed', observedGeneration: 2, conditions: [{ type: 'Dispatched', status: 'False', observedGeneration: 2, lastTransitionTime: EARLIER, reason: 'DispatchRejected', message: 'x' }] } }),
    expected: [],
  },
  {
    name: 'broker reported a transient failure of the recorded request: wait out the backoff since the report',
    object: service({ status: brokerFailed(id2, false) }),
    now: new Date(Date.parse(EARLIER) + 1_000),
    expected: [{ type: 'requeue', ms: RETRY_AFTER_ATTEMPT_1_MS - 1_000 }],
  },
  {
    name: 'transient failure, backoff over: re-sends as attempt 2; sent → Deploying, failure cleared, Event; the retry can fail to send like any dispatch',
    object: service({ status: brokerFailed(id2, false) }),
    now: new Date(Date.parse(EARLIER) + RETRY_AFTER_ATTEMPT_1_MS),
    expected: [
      {
        type: 'dispatch',
        request: { ...request('deploy'), requestId: retry2, issuedAt: new Date(Date.parse(EARLIER) + RETRY_AFTER_ATTEMPT_1_MS).toISOString() },
        target: { transport: 'kafka' },
        sentVia: [
          {
            type: 'status',
            ref,
            resourceVersion: '100',
            status: {
              ...brokerFailed(id2, false),
              failure: undefined,
              phase: 'Deploying',
              requestId: retry2,
              conditions: [
                { ...dispatched(retry2, '2026-03-01T11:59:55Z'), message: `request ${retry2} sent to broker kubernetes-broker via kafka (attempt 2, after a failure the broker reported)` },
                ...(brokerFailed(id2, false)?.conditions ?? []).slice(1),
              ],
            },
          },
          { type: 'event', ref, eventType: 'Normal', reason: 'Deploying', message: `phase Failed -> Deploying: request ${retry2} sent to broker kubernetes-broker via kafka (attempt 2, after a failure the broker reported)` },
          { type: 'requeue', ms: TIMEOUT },
        ],
        transient: [
          expect.objectContaining({ type: 'status', status: expect.objectContaining({ phase: 'Pending' }) }),
          { type: 'event', ref, eventType: 'Normal', reason: 'Pending', message: `phase Failed -> Pending: request ${retry2} could not be sent yet (retrying): kafka down` },
        ],
        permanent: expect.any(Array),
      },
    ],
  },
  {
    name: 'the retry itself failed before its record landed: the next attempt waits for attempt 2\'s backoff, then goes out as attempt 3',
    object: service({ status: brokerFailed(retry2, false) }),
    now: new Date(Date.parse(EARLIER) + RETRY_AFTER_ATTEMPT_2_MS),
    expected: [{ type: 'dispatch', request: { ...request('deploy'), requestId: retry3, issuedAt: new Date(Date.parse(EARLIER) + RETRY_AFTER_ATTEMPT_2_MS).toISOString() }, target: { transport: 'kafka' }, sentVia: expect.any(Array), transient: expect.any(Array), permanent: expect.any(Array) }],
  },
  {
    name: 'a late failure of an older attempt than the recorded one: no retry, the recorded attempt is awaited',
    object: service({ status: brokerFailed(id2, false, retry2) }),
    now: new Date(Date.parse(EARLIER) + 10 * RETRY_AFTER_ATTEMPT_2_MS),
    expected: [],
  },
  {
    name: 'broker reported a permanent failure: Failed stays, nothing re-sent, even much later',
    object: service({ status: brokerFailed(id2, true) }),
    now: new Date(Date.parse(EARLIER) + 3_600_000),
    expected: [],
  },
  {
    name: 'webhook transport of the target is passed to the dispatcher',
    object: service({ target: 'hooked' }),
    targets: [prod, hooked],
    expected: [
      {
        type: 'dispatch',
        request: { ...request('deploy', hooked, 2, { ...service().spec, target: 'hooked' }), target: { name: 'hooked', identity: 'hook-broker', provider: 'kubernetes', environment: 'production', namespace: 'kidp-workloads' } },
        target: { transport: 'webhook', webhookURL: 'https://broker.example:8443/v1/requests' },
        sentVia: expect.any(Array),
        transient: expect.any(Array),
        permanent: expect.any(Array),
      },
    ],
  },
  {
    name: 'deleting, never dispatched: finalizer removed at once',
    object: service({ deletionTimestamp: T, finalizers: [FIN, 'other/keep'], status: { phase: 'Failed' } }),
    expected: [{ type: 'finalizers', ref, resourceVersion: '100', finalizers: ['other/keep'] }],
  },
  {
    name: 'deleting after a deploy: sends the delete request to the recorded target; Deleting',
    object: service({ deletionTimestamp: T, status: { phase: 'Ready', observedGeneration: 2, requestId: id2, target: 'local-production', conditions: [dispatched(id2, EARLIER)] } }),
    expected: [
      {
        type: 'dispatch',
        request: request('delete'),
        target: { transport: 'kafka' },
        sentVia: [
          { type: 'status', ref, resourceVersion: '100', status: { phase: 'Deleting', observedGeneration: 2, requestId: del2, target: 'local-production', conditions: [dispatched(del2)] } },
          { type: 'event', ref, eventType: 'Normal', reason: 'Deleting', message: `phase Ready -> Deleting: request ${del2} sent to broker kubernetes-broker via kafka` },
          { type: 'requeue', ms: TIMEOUT },
        ],
        transient: [
          { type: 'status', ref, resourceVersion: '100', status: { phase: 'Deleting', observedGeneration: 2, requestId: id2, target: 'local-production', conditions: [{ ...dispatched(id2, EARLIER), status: 'False', lastTransitionTime: T, reason: 'DispatchFailed', message: `request ${del2} could not be sent yet (retrying): kafka down` }] } },
          { type: 'event', ref, eventType: 'Normal', reason: 'Deleting', message: `phase Ready -> Deleting: request ${del2} could not be sent yet (retrying): kafka down` },
        ],
        permanent: expect.any(Array),
      },
    ],
  },
  {
    name: 'deleting after a crash that left only the broker report (no Dispatched record): cleanup is still requested',
    object: service({ deletionTimestamp: T, status: { phase: 'Ready', observedGeneration: 2, conditions: [{ type: 'StatusReported', status: 'True', observedGeneration: 2, lastTransitionTime: EARLIER, reason: 'StatusEventApplied', message: 'Ready' }] } }),
    expected: [{ type: 'dispatch', request: request('delete'), target: { transport: 'kafka' }, sentVia: expect.any(Array), transient: expect.any(Array), permanent: expect.any(Array) }],
  },
  {
    name: 'delete sent, broker has not confirmed: wait (finalizer stays)',
    object: service({ deletionTimestamp: T, status: { phase: 'Deleting', observedGeneration: 2, requestId: del2, conditions: [dispatched(del2, EARLIER)] } }),
    expected: [{ type: 'requeue', ms: 20_000 }],
  },
  {
    name: 'delete reported failed, not permanently: re-sent as delete attempt 2 to the recorded target after the backoff',
    object: service({ deletionTimestamp: T, status: { ...brokerFailed(del2, false, del2), phase: 'Failed' } }),
    now: new Date(Date.parse(EARLIER) + 60_000),
    expected: [
      {
        type: 'dispatch',
        request: { ...request('delete'), requestId: `${UID}-2-retry2-delete`, issuedAt: new Date(Date.parse(EARLIER) + 60_000).toISOString() },
        target: { transport: 'kafka' },
        sentVia: [expect.objectContaining({ type: 'status', status: expect.objectContaining({ phase: 'Deleting', requestId: `${UID}-2-retry2-delete` }) }), expect.objectContaining({ type: 'event', reason: 'Deleting' }), { type: 'requeue', ms: TIMEOUT }],
        transient: expect.any(Array),
        permanent: expect.any(Array),
      },
    ],
  },
  {
    name: 'broker confirmed cleanup (Deployed=False CleanedUp): finalizer removed',
    object: service({ deletionTimestamp: T, status: { phase: 'Deleting', observedGeneration: 2, requestId: del2, conditions: [dispatched(del2, EARLIER), { type: 'Deployed', status: 'False', lastTransitionTime: T, reason: 'CleanedUp', message: 'gone' }] } }),
    expected: [{ type: 'finalizers', ref, resourceVersion: '100', finalizers: [] }],
  },
  {
    name: 'deleting without our finalizer: nothing',
    object: service({ deletionTimestamp: T, finalizers: ['other/keep'], status: { phase: 'Deleting', requestId: del2 } }),
    expected: [],
  },
  // Broker reports recorded by the status API / consumer are folded first, by this reconciler alone.
  {
    name: 'a recorded Ready report: folded (one status write, the broker\'s Event), then nothing to wait for',
    object: service({ status: { phase: 'Deploying', observedGeneration: 2, requestId: id2, target: 'local-production', recentEventIds: ['e1'], conditions: [dispatched(id2, EARLIER)], brokerReports: [report('Ready', 'e1', id2)] } }),
    expected: [
      {
        type: 'status',
        ref,
        resourceVersion: '100',
        status: {
          phase: 'Ready',
          observedGeneration: 2,
          requestId: id2,
          target: 'local-production',
          recentEventIds: ['e1'],
          lastStatusEventId: 'e1',
          lastStatusTime: RECEIVED,
          conditions: [
            dispatched(id2, EARLIER),
            { type: 'Deployed', status: 'True', observedGeneration: 2, lastTransitionTime: T, reason: 'ObjectsApplied', message: `all there (broker kubernetes-broker on target local-production, request ${id2})` },
            { type: 'Ready', status: 'True', observedGeneration: 2, lastTransitionTime: T, reason: 'ObjectsApplied', message: 'all there' },
            { type: 'StatusReported', status: 'True', observedGeneration: 2, lastTransitionTime: T, reason: 'StatusEventApplied', message: `Ready from broker kubernetes-broker on target local-production, request ${id2} (event e1)` },
          ],
        },
      },
      { type: 'event', ref, eventType: 'Normal', reason: 'ObjectsApplied', message: `Ready: all there (broker kubernetes-broker, target local-production, request ${id2})` },
    ],
  },
  {
    name: 'a recorded report of a superseded attempt: dropped, the list emptied, the outbox goes on waiting',
    object: service({ status: { phase: 'Deploying', observedGeneration: 2, requestId: retry2, target: 'local-production', conditions: [dispatched(retry2, EARLIER)], brokerReports: [report('Failed', 'late', id2)] } }),
    expected: [
      { type: 'status', ref, resourceVersion: '100', status: { phase: 'Deploying', observedGeneration: 2, requestId: retry2, target: 'local-production', conditions: [dispatched(retry2, EARLIER)] } },
      { type: 'requeue', ms: 20_000 },
    ],
  },
  {
    name: 'crash between dispatch and record, and the broker\'s Ready recorded meanwhile: folded first, then the same id re-sent and recorded with phase Ready kept',
    object: service({ status: { recentEventIds: ['e1'], brokerReports: [report('Ready', 'e1', id2)] } }),
    expected: [
      { type: 'status', ref, resourceVersion: '100', status: expect.objectContaining({ phase: 'Ready', lastStatusEventId: 'e1' }) },
      { type: 'event', ref, eventType: 'Normal', reason: 'ObjectsApplied', message: `Ready: all there (broker kubernetes-broker, target local-production, request ${id2})` },
      {
        type: 'dispatch',
        request: request('deploy'),
        target: { transport: 'kafka' },
        // The same resourceVersion: the applier sends it after the fold's write (apply.ts).
        sentVia: [
          { type: 'status', ref, resourceVersion: '100', status: expect.objectContaining({ phase: 'Ready', requestId: id2, lastStatusEventId: 'e1', conditions: expect.arrayContaining([dispatched(id2)]) }) },
          { type: 'requeue', ms: TIMEOUT },
        ],
        transient: expect.any(Array),
        permanent: expect.any(Array),
      },
    ],
  },
  {
    name: 'deleting, and the broker\'s Deleted recorded: folded to CleanedUp, then the finalizer goes in the same reconcile',
    object: service({
      deletionTimestamp: EARLIER,
      status: { phase: 'Deleting', observedGeneration: 2, requestId: del2, target: 'local-production', conditions: [dispatched(del2, EARLIER)], brokerReports: [report('Deleted', 'e9', del2)] },
    }),
    expected: [
      { type: 'status', ref, resourceVersion: '100', status: expect.objectContaining({ phase: 'Deleting', lastStatusEventId: 'e9', conditions: expect.arrayContaining([expect.objectContaining({ type: 'Deployed', status: 'False', reason: 'CleanedUp' })]) }) },
      { type: 'event', ref, eventType: 'Normal', reason: 'CleanedUp', message: `Deleted: all there (broker kubernetes-broker, target local-production, request ${del2})` },
      { type: 'finalizers', ref, resourceVersion: '100', finalizers: [] },
    ],
  },
  {
    name: 'deleted and released (no finalizer): nothing, not even a fold',
    object: service({ deletionTimestamp: EARLIER, finalizers: [], status: { brokerReports: [report('Deleted', 'e9', del2)] } }),
    expected: [],
  },
];

describe('reconcileDeployable', () => {
  it.each(rows)('$name', (row) => {
    const actions = reconcileDeployable({ object: row.object, targets: row.targets ?? [prod], now: row.now ?? NOW, statusTimeoutMs: TIMEOUT });
    expect(expand(actions)).toEqual(row.expected);
  });
});

describe('resolveTarget', () => {
  const db = (environment: 'production' | 'staging' | undefined, tgt?: string): Database => ({
    apiVersion: 'platform.kidp.io/v1alpha1',
    kind: 'Database',
    metadata: { name: 'db', namespace: 'payments' },
    spec: { owner: { kind: 'Team', name: 'payments' }, engine: 'postgresql', version: '16', ...(environment ? { environment } : {}), ...(tgt ? { target: tgt } : {}) },
  });
  const stagingA = target('staging-a', { environment: 'staging', default: true });
  const stagingB = target('staging-b', { environment: 'staging', default: true });
  it.each([
    ['spec.target wins over defaults', db('staging', 'staging-b'), [prod, stagingA, stagingB], { target: stagingB }],
    [
      'a spec.target of another environment is refused, not dispatched to',
      db('staging', 'local-production'),
      [prod, stagingA],
      { reason: 'TargetEnvironmentMismatch', message: 'DeploymentTarget local-production (spec.target) serves environment production, not staging; nothing was sent: name a target of staging' },
    ],
    ['the default of the environment', db('staging'), [prod, stagingA, target('x', { environment: 'staging' })], { target: stagingA }],
    ['no environment means development, which has no default', db(undefined), [prod, stagingA], { reason: 'NoDeploymentTarget', message: 'no spec.target and no DeploymentTarget marked default for environment development; set spec.target or mark one default' }],
    ['two defaults are ambiguous', db('staging'), [stagingB, stagingA], { reason: 'AmbiguousDeploymentTarget', message: 'no spec.target and 2 DeploymentTargets are default for environment staging (staging-a, staging-b); set spec.target or keep one default' }],
  ])('%s', (_name, obj, targets, expected) => {
    expect(resolveTarget(obj, targets)).toEqual(expected);
  });
});

describe('request ids', () => {
  it.each([
    ['first deploy', requestIdFor(UID, 2, 'deploy'), 'deploy', { generation: 2, attempt: 1 }],
    ['retried deploy', requestIdFor(UID, 2, 'deploy', 3), 'deploy', { generation: 2, attempt: 3 }],
    ['retried delete keeps its suffix', requestIdFor(UID, 7, 'delete', 2), 'delete', { generation: 7, attempt: 2 }],
    ['a delete id is not a deploy id', requestIdFor(UID, 2, 'delete'), 'deploy', undefined],
    ["another object's id", requestIdFor('other-uid', 2, 'deploy'), 'deploy', undefined],
    ['not an id at all', `${UID}-two`, 'deploy', undefined],
  ] as const)('%s', (_name, id, action, expected) => {
    expect(parseRequestId(id, UID, action)).toEqual(expected);
  });
});
