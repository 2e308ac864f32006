// What reconcilers ask for (STYLE §3): values, computed by pure functions from (desired,
// observed), executed in order by apply.ts. A closure in `dispatch` is still a value of
// the reconcile: it maps the transport the broker call used to the actions that record it.
import type { DeploymentRequest } from '../brokers/index.js';

/** Enough to address an object through the API and to name it in an Event. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  /** Resource name in the URL, e.g. `services`. */
  plural: string;
  namespace?: string;
  name: string;
  uid?: string;
}

export interface ApplyAction {
  /** Server-side apply with KIDP's field manager: creates or updates only the fields we own. */
  type: 'apply';
  object: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } & Record<string, unknown> } & Record<string, unknown>;
}

export interface DeleteAction {
  /** Deleted if present; absent is success. */
  type: 'delete';
  ref: ObjectRef;
}

export interface StatusAction {
  /** Replaces status, conditional on `resourceVersion` (409 → retry from the current state). */
  type: 'status';
  ref: ObjectRef;
  resourceVersion: string;
  status: Record<string, unknown>;
}

export interface FinalizersAction {
  /** Sets metadata.finalizers, conditional on `resourceVersion`. */
  type: 'finalizers';
  ref: ObjectRef;
  resourceVersion: string;
  finalizers: string[];
}

export interface EventAction {
  type: 'event';
  ref: ObjectRef;
  eventType: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface DispatchFailure {
  permanent: boolean;
  message: string;
}

export interface DispatchAction {
  type: 'dispatch';
  request: DeploymentRequest;
  target: { transport: 'kafka' | 'webhook'; webhookURL?: string };
  /** Run after the broker accepted the request, with the transport used. */
  sent: (transport: 'kafka' | 'webhook') => Action[];
  /** Run when it did not; a transient failure is then retried with backoff. */
  failed: (failure: DispatchFailure) => Action[];
}

export interface RequeueAction {
  /** Reconcile this key again after `ms` (a deadline, not a failure). */
  type: 'requeue';
  ms: number;
}

export type Action = ApplyAction | DeleteAction | StatusAction | FinalizersAction | EventAction | DispatchAction | RequeueAction;
