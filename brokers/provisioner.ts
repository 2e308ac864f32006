// What a broker creates is pluggable; how requests reach it is not (issue 15 item 1). The
// broker runtime (reference/broker.ts) consumes signed requests from Kafka and its webhook,
// confines them to the DeploymentTarget, serialises one resource's requests, reports
// status, and writes the connection Secret; a Provisioner only turns one confined request
// into real things (Kubernetes objects, a PostgreSQL database and role, a Redis ACL user)
// and back. Providers: `kubernetes` (reference/), `postgresql` (postgresql/), `redis` (redis/),
// `aws` (aws/).
import type { Logger } from 'pino';
import type { DeployableKind, DeploymentRequest, StatusEvent } from './contract.js';
import type { UsageMeasure } from './usage.js';

/**
 * A shared server a DeploymentTarget points at (`spec.server`): where the provider
 * provisions, and the Secret holding its operator credentials (keys `username`, `password`).
 */
export interface TargetServer {
  host: string;
  port: number;
  credentialsSecretRef: { name: string; namespace: string };
  /** PostgreSQL: the extensions a Database may ask for. Nothing else is ever created. */
  extensions?: string[];
}

/**
 * An AWS account and region a DeploymentTarget points at (`spec.aws`, with `spec.region`):
 * the Secret holding the credentials (keys accessKeyId, secretAccessKey, optional
 * sessionToken) and, for an emulator or a VPC endpoint, the API endpoint.
 */
export interface TargetAws {
  credentialsSecretRef: { name: string; namespace: string };
  endpoint?: string;
  /** The RDS instance class for this target's Databases (default db.t3.micro). */
  dbInstanceClass?: string;
  /** The ElastiCache node type for this target's Caches (default cache.t3.micro). */
  cacheNodeType?: string;
}

/** The DeploymentTarget as the runtime read it from the cluster (admin-written), never from the message. */
export interface TargetRecord {
  name: string;
  namespace?: string;
  identity?: string;
  provider?: string;
  server?: TargetServer;
  region?: string;
  aws?: TargetAws;
}

export interface ProvisionContext {
  /** The DeploymentTarget the request was confined to. */
  target: TargetRecord;
  /**
   * The data of the resource's connection Secret as it is now, when it exists and belongs
   * to this resource: a re-sent request keeps the password it holds.
   */
  connection: Readonly<Record<string, string>> | undefined;
  /** Reads a Secret the DeploymentTarget names (the server's credentials). */
  readSecret(ref: { name: string; namespace: string }): Promise<Record<string, string>>;
  /**
   * Reports news about the resource after the request is done (a scheduled backup) as a
   * further Ready event of this request; `key` makes its event id unique.
   */
  reportLater(update: { key: string; reason: string; message: string; outputs?: StatusEvent['outputs'] }): Promise<void>;
  logger: Logger;
}

export interface ProvisionOutcome {
  /** CamelCase, a Condition reason. */
  reason: string;
  message: string;
  /**
   * The connection details (host, port, user, password, ...): the runtime writes them as
   * the Secret `<name>-connection` in the placement namespace and reports its ref.
   */
  connection?: Record<string, string>;
  /** Outputs the provider produced itself (the kubernetes provider writes its own Secret). */
  outputs?: StatusEvent['outputs'];
  /**
   * What the resource costs by (issue 15 item 6): its price class, size, and when it started
   * to cost if the provider knows (else the connection Secret's creation). The runtime
   * prices it from its table and reports it with this outcome and every
   * `usageReportIntervalMs` after.
   */
  usage?: UsageMeasure;
}

/**
 * One provider. Both calls are idempotent: the request id is deterministic, a request may
 * arrive twice (Kafka redelivery, webhook fallback, a restarted broker), and the second
 * must change nothing. Throw DeployFailedError (permanent or not) or PlacementRefusedError;
 * anything else is reported as a transient failure and retried by the controllers.
 */
export interface Provisioner {
  /** `spec.provider` of the DeploymentTargets it serves; a target of another provider is refused. */
  readonly provider: string;
  /** The kinds it provisions; a request for another kind fails permanently. */
  readonly kinds: readonly DeployableKind[];
  provision(request: DeploymentRequest, context: ProvisionContext): Promise<ProvisionOutcome>;
  deprovision(request: DeploymentRequest, context: ProvisionContext): Promise<ProvisionOutcome>;
  /**
   * Called at start for each resource of this broker's targets that is Ready at its current
   * generation, with the request that made it so (rebuilt from the object as the apiserver
   * holds it) and what status shows of its reports: picks up what lived only in the previous
   * process (backup schedules). Changes nothing the request did not; optional.
   */
  resume?(request: DeploymentRequest, context: ProvisionContext, reported: ReportedState): Promise<void>;
  close(): Promise<void>;
}

/** What a resumed resource's status says of its broker's reports. */
export interface ReportedState {
  backup?: { lastBackupTime: string; location?: string };
}

/** The providers `kidp broker run --provider` knows. */
export const PROVIDERS = ['kubernetes', 'postgresql', 'redis', 'aws'] as const;
export type ProviderName = (typeof PROVIDERS)[number];
