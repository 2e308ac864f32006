// The one place a broker's StatusEvent becomes custom-resource status (DESIGN.md §3, §5).
// The status API (after JWT verification) and the status-topic consumer both call
// `handle`; neither writes status itself. Deciding what the new status is stays a pure
// function (`statusAfterEvent`); this file's I/O is read, write with resourceVersion,
// retry on 409, emit an Event.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ApiException, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { keepConnectionsAlive } from '../kube/connections.js';
import { DEPLOYABLE_PLURALS, PLATFORM_GROUP, PLATFORM_VERSION } from '../crds/registry.js';
import { parseRequestId } from './protocol.js';
import type { DeployableKind, StatusEvent } from './contract.js';
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

export interface DeployableStatus {
  phase?: 'Pending' | 'Deploying' | 'Ready' | 'Failed' | 'Deleting' | 'Unknown';
  observedGeneration?: number;
  conditions?: Condition[];
  requestId?: string;
  target?: string;
  lastStatusEventId?: string;
  lastStatusTime?: string;
  recentEventIds?: string[];
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

export type StatusOutcome =
  | { result: 'applied'; phase: NonNullable<DeployableStatus['phase']> }
  | { result: 'duplicate' }
  | { result: 'stale'; reason: string };

export type StatusDecision = { decision: 'apply'; status: DeployableStatus } | { decision: 'duplicate' } | { decision: 'stale'; reason: string };

/** Sets a condition the metav1 way: lastTransitionTime moves only when status changes. */
export function setCondition(conditions: readonly Condition[], next: Omit<Condition, 'lastTransitionTime'>, now: Date): Condition[] {
  const existing = conditions.find((c) => c.type === next.type);
  const lastTransitionTime = existing && existing.status === next.status ? existing.lastTransitionTime : now.toISOString();
  const updated: Condition = { ...next, lastTransitionTime };
  return existing ? conditions.map((c) => (c.type === next.type ? updated : c)) : [...conditions, updated];
}

const PHASE_OF: Record<StatusEvent['phase'], NonNullable<DeployableStatus['phase']>> = {
  Deploying: 'Deploying',
  Ready: 'Ready',
  Failed: 'Failed',
  // The object still exists (the finalizer holds it) until the controller sees CleanedUp.
  Deleted: 'Deleting',
};

/**
 * Why a Deploying or Failed report of an earlier attempt no longer speaks for the object, or
 * undefined: once the controllers re-sent a failed request as attempt n, a late report of
 * attempt n-1 would otherwise put the object back in Failed, where the controllers wait
 * for the broker. A late Ready still applies: the objects it reports exist.
 */
function supersededAttempt(event: StatusEvent, current: string | undefined, uid: string): string | undefined {
  if (current === undefined || event.phase === 'Ready' || event.phase === 'Deleted' || current === event.requestId) return undefined;
  const action = event.requestId.endsWith('-delete') ? 'delete' : 'deploy';
  const reported = parseRequestId(event.requestId, uid, action);
  const sent = parseRequestId(current, uid, action);
  if (!reported || !sent || reported.generation !== sent.generation || reported.attempt >= sent.attempt) return undefined;
  return `event reports attempt ${reported.attempt} (${event.requestId}); attempt ${sent.attempt} (${current}) has been sent since`;
}

/**
 * What the object's status becomes after `event`, or why the event changes nothing.
 * Pure: the caller has already checked that the event's target may touch this object.
 */
export function statusAfterEvent(object: DeployableObject, event: StatusEvent, now: Date): StatusDecision {
  const status = object.status ?? {};
  if (event.resource.uid !== object.metadata.uid) {
    return { decision: 'stale', reason: `event is for uid ${event.resource.uid}, but ${object.kind} ${object.metadata.namespace}/${object.metadata.name} now has uid ${object.metadata.uid}` };
  }
  if ((status.recentEventIds ?? []).includes(event.eventId)) return { decision: 'duplicate' };
  if (status.observedGeneration !== undefined && event.resource.generation < status.observedGeneration) {
    return { decision: 'stale', reason: `event is for generation ${event.resource.generation}; status already reflects generation ${status.observedGeneration}` };
  }
  const superseded = supersededAttempt(event, status.requestId, object.metadata.uid);
  if (superseded) return { decision: 'stale', reason: superseded };
  if (object.metadata.deletionTimestamp && event.phase !== 'Deleted' && !event.requestId.endsWith('-delete')) {
    return { decision: 'stale', reason: `a ${event.phase} report of a deploy request arrived while the object is being deleted` };
  }
  const generation = event.resource.generation;
  const by = `broker ${event.broker} on target ${event.target}, request ${event.requestId}`;
  let conditions = status.conditions ?? [];
  const detail = event.message || event.reason;
  switch (event.phase) {
    case 'Deploying':
      conditions = setCondition(conditions, { type: CONDITION.Deployed, status: 'Unknown', reason: event.reason, message: `${detail} (${by})`, observedGeneration: generation }, now);
      conditions = setCondition(conditions, { type: CONDITION.Ready, status: 'False', reason: event.reason, message: `deploying: ${detail}`, observedGeneration: generation }, now);
      break;
    case 'Ready':
      conditions = setCondition(conditions, { type: CONDITION.Deployed, status: 'True', reason: event.reason, message: `${detail} (${by})`, observedGeneration: generation }, now);
      conditions = setCondition(conditions, { type: CONDITION.Ready, status: 'True', reason: event.reason, message: detail, observedGeneration: generation }, now);
      break;
    case 'Failed': {
      const kind = event.permanent ? 'permanent failure, not retried' : 'failure';
      conditions = setCondition(conditions, { type: CONDITION.Deployed, status: 'False', reason: event.reason, message: `${kind}: ${detail} (${by})`, observedGeneration: generation }, now);
      conditions = setCondition(conditions, { type: CONDITION.Ready, status: 'False', reason: event.reason, message: `${kind}: ${detail}`, observedGeneration: generation }, now);
      break;
    }
    case 'Deleted':
      conditions = setCondition(conditions, { type: CONDITION.Deployed, status: 'False', reason: REASON_CLEANED_UP, message: `${detail} (${by})`, observedGeneration: generation }, now);
      conditions = setCondition(conditions, { type: CONDITION.Ready, status: 'False', reason: REASON_CLEANED_UP, message: 'removed from the target', observedGeneration: generation }, now);
      break;
  }
  conditions = setCondition(
    conditions,
    { type: CONDITION.StatusReported, status: 'True', reason: 'StatusEventApplied', message: `${event.phase} from ${by} (event ${event.eventId})`, observedGeneration: generation },
    now,
  );
  const next: DeployableStatus = {
    ...status,
    phase: PHASE_OF[event.phase],
    observedGeneration: generation,
    conditions,
    lastStatusEventId: event.eventId,
    lastStatusTime: now.toISOString(),
    recentEventIds: [...(status.recentEventIds ?? []), event.eventId].slice(-RECENT_EVENT_IDS_KEPT),
  };
  // Machine-readable for the controllers' retry (controllers/deployable.ts); any other phase ends the failure.
  if (event.phase === 'Failed') next.failure = { requestId: event.requestId, permanent: event.permanent === true };
  else delete next.failure;
  if (object.kind === 'Database' || object.kind === 'Cache') {
    if (event.phase === 'Deleted') delete next.connectionSecretRef;
    else if (event.outputs?.connectionSecretRef) next.connectionSecretRef = { ...event.outputs.connectionSecretRef };
  }
  // Issue 15: a broker's backup report (postgresql provider) is recorded as it came.
  if (object.kind === 'Database' && event.outputs?.backup) next.backup = { ...event.outputs.backup };
  return { decision: 'apply', status: next };
}

export function isCleanedUp(status: { conditions?: Condition[] } | undefined): boolean {
  return (status?.conditions ?? []).some((c) => c.type === CONDITION.Deployed && c.status === 'False' && c.reason === REASON_CLEANED_UP);
}

/** matchLabels semantics of metav1.LabelSelector: an empty selector matches everything. */
function matches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/**
 * The connection Secret refs a Service should list: Ready Databases in its namespace that
 * its `spec.dependencies.databaseSelector` matches and that have a secret. Undefined when
 * the Service declares no selector (its status field is then left alone). Sorted by name.
 */
export function databaseConnectionRefsFor(service: DeployableObject, databases: readonly DeployableObject[]): DatabaseConnectionRef[] | undefined {
  const selector = service.spec.dependencies?.databaseSelector;
  if (!selector) return undefined;
  return databases
    .filter((db) => db.metadata.namespace === service.metadata.namespace && !db.metadata.deletionTimestamp)
    .filter((db) => db.status?.phase === 'Ready' && db.status.connectionSecretRef?.name && db.status.connectionSecretRef.namespace)
    .filter((db) => matches(selector.matchLabels ?? {}, db.metadata.labels))
    .map((db) => ({ database: db.metadata.name, name: db.status?.connectionSecretRef?.name ?? '', namespace: db.status?.connectionSecretRef?.namespace ?? '' }))
    .sort((a, b) => (a.database < b.database ? -1 : a.database > b.database ? 1 : 0));
}

function isApiError(err: unknown, code: number): boolean {
  return err instanceof ApiException && err.code === code;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface StatusWriterOptions {
  kubeConfig: KubeConfig;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Read-modify-write of one object's status subresource with optimistic concurrency:
 * `change` runs against the latest object on every attempt; undefined means "no write".
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

function sameRefs(a: readonly DatabaseConnectionRef[] | undefined, b: readonly DatabaseConnectionRef[]): boolean {
  return JSON.stringify(a ?? []) === JSON.stringify(b);
}

/**
 * Recomputes status.databaseConnectionSecretRefs of the Services in `namespace` (or of the
 * one named `service`) from the Databases there. The status handler calls it when a
 * Database becomes Ready or is cleaned up; the Service reconciler can call it too.
 * Returns the Services whose status changed.
 */
export async function syncDatabaseConnectionRefs(options: StatusWriterOptions & { namespace: string; service?: string }): Promise<string[]> {
  const api = options.kubeConfig.makeApiClient(CustomObjectsApi);
  const sleep = options.sleep ?? realSleep;
  const list = async (plural: string) =>
    ((await api.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: options.namespace, plural })) as { items: DeployableObject[] }).items;
  const databases = await list('databases');
  const services = (await list('services')).filter((s) => options.service === undefined || s.metadata.name === options.service);
  const changed: string[] = [];
  for (const service of services) {
    if (!service.spec.dependencies?.databaseSelector) continue;
    const { written } = await updateStatus(
      api,
      { kind: 'Service', namespace: options.namespace, name: service.metadata.name },
      (latest) => {
        const refs = databaseConnectionRefsFor(latest, databases);
        if (refs === undefined || sameRefs(latest.status?.databaseConnectionSecretRefs, refs)) return { result: undefined };
        return { status: { ...(latest.status ?? {}), databaseConnectionSecretRefs: refs }, result: undefined };
      },
      sleep,
    );
    if (written) changed.push(service.metadata.name);
  }
  return changed;
}

export interface StatusHandlerOptions extends StatusWriterOptions {
  logger: Logger;
  metrics?: BrokerMetrics;
  /** `reportingInstance` of the Events written; defaults to the host name. */
  instance?: string;
}

export interface StatusHandler {
  /**
   * Applies one event. `auth` is present when it came through the status API (the JWT's
   * subject and targets). Throws ForbiddenError (another target's resource),
   * ResourceNotFoundError, StatusConflictError, or the apiserver's error.
   */
  handle(event: StatusEvent, auth?: StatusAuth, transport?: 'kafka' | 'status_api'): Promise<StatusOutcome>;
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
  const core = options.kubeConfig.makeApiClient(CoreV1Api);
  const now = options.now ?? (() => new Date());
  const sleep = options.sleep ?? realSleep;
  const instance = options.instance ?? hostname();
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

  async function emitEvent(object: DeployableObject, event: StatusEvent): Promise<void> {
    const at = now().toISOString();
    try {
      await core.createNamespacedEvent({
        namespace: object.metadata.namespace,
        body: {
          metadata: { name: `${object.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: object.metadata.namespace },
          involvedObject: {
            apiVersion: object.apiVersion,
            kind: object.kind,
            name: object.metadata.name,
            namespace: object.metadata.namespace,
            uid: object.metadata.uid,
            resourceVersion: object.metadata.resourceVersion,
          },
          reason: event.phase === 'Deleted' ? REASON_CLEANED_UP : event.reason,
          message: `${event.phase}: ${event.message || event.reason} (broker ${event.broker}, target ${event.target}, request ${event.requestId})`,
          type: event.phase === 'Failed' ? 'Warning' : 'Normal',
          source: { component: 'kidp-status-handler' },
          reportingComponent: 'platform.kidp.io/status-handler',
          reportingInstance: instance,
          firstTimestamp: at as unknown as Date,
          lastTimestamp: at as unknown as Date,
          count: 1,
        },
      });
    } catch (err) {
      // The status is already written; an Event is a notification, not the record.
      logger.warn({ err: (err as Error).message, resource: `${object.metadata.namespace}/${object.metadata.name}` }, 'could not emit Event');
    }
  }

  return {
    async targetKeys(name) {
      const target = await getTarget(name);
      return target ? { ...(target.spec.broker ?? {}) } : undefined;
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
        let object: DeployableObject;
        try {
          object = (await api.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ref.namespace, plural: PLURALS[ref.kind], name: ref.name })) as DeployableObject;
        } catch (err) {
          if (isApiError(err, HTTP_NOT_FOUND)) throw new ResourceNotFoundError(`${ref.kind} ${ref.namespace}/${ref.name}`, { cause: err });
          throw err;
        }
        await checkTarget(object, event);
        // Over the status API the token already bound the broker to the target; over Kafka
        // the event's own claim is checked against the DeploymentTarget.
        if (!auth) await checkBroker(event);
        const update = await updateStatus<StatusOutcome>(
          api,
          ref,
          (latest) => {
            const d = statusAfterEvent(latest, event, now());
            if (d.decision === 'duplicate') return { result: { result: 'duplicate' } };
            if (d.decision === 'stale') return { result: { result: 'stale', reason: d.reason } };
            return { status: d.status, result: { result: 'applied', phase: d.status.phase ?? 'Unknown' } };
          },
          sleep,
          object,
        );
        const { result, written } = update;
        object = update.object;
        if (written) {
          await emitEvent(object, event);
          if (ref.kind === 'Database' && (event.phase === 'Ready' || event.phase === 'Deleted' || event.phase === 'Failed')) {
            await syncDatabaseConnectionRefs({ kubeConfig: options.kubeConfig, namespace: ref.namespace, sleep }).catch((err: unknown) =>
              log.warn({ err: (err as Error).message }, 'could not update the connection refs of dependent Services'),
            );
          }
        }
        log.info({ outcome: result.result, phase: event.phase, ...(result.result === 'stale' ? { why: result.reason } : {}) }, 'status event handled');
        options.metrics?.observe('status_apply', via, (performance.now() - started) / 1000);
        return result;
      } catch (err) {
        options.metrics?.error('status_apply', via, (err as { code?: string }).code ?? 'error');
        throw err;
      }
    },
  };
}
