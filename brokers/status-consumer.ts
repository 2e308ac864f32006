// The status-topic consumer: StatusEvents from Kafka go through the same StatusHandler as
// the status API (Kafka needs no JWT: only brokers with topic ACLs can produce there).
// Malformed events, events for other targets' resources and events for deleted objects
// are dead-lettered; apiserver hiccups are retried first.
import type { Logger } from 'pino';
import { STATUS_TOPIC } from './contract.js';
import { StatusConflictError } from './errors.js';
import { PROTOCOL_TOPICS, consumeMessages, createKafka, ensureTopics, type RunningConsumer } from './kafka.js';
import type { BrokerMetrics } from './metrics.js';
import { parseStatusEvent } from './protocol.js';
import type { StatusHandler } from './status-handler.js';
import { BrokersError } from './errors.js';

export const DEFAULT_STATUS_GROUP = 'kidp-status-handler';

export interface StatusConsumerOptions {
  kafkaBrokers: string[];
  handler: StatusHandler;
  logger: Logger;
  /** Consumer group; default `kidp-status-handler` (one group: each event is applied once). */
  groupId?: string;
  clientId?: string;
  metrics?: BrokerMetrics;
  sleep?: (ms: number) => Promise<void>;
  /** Events applied at once, across resources (default 16); one resource's events are always one at a time. */
  concurrency?: number;
}

export async function startStatusConsumer(options: StatusConsumerOptions): Promise<{ stop(): Promise<void> }> {
  const logger = options.logger.child({ component: 'status-consumer' });
  const kafka = createKafka({ brokers: options.kafkaBrokers, clientId: options.clientId ?? 'kidp-status-consumer', logger });
  await ensureTopics(kafka, PROTOCOL_TOPICS);
  const running: RunningConsumer = await consumeMessages({
    kafka,
    groupId: options.groupId ?? DEFAULT_STATUS_GROUP,
    topic: STATUS_TOPIC,
    parse: parseStatusEvent,
    logger,
    metrics: options.metrics,
    sleep: options.sleep,
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    // A lost optimistic-concurrency race is worth another go; other catalogue errors
    // (forbidden, not found) will not change by retrying.
    isTransient: (err) => err instanceof StatusConflictError || !(err instanceof BrokersError),
    handle: async (event) => {
      await options.handler.handle(event);
    },
  });
  return { stop: () => running.stop() };
}
