// Where a broker's StatusEvent lands (DESIGN.md §5, STYLE §11): the status API (after JWT
// verification) and the status-topic consumer both call `handle`, which checks that the
// event's broker and target may speak for the object, drops what is a duplicate or already
// stale, and records the rest on the object itself, in `status.brokerReports`. That write is
// the only thing this file writes; it is also what enqueues the object, since every
// controller replica watches it. The deployable reconciler (controllers/deployable.ts) alone
// folds the recorded reports into phase, conditions and the other status fields, and empties
// the list. A record on the object survives any restart: of the status service, of the
// controllers, of the broker.
import { ApiException, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { keepConnectionsAlive } from '../kube/connections.js';
import { DEPLOYABLE_PLURALS, PLATFORM_GROUP, PLATFORM_VERSION } from '../crds/registry.js';
import { parseRequestId } from './protocol.js';
import type { DeployableKind, ReportedPhase, StatusEvent } from './contract.js';
import { ForbiddenError, ResourceNotFoundError, StatusConflictError } from './errors.js';
import type { BrokerMetrics } from './metrics.js';
import type { TargetKeys } from './status-jwt.js';

export const GROUP = PLATFORM_GROUP;
export const VERSION = PLATFORM_VERSION;
export const PLURALS: Readonly<Record<DeployableKind, string>> = DEPLOYABLE_PLURALS;

export const CONDITION = { Ready: 'Ready', Deployed: 'Deployed', Dispatched: 'Dispatched', StatusReported: 'StatusReported' } as const;
/** Deployed=False with this reason means the broker confirmed cleanup: remove the finalizer. */
export const REASON_CLEANED_UP = 'CleanedUp';
/**
 * Event ids remembered in status.recentEventIds. Redelivery (Kafka at-least-once, a webhook
 * retry, both transports during a Kafka outage) repeats recent events, not old ones; 20
 * covers every event of several generations while keeping status small.
 */
export const RECENT_EVENT_IDS_KEPT = 20;
/**
 * Reports kept in status.brokerReports until the reconciler folds them (the CRDs' maxItems).
 * A healthy controller folds within a reconcile, so the list holds one or two; one that is
 * down for long keeps the newest, which are the ones that decide the status.
 */
export const BROKER_REPORTS_KEPT = 20;
/** 409s come from the controller writing the same status; a few re-reads settle them. */
export const STATUS_CONFLICT_ATTEMPTS = 6;
/** Base delay between 409 retries, doubled each time: the competing write has already landed. */
export const STATUS_CONFLICT_BACKOFF_MS = 25;
/**
 * A DeploymentTarget read (the broker identity an event is checked against) serves the
 * events of the next second: a burst of events for one target then costs one read, not one
 * each. A target edited by hand is obeyed at most this much later.
 */
export const TARGET_CACHE_MS = 1_000;
/**
 * How long the status API waits for the controllers to fold a recorded report before it
 * answers, so a broker's answer (and a reader right after it) sees the status it caused.
 * Well under the reference broker's 10 s status API timeout; past it the answer says
 * `pending: true` and the status follows when the controllers reconcile.
 */
export const STATUS_API_SETTLE_MS = 2_000;
/** First re-read while waiting for the fold, doubled up to STATUS_API_SETTLE_POLL_MAX_MS: a fold takes one watch event and one write. */
export const STATUS_API_SETTLE_POLL_MS = 10;
export const STATUS_API_SETTLE_POLL_MAX_MS = 200;

const HTTP_NOT_FOUND = 404;
const HTTP_CONFLICT = 409;

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface DatabaseConnectionRef {
  database: string;
  name: string;
  namespace: string;
}

/** A verified StatusEvent as recorded on its object (status.brokerReports), awaiting the reconciler. */
export interface BrokerReport {
  eventId: string;
  requestId: string;
  target: string;
  broker: string;
  generation: number;
  phase: ReportedPhase;
  reason: string;
  message?: string;
  permanent?: boolean;
  outputs?: StatusEvent['outputs'];
  reportedAt?: string;
  /** When the recorder accepted it: the time the reconciler writes as lastStatusTime. */
  receivedAt: string;
}

export interface DeployableStatus {
  phase?: 'Pending' | 'Deploying' | 'Ready' | 'Failed' | 'Deleting' | 'Unknown';
  observedGeneration?: number;
  conditions?: Condition[];
  requestId?: string;
  target?: string;
  lastStatusEventId?: string;
  lastStatusTime?: string;
  recentEventIds?: string[];
  brokerReports?: BrokerReport[];
  connectionSecretRef?: { name?: string; namespace?: string };
  databaseConnectionSecretRefs?: DatabaseConnectionRef[];
  /** The failure a broker last reported, while phase is Failed: the controllers re-send non-permanent ones with backoff. */
  failure?: { requestId: string; permanent: boolean };
  [key: string]: unknown;
}

export interface DeployableObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec: { target?: string; environment?: string; dependencies?: { databaseSelector?: { matchLabels?: Record<string, string> } }; [key: string]: unknown };
  status?: DeployableStatus;
}

export interface StatusAuth {
  /** JWT `sub`: the broker identity. */
  identity: string;
  /** Targets the token may update. */
  targets: readonly string[];
}

/**
 * `applied`: recorded on the object (its status follows when the controllers reconcile;
 * over the status API, `pending` says they had not yet when the answer was sent).
 */
export type StatusOutcome =
  | { result: 'applied'; phase: NonNullable<DeployableStatus['phase']>; pending?: true; folded?: true }
  | { result: 'duplicate' }
  | { result: 'stale'; reason: string };

export type RecordDecision = { decision: 'record'; status: DeployableStatus } | { decision: 'duplicate' } | { decision: 'stale'; reason: string };

/** The phase a reported phase puts the object in. */
export const PHASE_OF: Readonly<Record<ReportedPhase, NonNullable<DeployableStatus['phase']>>> = {
  Deploying: 'Deploying',
  Ready: 'Ready',
  Failed: 'Failed',
  // The object still exists (the finalizer holds it) until the controller sees CleanedUp.
  Deleted: 'Deleting',
};

/** What staleness is judged on: the report's object, generation, request and phase. */
export interface ReportSubject {
  uid: string;
  generation: number;
  requestId: string;
  phase: ReportedPhase;
}

/**
 * Why a Deploying or Failed report of an earlier attempt no longer speaks for the object, or
 * undefined: once the controllers re-sent a failed request as attempt n, a late report of
 * attempt n-1 would otherwise put the object back in Failed, where the controllers wait
 * for the broker. A late Ready still applies: the objects it reports exist.
 */
function supersededAttempt(report: ReportSubject, current: string | undefined, uid: string): string | undefined {
  if (current === undefined || report.phase === 'Ready' || report.phase === 'Deleted' || current === report.requestId) return undefined;
  const action = report.requestId.endsWith('-delete') ? 'delete' : 'deploy';
  const reported = parseRequestId(report.requestId, uid, action);
  const sent = parseRequestId(current, uid, action);
  if (!reported || !sent || reported.generation !== sent.generation || reported.attempt >= sent.attempt) return undefined;
  return `event reports attempt ${reported.attempt} (${report.requestId}); attempt ${sent.attempt} (${current}) has been sent since`;
}

/**
 * Why a report no longer speaks for the object as it is, or undefined when it does: another
 * object of the same name, an older generation, a superseded attempt, a deploy report while
 * the object is being deleted. Pure. The recorder asks it before recording; the reconciler
 * asks it again when folding, against the status as it is by then.
 */
/** What staleness is judged against: the object's identity, deletion, and the generation and request its status reflects. */
export interface StaleCheckObject {
  kind: string;
  metadata: { name?: string; namespace?: string; uid?: string; deletionTimestamp?: string };
  status?: { observedGeneration?: number; requestId?: string };
}

export function staleReason(object: StaleCheckObject, report: ReportSubject): string | undefined {
  const status = object.status ?? {};
  if (report.uid !== object.metadata.uid) {
    return `event is for uid ${report.uid}, but ${object.kind} ${object.metadata.namespace}/${object.metadata.name} now has uid ${object.metadata.uid}`;
  }
  if (status.observedGeneration !== undefined && report.generation < status.observedGeneration) {
    return `event is for generation ${report.generation}; status already reflects generation ${status.observedGeneration}`;
  }
  const superseded = supersededAttempt(report, status.requestId, object.metadata.uid ?? '');
  if (superseded) return superseded;
  if (object.metadata.deletionTimestamp && report.phase !== 'Deleted' && !report.requestId.endsWith('-delete')) {
    return `a ${report.phase} report of a deploy request arrived while the object is being deleted`;
  }
  return undefined;
}

/** The report as recorded: the event's facts (its object is the one it is recorded on) and when it arrived. */
export function reportOf(event: StatusEvent, receivedAt: Date): BrokerReport {
  const report: BrokerReport = {
    eventId: event.eventId,
    requestId: event.requestId,
    target: event.target,
    broker: event.broker,
    generation: event.resource.generation,
    phase: event.phase,
    reason: event.reason,
    message: event.message,
    reportedAt: event.reportedAt,
    receivedAt: receivedAt.toISOString(),
  };
  if (event.permanent !== undefined) report.permanent = event.permanent;
  if (event.outputs) report.outputs = event.outputs;
  return report;
}

/**
 * What recording `event` on `object` changes, or why it changes nothing. Pure: the caller
 * has already checked that the event's target may touch this object. Only the recorder's
 * two fields change: the event id joins recentEventIds (so a redelivery is a duplicate from
 * now on) and the report joins brokerReports.
 */
export function recordEvent(object: DeployableObject, event: StatusEvent, now: Date): RecordDecision {
  const status = object.status ?? {};
  const subject = { uid: event.resource.uid, generation: event.resource.generation, requestId: event.requestId, phase: event.phase };
  // Another object's event is stale before it can be anything else: its ids are not this object's.
  if (subject.uid !== object.metadata.uid) return { decision: 'stale', reason: staleReason(object, subject) ?? '' };
  if ((status.recentEventIds ?? []).includes(event.eventId)) return { decision: 'duplicate' };
  const stale = staleReason(object, subject);
  if (stale) return { decision: 'stale', reason: stale };
  return {
    decision: 'record',
    status: {
      ...status,
      recentEventIds: [...(status.recentEventIds ?? []), event.eventId].slice(-RECENT_EVENT_IDS_KEPT),
      brokerReports: [...(status.brokerReports ?? []), reportOf(event, now)].slice(-BROKER_REPORTS_KEPT),
    },
  };
}

export function isCleanedUp(status: { conditions?: Condition[] } | undefined): boolean {
  return (status?.conditions ?? []).some((c) => c.type === CONDITION.Deployed && c.status === 'False' && c.reason === REASON_CLEANED_UP);
}

function isApiError(err: unknown, code: number): boolean {
  return err instanceof ApiException && err.code === code;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Read-modify-write of one object's status subresource with optimistic concurrency:
 * `change` runs against the latest object on every attempt; no `status` means "no write".
 */
async function updateStatus<R>(
  api: CustomObjectsApi,
  ref: { kind: DeployableKind; namespace: string; name: string },
  change: (object: DeployableObject) => { status: DeployableStatus; result: R } | { result: R },
  sleep: (ms: number) => Promise<void>,
  /** The object as just read by the caller: the first attempt starts from it instead of reading again. */
  read?: DeployableObject,
): Promise<{ result: R; object: DeployableObject; written: boolean }> {
  const what = `${ref.kind} ${ref.namespace}/${ref.name}`;
  let lastConflict: unknown;
  for (let attempt = 1; attempt <= STATUS_CONFLICT_ATTEMPTS; attempt++) {
    let object: DeployableObject;
    try {
      object =
        attempt === 1 && read
          ? read
          : ((await api.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ref.namespace, plural: PLURALS[ref.kind], name: ref.name })) as DeployableObject);
    } catch (err) {
      if (isApiError(err, HTTP_NOT_FOUND)) throw new ResourceNotFoundError(what, { cause: err });
      throw err;
    }
    const outcome = change(object);
    if (!('status' in outcome)) return { result: outcome.result, object, written: false };
    try {
      const written = (await api.replaceNamespacedCustomObjectStatus({
        group: GROUP,
        version: VERSION,
        namespace: ref.namespace,
        plural: PLURALS[ref.kind],
        name: ref.name,
        // resourceVersion makes this a compare-and-swap: a concurrent write yields 409.
        body: { ...object, status: outcome.status },
      })) as DeployableObject;
      return { result: outcome.result, object: written, written: true };
    } catch (err) {
      if (isApiError(err, HTTP_NOT_FOUND)) throw new ResourceNotFoundError(what, { cause: err });
      if (!isApiError(err, HTTP_CONFLICT)) throw err;
      lastConflict = err;
      if (attempt < STATUS_CONFLICT_ATTEMPTS) await sleep(STATUS_CONFLICT_BACKOFF_MS * 2 ** (attempt - 1));
    }
  }
  throw new StatusConflictError(what, STATUS_CONFLICT_ATTEMPTS, { cause: lastConflict });
}

/**
 * This process's controllers, when they lead: they take a report in memory, fold it and
 * write status once (controllers/local-reports.ts), resolving true after the write. False
 * (not leading, not taken in time, the write failed) and the handler records it instead.
 */
export type LocalFold = (ref: { kind: DeployableKind; namespace: string; name: string }, report: BrokerReport) => Promise<boolean>;

export interface StatusHandlerOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  metrics?: BrokerMetrics;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  localFold?: LocalFold;
}

export interface StatusHandler {
  /**
   * Records one event on its object. `auth` is present when it came through the status API
   * (the JWT's subject and targets). Throws ForbiddenError (another target's resource),
   * ResourceNotFoundError, StatusConflictError, or the apiserver's error.
   */
  handle(event: StatusEvent, auth?: StatusAuth, transport?: 'kafka' | 'status_api'): Promise<StatusOutcome>;
  /**
   * Waits up to `timeoutMs` for the controllers to fold the recorded `event` into status;
   * false when they had not by then (or could not be asked). Never throws.
   */
  settled(event: StatusEvent, timeoutMs?: number): Promise<boolean>;
  /** The broker identity and keys of a DeploymentTarget (read at most once a TARGET_CACHE_MS), or undefined when it does not exist. */
  targetKeys(name: string): Promise<({ identity?: string } & TargetKeys) | undefined>;
}

interface DeploymentTargetObject {
  metadata: { name: string };
  spec: { environment?: string; default?: boolean; broker?: { identity?: string } & TargetKeys };
}

export function createStatusHandler(options: StatusHandlerOptions): StatusHandler {
  keepConnectionsAlive(options.kubeConfig);
  const api = options.kubeConfig.makeApiClient(CustomObjectsApi);
  const now = options.now ?? (() => new Date());
  const sleep = options.sleep ?? realSleep;
  const { logger } = options;

  const targets = new Map<string, { at: number; target: Promise<DeploymentTargetObject | undefined> }>();

  /** One read per target per TARGET_CACHE_MS, shared by the events handled meanwhile; a failed read is not kept. */
  function getTarget(name: string): Promise<DeploymentTargetObject | undefined> {
    const at = now().getTime();
    const cached = targets.get(name);
    if (cached && at - cached.at < TARGET_CACHE_MS) return cached.target;
    const target = (async () => {
      try {
        return (await api.getClusterCustomObject({ group: GROUP, version: VERSION, plural: 'deploymenttargets', name })) as DeploymentTargetObject;
      } catch (err) {
        if (isApiError(err, HTTP_NOT_FOUND)) return undefined;
        throw err;
      }
    })();
    targets.set(name, { at, target });
    target.catch(() => {
      if (targets.get(name)?.target === target) targets.delete(name);
    });
    return target;
  }

  /**
   * The target this object deploys to: spec.target, else what the controller resolved
   * (status.target), else — before the controller has recorded it — the event's target
   * when that is the default target of the object's environment (the CRD's rule).
   */
  async function checkTarget(object: DeployableObject, event: StatusEvent): Promise<void> {
    const what = `${object.kind} ${object.metadata.namespace}/${object.metadata.name}`;
    const resolved = object.spec.target ?? object.status?.target;
    if (resolved !== undefined) {
      if (resolved !== event.target) throw new ForbiddenError(`${what} deploys to target ${resolved}, not ${event.target}`);
      return;
    }
    const target = await getTarget(event.target);
    const environment = object.spec.environment ?? 'development';
    if (!target?.spec.default || target.spec.environment !== environment) {
      throw new ForbiddenError(`${what} has no resolved target, and ${event.target} is not the default target of environment ${environment}`);
    }
  }

  async function checkBroker(event: StatusEvent): Promise<void> {
    const target = await getTarget(event.target);
    const identity = target?.spec.broker?.identity;
    if (identity !== event.broker) {
      throw new ForbiddenError(target ? `broker ${event.broker} is not the broker of target ${event.target} (${identity ?? 'none'})` : `DeploymentTarget ${event.target} does not exist`);
    }
  }

  const read = async (ref: StatusEvent['resource']): Promise<DeployableObject> => {
    try {
      return (await api.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ref.namespace, plural: PLURALS[ref.kind], name: ref.name })) as DeployableObject;
    } catch (err) {
      if (isApiError(err, HTTP_NOT_FOUND)) throw new ResourceNotFoundError(`${ref.kind} ${ref.namespace}/${ref.name}`, { cause: err });
      throw err;
    }
  };

  return {
    async targetKeys(name) {
      const target = await getTarget(name);
      return target ? { ...(target.spec.broker ?? {}) } : undefined;
    },
    async settled(event, timeoutMs = STATUS_API_SETTLE_MS) {
      const deadline = now().getTime() + timeoutMs;
      let delay = STATUS_API_SETTLE_POLL_MS;
      for (;;) {
        try {
          const object = await read(event.resource);
          if (object.metadata.uid !== event.resource.uid) return true;
          if (!(object.status?.brokerReports ?? []).some((r) => r.eventId === event.eventId)) return true;
        } catch {
          // Gone (nothing left to fold) or unreachable (nothing to say): the record stands either way.
          return false;
        }
        if (now().getTime() + delay > deadline) return false;
        await sleep(delay);
        delay = Math.min(delay * 2, STATUS_API_SETTLE_POLL_MAX_MS);
      }
    },
    async handle(event, auth, transport) {
      const via = transport ?? (auth ? 'status_api' : 'kafka');
      const started = performance.now();
      const ref = event.resource;
      const log = logger.child({ key: `${ref.namespace}/${ref.name}`, kind: ref.kind, eventId: event.eventId, requestId: event.requestId });
      if (auth) {
        // The status API has already verified the token against the target's key; these
        // checks bind the event's own claims to the token's.
        if (auth.identity !== event.broker) throw new ForbiddenError(`token subject ${auth.identity} may not report as broker ${event.broker}`);
        if (!auth.targets.includes(event.target)) throw new ForbiddenError(`token of ${auth.identity} does not name target ${event.target}`);
      }
      try {
        // The target check needs the object (and maybe a DeploymentTarget); the target of
        // an object never changes once set, so checking the first read is enough.
        const object = await read(ref);
        await checkTarget(object, event);
        // Over the status API the token already bound the broker to the target; over Kafka
        // the event's own claim is checked against the DeploymentTarget.
        if (!auth) await checkBroker(event);
        // One write instead of two when this process's controllers lead: the reconciler
        // folds the report and records its event id in the same status write.
        if (options.localFold && recordEvent(object, event, now()).decision === 'record') {
          if (await options.localFold({ kind: ref.kind, namespace: ref.namespace, name: ref.name }, reportOf(event, now()))) {
            log.info({ outcome: 'applied', phase: event.phase }, 'status event folded by this replica\'s reconciler');
            options.metrics?.observe('status_apply', via, (performance.now() - started) / 1000);
            return { result: 'applied', phase: PHASE_OF[event.phase], folded: true };
          }
        }
        const { result } = await updateStatus<StatusOutcome>(
          api,
          ref,
          (latest) => {
            const d = recordEvent(latest, event, now());
            if (d.decision === 'duplicate') return { result: { result: 'duplicate' } };
            if (d.decision === 'stale') return { result: { result: 'stale', reason: d.reason } };
            return { status: d.status, result: { result: 'applied', phase: PHASE_OF[event.phase] } };
          },
          sleep,
          object,
        );
        log.info({ outcome: result.result, phase: event.phase, ...(result.result === 'stale' ? { why: result.reason } : {}) }, 'status event recorded');
        options.metrics?.observe('status_apply', via, (performance.now() - started) / 1000);
        return result;
      } catch (err) {
        options.metrics?.error('status_apply', via, (err as { code?: string }).code ?? 'error');
        throw err;
      }
    },
  };
}
