// Stub: the Dispatcher the controllers use (contract.ts). Implementation follows.
import type { Logger } from 'pino';
import type { DeploymentRequest, Dispatcher } from './contract.js';
import type { BrokerMetrics } from './metrics.js';

export interface DispatcherOptions {
  /** Kafka bootstrap servers, `host:port`. */
  kafkaBrokers: string[];
  clientId?: string;
  /** PEM CA bundle that signs the brokers' webhook serving certificates. */
  webhookCaBundle?: string;
  logger: Logger;
  metrics?: BrokerMetrics;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export type DispatchTarget = { transport: 'kafka' | 'webhook'; webhookURL?: string };

export interface BrokerDispatcher extends Dispatcher {
  /** The transport of the last successful dispatch (for logs and tests). */
  readonly lastTransport: 'kafka' | 'webhook' | undefined;
}

export function createDispatcher(_options: DispatcherOptions): BrokerDispatcher {
  return {
    lastTransport: undefined,
    dispatch(_request: DeploymentRequest, _target: DispatchTarget): Promise<'kafka' | 'webhook'> {
      return Promise.reject(new Error('createDispatcher: not implemented yet'));
    },
    close: () => Promise.resolve(),
  };
}
