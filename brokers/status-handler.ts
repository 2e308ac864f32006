// Stub: filled in next commit.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { StatusEvent } from './contract.js';
import type { BrokerMetrics } from './metrics.js';

export const CONDITION = { Ready: 'Ready', Deployed: 'Deployed', Dispatched: 'Dispatched', StatusReported: 'StatusReported' } as const;
/** Deployed=False with this reason means the broker confirmed cleanup: remove the finalizer. */
export const REASON_CLEANED_UP = 'CleanedUp';
/** Event ids remembered in status.recentEventIds for de-duplication. */
export const RECENT_EVENT_IDS_KEPT = 20;

export interface StatusAuth {
  /** JWT `sub`: the broker identity. */
  identity: string;
  /** Targets the token may update. */
  targets: readonly string[];
}

export type StatusOutcome =
  | { result: 'applied'; phase: string }
  | { result: 'duplicate' }
  | { result: 'stale'; reason: string };

export interface StatusHandler {
  handle(event: StatusEvent, auth?: StatusAuth): Promise<StatusOutcome>;
}

export interface StatusHandlerOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  metrics?: BrokerMetrics;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

export function createStatusHandler(_options: StatusHandlerOptions): StatusHandler {
  return { handle: () => Promise.reject(new Error('createStatusHandler: not implemented yet')) };
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export function isCleanedUp(status: { conditions?: Condition[] } | undefined): boolean {
  return (status?.conditions ?? []).some((c) => c.type === CONDITION.Deployed && c.status === 'False' && c.reason === REASON_CLEANED_UP);
}

export interface DatabaseConnectionRef {
  database: string;
  name: string;
  namespace: string;
}

export function syncDatabaseConnectionRefs(_options: { kubeConfig: KubeConfig; namespace: string; service?: string }): Promise<void> {
  return Promise.reject(new Error('syncDatabaseConnectionRefs: not implemented yet'));
}
