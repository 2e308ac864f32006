// The status-topic consumer: StatusEvents from Kafka go through the same StatusHandler as
// the status API (which records them for the controllers to fold), and are authenticated the same way: each record carries the broker's
// signature (message-signing.ts), checked against its DeploymentTarget's key. Kafka's ACLs
// limit who may produce here; the signature decides whose event it is. Unsigned or
// wrongly signed events, malformed ones, events for other targets' resources and events
// for deleted objects are dead-lettered; apiserver hiccups are retried first.
import type { Logger } from 'pino';
import { STATUS_TOPIC, type StatusEvent } from './contract.js';
import { StatusConflictError } from './errors.js';
import { DLQ_SUFFIX, consumeMessages, createKafka, ensureTopics, type RunningConsumer } from './kafka.js';
import { ReplayGuard, authenticateStatusMessage } from './message-signing.js';
import type { StatusAuth } from './status-handler.js';
import { TokenVerifier } from './status-jwt.js';
import type { KafkaTls } from '../kube/kafka.js';
import type { BrokerMetrics } from './metrics.js';
import { parseStatusEvent } from './protocol.js';
import type { StatusHandler } from './status-handler.js';
import { BrokersError } from './errors.js';

export const DEFAULT_STATUS_GROUP = 'kidp-status-handler';

export interface StatusConsumerOptions {
  kafkaBrokers: string[];
  /** The controllers' Kafka client certificate directory (kube/kafka.ts). */
  kafkaTls?: KafkaTls | string;
  handler: StatusHandler;
  /** CA bundle for DeploymentTarget jwksURLs. */
  jwksCaBundle?: string;
  logger: Logger;
  /** Consumer group; default `kidp-status-handler` (one group: each event is recorded once). */
  groupId?: string;
  clientId?: string;
  metrics?: BrokerMetrics;
  sleep?: (ms: number) => Promise<void>;
  /** Events recorded at once, across resources (default 16); one resource's events are always one at a time. */
  concurrency?: number;
}

export async function startStatusConsumer(options: StatusConsumerOptions): Promise<{ stop(): Promise<void> }> {
  const logger = options.logger.child({ component: 'status-consumer' });
  const kafka = createKafka({ brokers: options.kafkaBrokers, clientId: options.clientId ?? 'kidp-status-consumer', logger, ...(options.kafkaTls !== undefined ? { tls: options.kafkaTls } : {}) });
  await ensureTopics(kafka, [STATUS_TOPIC, STATUS_TOPIC + DLQ_SUFFIX]);
  const verifier = new TokenVerifier({ ...(options.jwksCaBundle ? { caBundle: options.jwksCaBundle } : {}) });
  const replay = new ReplayGuard();
  const running: RunningConsumer = await consumeMessages<StatusEvent, StatusAuth>({
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
    authenticate: (event, record) =>
      authenticateStatusMessage({ event, body: record.bytes, headers: record.headers, at: record.at, targetKeys: (name) => options.handler.targetKeys(name), verifier, replay }),
    handle: async (event, { auth }) => {
      await options.handler.handle(event, auth, 'kafka');
    },
  });
  return { stop: () => running.stop() };
}
