// Executes reconcilers' actions against the apiserver and the broker dispatcher, in order.
// Errors come back from the catalogue: 409 → ConflictError (retry), 400/422 → TerminalError
// (record and stop), anything else → ApiError (retry with backoff). An object that is gone
// (404 on its own status or finalizers) ends the run quietly: there is nothing to reconcile.
// Writes of one object in one run are conditional on the resourceVersion the reconcile read;
// once one of them lands, the next ones are conditional on the version it produced (the run
// made it, from the same read), so a fold of broker reports and an outbox step can both
// write without a 409 between them, and a write by anyone else still conflicts.
import { ApiException, CoreV1Api, CustomObjectsApi, KubernetesObjectApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { PermanentDispatchError, type Dispatcher } from '../brokers/index.js';
import { apiErrorDetail, apiErrorKind, isNotFound } from '../kube/index.js';
import type { Action, ObjectRef } from './actions.js';
import { ApiError, ConflictError, TerminalError } from './errors.js';

/** The field manager of every server-side apply, so ownership of fields is visible in managedFields. */
export const FIELD_MANAGER = 'kidp-controllers';
/** Events of cluster-scoped objects (Teams) go here, as the Kubernetes components do. */
const CLUSTER_EVENT_NAMESPACE = 'default';

export interface ApplyResult {
  /** The smallest requeue any action asked for. */
  requeueAfterMs?: number;
  /** Transports used by dispatches (for logs and tests). */
  dispatched: Array<{ requestId: string; transport: 'kafka' | 'webhook' }>;
}

export interface ApplierOptions {
  kubeConfig: KubeConfig;
  dispatcher: Dispatcher;
  logger: Logger;
  now?: () => Date;
  /** reportingInstance of Events: which replica wrote them. */
  instance: string;
}

class ObjectGone extends Error {}

/**
 * A request id this process sent within this long is not sent again: a reconcile retried
 * after a 409 on the status write that follows a dispatch (a broker report was recorded
 * in between) re-runs the dispatch action, and the request is already on its way. A
 * restarted process remembers nothing, so it re-sends, and the broker's idempotency by
 * request id makes that harmless.
 */
export const RESEND_SUPPRESSION_MS = 5 * 60_000;
/** Remembered sends at most; the oldest go first. */
const MAX_REMEMBERED_SENDS = 20_000;

/** Per run: for each object, the resourceVersion the reconcile read and the one its last write produced. */
type Versions = Map<string, { read: string; written: string }>;

function versionKey(ref: ObjectRef): string {
  return `${ref.apiVersion}/${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

/** The resourceVersion to send: the one this run last wrote when the action was computed from the same read. */
function currentVersion(versions: Versions, ref: ObjectRef, resourceVersion: string): string {
  const seen = versions.get(versionKey(ref));
  return seen && seen.read === resourceVersion ? seen.written : resourceVersion;
}

function noteWritten(versions: Versions, ref: ObjectRef, read: string, written: string | undefined): void {
  if (written && read) versions.set(versionKey(ref), { read, written });
}

function describe(ref: ObjectRef): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
}

function classify(err: unknown, operation: string): Error {
  const detail = apiErrorDetail(err);
  if (!(err instanceof ApiException)) return new ApiError(operation, undefined, detail, { cause: err });
  switch (apiErrorKind(err)) {
    case 'conflict':
      return new ConflictError(operation, { cause: err });
    case 'invalid':
      return new TerminalError('Invalid', `${operation} was refused by the apiserver: ${detail}`, { cause: err });
    default:
      return new ApiError(operation, err.code, detail, { cause: err });
  }
}

/** Whether a dispatcher rejection is permanent: the brokers' class, or anything marked `permanent`. */
function isPermanent(err: unknown): boolean {
  return err instanceof PermanentDispatchError || (typeof err === 'object' && err !== null && (err as { permanent?: unknown }).permanent === true);
}

export class Applier {
  private readonly objects: KubernetesObjectApi;
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly now: () => Date;
  private readonly pendingEvents = new Set<Promise<void>>();
  /** Request id → when and how this process sent it (RESEND_SUPPRESSION_MS). */
  private readonly sent = new Map<string, { at: number; transport: 'kafka' | 'webhook' }>();

  constructor(private readonly options: ApplierOptions) {
    this.objects = KubernetesObjectApi.makeApiClient(options.kubeConfig);
    this.custom = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.now = options.now ?? (() => new Date());
  }

  async apply(actions: readonly Action[], log: Logger): Promise<ApplyResult> {
    const result: ApplyResult = { dispatched: [] };
    try {
      await this.run(actions, log, result, new Map());
    } catch (err) {
      if (err instanceof ObjectGone) return result;
      throw err;
    }
    return result;
  }

  private async run(actions: readonly Action[], log: Logger, result: ApplyResult, versions: Versions): Promise<void> {
    for (const action of actions) {
      switch (action.type) {
        case 'apply': {
          const { object } = action;
          const what = `apply ${object.kind} ${object.metadata.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata.name}`;
          try {
            await this.objects.patch(object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
          } catch (err) {
            throw classify(err, what);
          }
          break;
        }
        case 'delete': {
          const { ref } = action;
          try {
            await this.objects.delete({ apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) } });
          } catch (err) {
            if (!isNotFound(err)) throw classify(err, `delete ${describe(ref)}`);
          }
          break;
        }
        case 'status': {
          const written = await this.writeStatus(action.ref, currentVersion(versions, action.ref, action.resourceVersion), action.status);
          noteWritten(versions, action.ref, action.resourceVersion, written);
          break;
        }
        case 'finalizers': {
          const written = await this.writeFinalizers(action.ref, currentVersion(versions, action.ref, action.resourceVersion), action.finalizers);
          noteWritten(versions, action.ref, action.resourceVersion, written);
          break;
        }
        case 'event': {
          // Off the reconcile's critical path: an Event is a report, not a step (flush() awaits them on shutdown).
          const pending = this.event(action, log).finally(() => this.pendingEvents.delete(pending));
          this.pendingEvents.add(pending);
          break;
        }
        case 'requeue':
          result.requeueAfterMs = Math.min(result.requeueAfterMs ?? Infinity, action.ms);
          break;
        case 'dispatch': {
          const requestId = action.request.requestId;
          const earlier = this.sent.get(requestId);
          if (earlier && this.now().getTime() - earlier.at < RESEND_SUPPRESSION_MS) {
            log.debug({ requestId, transport: earlier.transport }, 'request already sent by this process; recording it, not sending again');
            await this.run(action.sent(earlier.transport), log, result, versions);
            break;
          }
          let transport: 'kafka' | 'webhook';
          try {
            transport = await this.options.dispatcher.dispatch(action.request, action.target);
          } catch (err) {
            const permanent = isPermanent(err);
            const message = err instanceof Error ? err.message : String(err);
            log.warn({ requestId: action.request.requestId, permanent, err: message }, 'dispatch failed');
            await this.run(action.failed({ permanent, message }), log, result, versions);
            if (permanent) return;
            throw new ApiError(`dispatch of request ${action.request.requestId}`, undefined, message, { cause: err });
          }
          this.remember(requestId, transport);
          result.dispatched.push({ requestId: action.request.requestId, transport });
          log.info({ requestId: action.request.requestId, action: action.request.action, transport }, 'request dispatched');
          await this.run(action.sent(transport), log, result, versions);
          break;
        }
      }
    }
  }

  private remember(requestId: string, transport: 'kafka' | 'webhook'): void {
    this.sent.delete(requestId);
    this.sent.set(requestId, { at: this.now().getTime(), transport });
    // Insertion order is age order: drop the oldest beyond the cap.
    for (const key of this.sent.keys()) {
      if (this.sent.size <= MAX_REMEMBERED_SENDS) break;
      this.sent.delete(key);
    }
  }

  /** Waits for the Events still being written. */
  async flush(): Promise<void> {
    await Promise.all([...this.pendingEvents]);
  }

  /** Returns the resourceVersion the write produced. */
  private async writeStatus(ref: ObjectRef, resourceVersion: string, status: Record<string, unknown>): Promise<string | undefined> {
    const [group, version] = ref.apiVersion.split('/') as [string, string];
    // Only what the status subresource reads: the apiserver keeps spec and metadata as stored.
    const body = { apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, resourceVersion, ...(ref.namespace ? { namespace: ref.namespace } : {}) }, status };
    try {
      const written = (
        ref.namespace
          ? await this.custom.replaceNamespacedCustomObjectStatus({ group, version, namespace: ref.namespace, plural: ref.plural, name: ref.name, body })
          : await this.custom.replaceClusterCustomObjectStatus({ group, version, plural: ref.plural, name: ref.name, body })
      ) as { metadata?: { resourceVersion?: string } };
      return written.metadata?.resourceVersion;
    } catch (err) {
      if (isNotFound(err)) throw new ObjectGone();
      throw classify(err, `status update of ${describe(ref)}`);
    }
  }

  /** Returns the resourceVersion the patch produced. */
  private async writeFinalizers(ref: ObjectRef, resourceVersion: string, finalizers: string[]): Promise<string | undefined> {
    const [group, version] = ref.apiVersion.split('/') as [string, string];
    // A merge patch that names the resourceVersion fails with 409 if the object moved on.
    const body = { metadata: { resourceVersion, finalizers } };
    try {
      const written = (await this.custom.patchNamespacedCustomObject(
        { group, version, namespace: ref.namespace ?? '', plural: ref.plural, name: ref.name, body },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )) as { metadata?: { resourceVersion?: string } };
      return written.metadata?.resourceVersion;
    } catch (err) {
      if (isNotFound(err)) throw new ObjectGone();
      throw classify(err, `finalizer update of ${describe(ref)}`);
    }
  }

  /** Events are best effort: a lost Event must not undo or repeat the transition it reports. */
  private async event(action: Extract<Action, { type: 'event' }>, log: Logger): Promise<void> {
    const { ref } = action;
    const namespace = ref.namespace || CLUSTER_EVENT_NAMESPACE;
    const now = this.now();
    try {
      await this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${ref.name}.`, namespace },
          involvedObject: { apiVersion: ref.apiVersion, kind: ref.kind, name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}), ...(ref.uid ? { uid: ref.uid } : {}) },
          reason: action.reason,
          message: action.message,
          type: action.eventType,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
          source: { component: FIELD_MANAGER },
          reportingComponent: FIELD_MANAGER,
          reportingInstance: this.options.instance,
        },
      });
    } catch (err) {
      log.warn({ err: String(err), reason: action.reason }, 'could not record Event');
    }
  }
}
