// The contract between controllers/ (which dispatch deployment requests and read status)
// and brokers/ (transports, status API, broker runtime). Types only; the JSON schemas
// (ajv) and versioning live in brokers/protocol.ts, which must agree with these.

import type { DeployableKind } from '../crds/registry.js';

export const PROTOCOL_VERSION = 'broker.kidp.io/v1';
export const REQUESTS_TOPIC = 'kidp.deployment-requests';
export const STATUS_TOPIC = 'kidp.deployment-status';

/** The kinds controllers hand to brokers: those crds/registry.ts marks deployable. */
export type { DeployableKind };

export interface TargetRef {
  /** DeploymentTarget name */
  name: string;
  /** broker identity that must act on the request; others ignore it */
  identity: string;
  provider: string;
  environment: string;
  region?: string;
  /** namespace in the target cluster */
  namespace?: string;
}

export interface ResourceRef {
  kind: DeployableKind;
  namespace: string;
  name: string;
  uid: string;
  generation: number;
}

export interface DeploymentRequest {
  apiVersion: typeof PROTOCOL_VERSION;
  kind: 'DeploymentRequest';
  /** Deterministic: `${uid}-${generation}` (deploy) or `${uid}-${generation}-delete`. Brokers are idempotent on it. */
  requestId: string;
  action: 'deploy' | 'delete';
  target: TargetRef;
  resource: ResourceRef & { labels: Record<string, string>; spec: Record<string, unknown> };
  /** RFC 3339 */
  issuedAt: string;
}

/**
 * A resource's usage for cost attribution, as its broker priced it from a configurable
 * table (brokers/usage.ts; not fetched from any provider): `cost` = `hours` × `hourlyRate`, USD.
 */
export interface Usage {
  /** The price table's class: `postgresql-shared`, `db.t3.micro`, `cache.t3.micro`, ... */
  priceClass: string;
  sizeGiB?: number;
  /** Hours since the resource started to cost, up to the report. */
  hours: number;
  /** USD per hour. */
  hourlyRate: number;
  /** USD. */
  cost: number;
}

export type ReportedPhase = 'Deploying' | 'Ready' | 'Failed' | 'Deleted';

export interface StatusEvent {
  apiVersion: typeof PROTOCOL_VERSION;
  kind: 'StatusEvent';
  /** Unique per event; the status recorder ignores an id it has recorded already. */
  eventId: string;
  requestId: string;
  target: string;
  /** broker identity that sent it (must match the JWT subject on the status API) */
  broker: string;
  resource: ResourceRef;
  phase: ReportedPhase;
  /** Machine-readable, CamelCase (a Condition reason). */
  reason: string;
  message: string;
  /** Permanent failures are not retried by the controller. */
  permanent?: boolean;
  outputs?: {
    connectionSecretRef?: { name: string; namespace: string };
    /** A Database's last logical backup (the postgresql provider, spec.backup); lands in status.backup. */
    backup?: { lastBackupTime: string; location?: string };
    /** What the resource has cost so far (issue 15 item 6); lands in status.usage, summed into its Team's status.cost. */
    usage?: Usage;
  };
  /** RFC 3339 */
  reportedAt: string;
}

/** How the controller hands a request to a broker; implemented in brokers/. */
export interface Dispatcher {
  /**
   * Delivers the request over Kafka, or over the target's HTTPS webhook when Kafka is
   * unavailable or the target's transport is `webhook`. Resolves with the transport used;
   * rejects with a TransientDispatchError (retry with backoff) or PermanentDispatchError.
   */
  dispatch(request: DeploymentRequest, target: { transport: 'kafka' | 'webhook'; webhookURL?: string }): Promise<'kafka' | 'webhook'>;
  close(): Promise<void>;
}
