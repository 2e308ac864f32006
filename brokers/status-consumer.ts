// Stub: filled in next commit.
import type { Logger } from 'pino';
import type { StatusHandler } from './status-handler.js';
import type { BrokerMetrics } from './metrics.js';

export interface StatusConsumerOptions {
  kafkaBrokers: string[];
  handler: StatusHandler;
  logger: Logger;
  /** Consumer group; default `kidp-status-handler`. */
  groupId?: string;
  metrics?: BrokerMetrics;
  sleep?: (ms: number) => Promise<void>;
}

export function startStatusConsumer(_options: StatusConsumerOptions): Promise<{ stop(): Promise<void> }> {
  return Promise.reject(new Error('startStatusConsumer: not implemented yet'));
}
