// The reconciler of the deployable kinds (Service, Database, Cache, Topic): a pure function
// from the object, the DeploymentTargets and the time to the actions that move it along
// DESIGN §3 (outbox pattern). It is the one writer of their computed status: it first folds
// the broker reports the status API and the status consumer recorded (broker-reports.ts:
// Ready, Deployed, StatusReported, lastStatus*, failure, connection refs), then, from that,
// owns Dispatched, the phases Pending/Deploying/Unknown/Deleting, the cleanup finalizer and
// the Events of its transitions.
import { parseRequestId, PROTOCOL_VERSION, requestIdFor, type BrokerReport, type DeploymentRequest, type TargetRef } from '../brokers/index.js';
import { CLEANUP_FINALIZER, DEPLOYABLE_PLURALS, PLATFORM_API_VERSION, type DeployableResource } from '../crds/registry.js';
import type { DeploymentTarget } from '../crds/types.js';
import type { Action, ObjectRef } from './actions.js';
import { backoffDelay, findCondition, sameJson, seededFraction, setCondition, type Condition } from '../kube/index.js';
import { BROKER_RETRY_BACKOFF } from './backoff.js';
import { foldReports } from './broker-reports.js';

export { CLEANUP_FINALIZER };

export type Deployable = DeployableResource;
export type Phase = 'Pending' | 'Deploying' | 'Ready' | 'Failed' | 'Deleting' | 'Unknown';

export interface DeployableInput {
  object: Deployable;
  targets: readonly DeploymentTarget[];
  now: Date;
  /** After a dispatch, how long to wait for a broker status event before phase Unknown. */
  statusTimeoutMs: number;
  /** The Databases of the object's namespace, for a Service's connection refs (broker-reports.ts). */
  databases?: readonly Deployable[];
  /** Reports handed over in memory by this replica's status handler (local-reports.ts), folded after the recorded ones. */
  pendingReports?: readonly BrokerReport[];
}

type Status = NonNullable<Deployable['status']>;

// Request ids are the brokers' protocol (brokers/protocol.ts): deterministic from uid and
// generation, so a re-send after a crash is the same request; attempt n > 1 re-sends a
// request a broker reported as failed, not permanently.
export { parseRequestId, requestIdFor };

export function refOf(obj: Deployable): ObjectRef {
  return { apiVersion: PLATFORM_API_VERSION, kind: obj.kind, plural: DEPLOYABLE_PLURALS[obj.kind], namespace: obj.metadata.namespace ?? '', name: obj.metadata.name ?? '', uid: obj.metadata.uid ?? '' };
}

export type TargetResolution = { target: DeploymentTarget } | { reason: 'NoDeploymentTarget' | 'AmbiguousDeploymentTarget' | 'TargetEnvironmentMismatch'; message: string };

/**
 * spec.target by name, when it serves the resource's environment (admission checks that
 * too; this catches objects admitted before it did, issue 11); else the one
 * `default: true` target of the resource's environment.
 */
export function resolveTarget(obj: Deployable, targets: readonly DeploymentTarget[]): TargetResolution {
  const named = obj.spec.target;
  const environment = obj.spec.environment ?? 'development';
  if (named) {
    const target = targets.find((t) => t.metadata.name === named);
    if (!target) return { reason: 'NoDeploymentTarget', message: `DeploymentTarget ${named} (spec.target) does not exist; create it or change spec.target` };
    if (target.spec.environment !== environment) {
      return { reason: 'TargetEnvironmentMismatch', message: `DeploymentTarget ${named} (spec.target) serves environment ${target.spec.environment}, not ${environment}; nothing was sent: name a target of ${environment}` };
    }
    return { target };
  }
  const defaults = targets.filter((t) => t.spec.default === true && t.spec.environment === environment);
  if (defaults.length === 1 && defaults[0]) return { target: defaults[0] };
  if (defaults.length === 0) {
    return { reason: 'NoDeploymentTarget', message: `no spec.target and no DeploymentTarget marked default for environment ${environment}; set spec.target or mark one default` };
  }
  const names = defaults.map((t) => t.metadata.name).sort();
  return { reason: 'AmbiguousDeploymentTarget', message: `no spec.target and ${names.length} DeploymentTargets are default for environment ${environment} (${names.join(', ')}); set spec.target or keep one default` };
}

function targetRef(t: DeploymentTarget): TargetRef {
  const ref: TargetRef = { name: t.metadata.name ?? '', identity: t.spec.broker.identity, provider: t.spec.provider, environment: t.spec.environment };
  if (t.spec.region) ref.region = t.spec.region;
  if (t.spec.namespace) ref.namespace = t.spec.namespace;
  return ref;
}

export function buildRequest(obj: Deployable, target: DeploymentTarget, action: 'deploy' | 'delete', now: Date, attempt = 1): DeploymentRequest {
  const generation = obj.metadata.generation ?? 1;
  const uid = obj.metadata.uid ?? '';
  return {
    apiVersion: PROTOCOL_VERSION,
    kind: 'DeploymentRequest',
    requestId: requestIdFor(uid, generation, action, attempt),
    action,
    target: targetRef(target),
    resource: {
      kind: obj.kind,
      namespace: obj.metadata.namespace ?? '',
      name: obj.metadata.name ?? '',
      uid,
      generation,
      labels: obj.metadata.labels ?? {},
      spec: obj.spec as unknown as Record<string, unknown>,
    },
    issuedAt: now.toISOString(),
  };
}

/** The message of Dispatched=True; its first words name the request, which is how a recorded dispatch is recognised. */
export function dispatchedMessage(requestId: string, identity: string, transport: string): string {
  return `request ${requestId} sent to broker ${identity} via ${transport}`;
}

/** The Dispatched condition when it records `requestId` as sent. */
function recordedDispatch(status: Status, requestId: string): Condition | undefined {
  const c = findCondition(status.conditions as Condition[] | undefined, 'Dispatched');
  return c && c.status === 'True' && status.requestId === requestId && c.message.startsWith(`request ${requestId} `) ? c : undefined;
}

function phaseEvent(obj: Deployable, from: string | undefined, to: Phase, detail: string): Action[] {
  if (from === to) return [];
  const warning = to === 'Failed' || to === 'Unknown';
  return [{ type: 'event', ref: refOf(obj), eventType: warning ? 'Warning' : 'Normal', reason: to, message: `phase ${from ?? 'none'} -> ${to}: ${detail}` }];
}

function statusWrite(obj: Deployable, next: Status): Action[] {
  if (sameJson(obj.status ?? {}, next)) return [];
  return [{ type: 'status', ref: refOf(obj), resourceVersion: obj.metadata.resourceVersion ?? '', status: next as Record<string, unknown> }];
}

/** Terminal: the resource cannot go anywhere until its spec or the targets change. */
function failed(obj: Deployable, now: Date, reason: string, message: string, dispatchedReason?: string): Action[] {
  const status: Status = { ...(obj.status ?? {}) };
  const generation = obj.metadata.generation ?? 1;
  let conditions = setCondition(status.conditions as Condition[] | undefined, { type: 'Ready', status: 'False', observedGeneration: generation, reason, message }, now);
  if (dispatchedReason) conditions = setCondition(conditions, { type: 'Dispatched', status: 'False', observedGeneration: generation, reason: dispatchedReason, message }, now);
  const next: Status = { ...status, phase: 'Failed', observedGeneration: generation, conditions };
  return [...statusWrite(obj, next), ...phaseEvent(obj, status.phase, 'Failed', message)];
}

function dispatch(input: DeployableInput, target: DeploymentTarget, action: 'deploy' | 'delete', attempt = 1): Action[] {
  const { object: obj, now } = input;
  const request = buildRequest(obj, target, action, now, attempt);
  const status: Status = obj.status ?? {};
  const generation = obj.metadata.generation ?? 1;
  const transport = target.spec.broker.transport ?? 'kafka';
  const dispatchTarget: { transport: 'kafka' | 'webhook'; webhookURL?: string } = { transport };
  if (target.spec.broker.webhookURL) dispatchTarget.webhookURL = target.spec.broker.webhookURL;
  return [
    {
      type: 'dispatch',
      request,
      target: dispatchTarget,
      sent: (used) => {
        // A report on this very request may already be folded in (a fast broker beat this
        // write): its phase stands. A failure reported on an earlier attempt is
        // what this request retries, so it does not.
        const earlierFailure = status.failure !== undefined && status.failure.requestId !== request.requestId;
        const reported =
          action === 'deploy' && reportedOnGeneration(status, generation) && (status.phase === 'Ready' || status.phase === 'Deploying' || (status.phase === 'Failed' && !earlierFailure));
        const phase: Phase = action === 'delete' ? 'Deleting' : reported ? (status.phase as Phase) : 'Deploying';
        const message = dispatchedMessage(request.requestId, target.spec.broker.identity, used) + (attempt > 1 ? ` (attempt ${attempt}, after a failure the broker reported)` : '');
        const { failure: _retried, ...rest } = status;
        const next: Status = {
          ...(earlierFailure ? rest : status),
          phase,
          observedGeneration: generation,
          requestId: request.requestId,
          target: target.metadata.name ?? '',
          conditions: setCondition(status.conditions as Condition[] | undefined, { type: 'Dispatched', status: 'True', observedGeneration: generation, reason: 'RequestSent', message }, now, true),
        };
        return [...statusWrite(obj, next), ...phaseEvent(obj, status.phase, phase, message), { type: 'requeue', ms: input.statusTimeoutMs }];
      },
      failed: (failure) => {
        if (failure.permanent) return failed(obj, now, 'DispatchRejected', `request ${request.requestId} was rejected: ${failure.message}`, 'DispatchRejected');
        const message = `request ${request.requestId} could not be sent yet (retrying): ${failure.message}`;
        const phase: Phase = action === 'delete' ? 'Deleting' : 'Pending';
        const next: Status = {
          ...status,
          phase,
          observedGeneration: generation,
          conditions: setCondition(status.conditions as Condition[] | undefined, { type: 'Dispatched', status: 'False', observedGeneration: generation, reason: 'DispatchFailed', message }, now),
        };
        return [...statusWrite(obj, next), ...phaseEvent(obj, status.phase, phase, message)];
      },
    },
  ];
}

/**
 * A broker report of this generation has been folded in. Deploy request ids are
 * uid + generation, so for a deploy this is "the broker reported on this request"; the
 * fold does not write status.requestId, hence the generation.
 */
function reportedOnGeneration(status: Status, generation: number): boolean {
  const c = findCondition(status.conditions as Condition[] | undefined, 'StatusReported');
  return c?.status === 'True' && c.observedGeneration === generation;
}

/**
 * A broker reported the recorded request (or a later attempt of it) as failed, not
 * permanently: re-send it as the next attempt once its backoff has passed since the report
 * (BROKER_RETRY_BACKOFF; the jitter is seeded by the uid and attempt, so every replica and
 * a restarted controller agree). Undefined when there is no such failure: a permanent one
 * stays Failed, and one of an older attempt waits for the newer one's report.
 */
function retryAfterFailure(input: DeployableInput, action: 'deploy' | 'delete', recorded: { generation: number; attempt: number }): Action[] | undefined {
  const { object: obj, now } = input;
  const status: Status = obj.status ?? {};
  const { failure } = status;
  if (status.phase !== 'Failed' || !failure || failure.permanent) return undefined;
  const uid = obj.metadata.uid ?? '';
  const reported = parseRequestId(failure.requestId, uid, action);
  if (!reported || reported.generation !== recorded.generation || reported.attempt < recorded.attempt) return undefined;
  const delay = backoffDelay(reported.attempt, () => seededFraction(`${uid}/${reported.attempt}`), BROKER_RETRY_BACKOFF);
  const reportedAt = status.lastStatusTime ? Date.parse(status.lastStatusTime) : now.getTime();
  const wait = reportedAt + delay - now.getTime();
  if (wait > 0) return [{ type: 'requeue', ms: wait }];
  // Deletes go where the deployment was; a deploy follows the target as it is now.
  const recordedTarget = action === 'delete' && status.target ? input.targets.find((t) => t.metadata.name === status.target) : undefined;
  const resolution = recordedTarget ? { target: recordedTarget } : resolveTarget(obj, input.targets);
  if (!('target' in resolution)) return failed(obj, now, resolution.reason, resolution.message);
  // A delete of an older generation is retried as the current generation's first delete.
  const attempt = reported.generation === (obj.metadata.generation ?? 1) ? reported.attempt + 1 : 1;
  return dispatch(input, resolution.target, action, attempt);
}

/** Waiting for the broker: Unknown once the status timeout passes without a status event. */
function awaitStatus(input: DeployableInput, sent: Condition): Action[] {
  const { object: obj, now, statusTimeoutMs } = input;
  const status: Status = obj.status ?? {};
  if (status.phase !== 'Deploying' && status.phase !== 'Deleting') return [];
  const sentAt = Date.parse(sent.lastTransitionTime);
  // Second precision on both sides: an event in the same second as the dispatch counts.
  if (status.lastStatusTime && Date.parse(status.lastStatusTime) >= sentAt) return [];
  if (status.phase === 'Deploying' && reportedOnGeneration(status, obj.metadata.generation ?? 1)) return [];
  const waited = now.getTime() - sentAt;
  if (waited < statusTimeoutMs) return [{ type: 'requeue', ms: statusTimeoutMs - waited }];
  const message = `no status event for request ${status.requestId} within ${Math.round(statusTimeoutMs / 1000)} s of dispatch; check broker ${status.target ?? ''} is running`;
  const generation = obj.metadata.generation ?? 1;
  const next: Status = {
    ...status,
    phase: 'Unknown',
    conditions: setCondition(status.conditions as Condition[] | undefined, { type: 'StatusReported', status: 'False', observedGeneration: generation, reason: 'NoStatusReported', message }, now),
  };
  return [...statusWrite(obj, next), ...phaseEvent(obj, status.phase, 'Unknown', message)];
}

function withoutFinalizer(obj: Deployable): Action[] {
  return [{ type: 'finalizers', ref: refOf(obj), resourceVersion: obj.metadata.resourceVersion ?? '', finalizers: (obj.metadata.finalizers ?? []).filter((f) => f !== CLEANUP_FINALIZER) }];
}

function reconcileDeletion(input: DeployableInput): Action[] {
  const { object: obj } = input;
  if (!(obj.metadata.finalizers ?? []).includes(CLEANUP_FINALIZER)) return [];
  const status: Status = obj.status ?? {};
  const conditions = status.conditions as Condition[] | undefined;
  // Any trace of a broker having seen a request counts: a crash between dispatch and the
  // Dispatched record can leave only the broker's report behind.
  const everDispatched =
    status.requestId !== undefined || findCondition(conditions, 'Dispatched')?.status === 'True' || findCondition(conditions, 'StatusReported') !== undefined || findCondition(conditions, 'Deployed') !== undefined;
  if (!everDispatched) return withoutFinalizer(obj);
  const deployed = findCondition(conditions, 'Deployed');
  if (deployed?.status === 'False' && deployed.reason === 'CleanedUp') return withoutFinalizer(obj);
  const deleteId = requestIdFor(obj.metadata.uid ?? '', obj.metadata.generation ?? 1, 'delete');
  // A delete already sent (for any generation: the spec may change while terminating) is awaited, not re-sent.
  const sent = status.requestId?.endsWith('-delete') ? recordedDispatch(status, status.requestId) : undefined;
  const sentDelete = sent && status.requestId ? parseRequestId(status.requestId, obj.metadata.uid ?? '', 'delete') : undefined;
  if (sent) return (sentDelete && retryAfterFailure(input, 'delete', sentDelete)) || awaitStatus(input, sent);
  // Clean up where it was deployed, even if spec.target has changed since.
  const recorded = status.target ? input.targets.find((t) => t.metadata.name === status.target) : undefined;
  const resolution = recorded ? { target: recorded } : resolveTarget(obj, input.targets);
  if (!('target' in resolution)) {
    return failed(obj, input.now, resolution.reason, `cannot send cleanup request ${deleteId}: ${resolution.message}; remove finalizer ${CLEANUP_FINALIZER} by hand once the deployment is gone`);
  }
  return dispatch(input, resolution.target, 'delete');
}

/**
 * Folds the recorded broker reports first (one status write when they change anything),
 * then decides the outbox's next step from the folded object. The outbox's own writes
 * carry the same resourceVersion; the applier moves them past the fold's write
 * (apply.ts), which this same computation made.
 */
export function reconcileDeployable(input: DeployableInput): Action[] {
  const { object: original } = input;
  // Deleted and released: nothing is left to record or to send.
  if (original.metadata.deletionTimestamp && !(original.metadata.finalizers ?? []).includes(CLEANUP_FINALIZER)) return [];
  const observed = reconcileReports(input);
  return [...observed.actions, ...reconcileOutbox({ ...input, object: observed.object })];
}

/**
 * The fold step alone: the status write (when it changes anything) and the Events of the
 * recorded broker reports, and the object as they leave it. reconcileDeployable runs it
 * first; test/brokers.e2e.test.ts runs it without the outbox, where no controller dispatches.
 */
export function reconcileReports(input: Omit<DeployableInput, 'targets' | 'statusTimeoutMs'>): { actions: Action[]; object: Deployable } {
  const { object: original } = input;
  const folded = foldReports({ ...input, ...(input.pendingReports ? { pending: input.pendingReports } : {}) }, refOf(original));
  const unchanged = sameJson(original.status ?? {}, folded.status);
  const object: Deployable = unchanged ? original : ({ ...original, status: folded.status } as Deployable);
  return { actions: [...statusWrite(original, folded.status), ...folded.events], object };
}

function reconcileOutbox(input: DeployableInput): Action[] {
  const { object: obj, now } = input;
  if (obj.metadata.deletionTimestamp) return reconcileDeletion(input);
  const finalizers = obj.metadata.finalizers ?? [];
  // Before anything is sent: a delete must never find a deployment without its finalizer.
  if (!finalizers.includes(CLEANUP_FINALIZER)) {
    return [{ type: 'finalizers', ref: refOf(obj), resourceVersion: obj.metadata.resourceVersion ?? '', finalizers: [...finalizers, CLEANUP_FINALIZER] }];
  }
  const status: Status = obj.status ?? {};
  const generation = obj.metadata.generation ?? 1;
  // The recorded request of this generation, whichever attempt it was.
  const recorded = status.requestId ? parseRequestId(status.requestId, obj.metadata.uid ?? '', 'deploy') : undefined;
  const sent = recorded?.generation === generation && status.requestId ? recordedDispatch(status, status.requestId) : undefined;
  if (sent && recorded) return retryAfterFailure(input, 'deploy', recorded) ?? awaitStatus(input, sent);
  // A permanent failure of this generation is final until the spec changes.
  const dispatched = findCondition(status.conditions as Condition[] | undefined, 'Dispatched');
  if (status.phase === 'Failed' && status.observedGeneration === generation && dispatched?.status === 'False' && dispatched.reason === 'DispatchRejected') return [];
  const resolution = resolveTarget(obj, input.targets);
  if (!('target' in resolution)) return failed(obj, now, resolution.reason, resolution.message);
  return dispatch(input, resolution.target, 'deploy');
}

