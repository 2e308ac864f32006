// How a broker reports StatusEvents: on the status topic, or — when Kafka does not ack in
// time — to the status API with a JWT it signs (DESIGN.md §5). The same event may arrive
// both ways during an outage; the status handler ignores the second by event id.
import type { Kafka as KafkaClient } from 'kafkajs';
import type { Logger } from 'pino';
import type { StatusEvent } from '../contract.js';
import { DeadlineProducer } from '../kafka.js';
import type { BrokerMetrics } from '../metrics.js';
import { encodeMessage } from '../protocol.js';
import { signStatusToken } from '../status-jwt.js';
import { signStatusMessage } from '../message-signing.js';
import type { KafkaTls } from '../../kube/kafka.js';
import { postJson } from '../webhook.js';

/** Same reasoning as the dispatcher's deadline: a healthy broker acks in milliseconds. */
export const STATUS_KAFKA_DEADLINE_MS = 3_000;
/** After a Kafka failure go straight to the status API for this long, then try Kafka again. */
export const STATUS_KAFKA_RETRY_AFTER_MS = 10_000;
const STATUS_API_TIMEOUT_MS = 10_000;

export interface StatusReporterOptions {
  kafka?: KafkaClient;
  /** The broker's Kafka client certificate: the status producer reconnects when it changes. */
  kafkaTls?: KafkaTls;
  statusApi?: { url: string; caBundle?: string };
  signingKeyPem?: string;
  logger: Logger;
  metrics?: BrokerMetrics;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

export class StatusReporter {
  private readonly producer: DeadlineProducer | undefined;
  private kafkaSkipUntil = 0;
  private readonly now: () => Date;

  constructor(private readonly options: StatusReporterOptions) {
    this.now = options.now ?? (() => new Date());
    const key = options.signingKeyPem;
    // Every status event on Kafka is signed with the broker's key (message-signing.ts);
    // without one there is nothing the status consumer would accept.
    this.producer =
      options.kafka && key
        ? new DeadlineProducer(options.kafka, {
            deadlineMs: STATUS_KAFKA_DEADLINE_MS,
            ...(options.sleep ? { sleep: options.sleep } : {}),
            sign: (message, value) => signStatusMessage({ privateKeyPem: key, event: message as StatusEvent, body: value, now: this.now() }),
            ...(options.kafkaTls ? { rotateWith: options.kafkaTls } : {}),
          })
        : undefined;
  }

  private async viaStatusApi(event: StatusEvent): Promise<void> {
    const { statusApi, signingKeyPem } = this.options;
    if (!statusApi || !signingKeyPem) throw new Error('no status API or signing key configured');
    const token = await signStatusToken({ privateKeyPem: signingKeyPem, identity: event.broker, targets: [event.target], now: this.now() });
    const result = await postJson(`${statusApi.url.replace(/\/$/, '')}/v1/status`, encodeMessage(event), {
      caBundle: statusApi.caBundle,
      timeoutMs: STATUS_API_TIMEOUT_MS,
      headers: { authorization: `Bearer ${token}` },
    });
    if (result.status !== 200) throw new Error(`status API answered ${result.status}: ${result.body.slice(0, 512)}`);
  }

  /** Resolves with the channel that took the event; rejects when neither did. */
  async report(event: StatusEvent): Promise<'kafka' | 'status-api'> {
    const log = this.options.logger.child({ key: `${event.resource.namespace}/${event.resource.name}`, eventId: event.eventId, requestId: event.requestId });
    let kafkaError: unknown;
    const producer = this.producer;
    if (producer && this.now().getTime() >= this.kafkaSkipUntil) {
      const started = performance.now();
      try {
        await producer.send(event);
        this.options.metrics?.observe('status_report', 'kafka', (performance.now() - started) / 1000);
        return 'kafka';
      } catch (err) {
        kafkaError = err;
        this.options.metrics?.error('status_report', 'kafka', 'transient');
        this.kafkaSkipUntil = this.now().getTime() + STATUS_KAFKA_RETRY_AFTER_MS;
        log.warn({ err: (err as Error).message }, 'Kafka unavailable for status; using the status API');
      }
    }
    const started = performance.now();
    try {
      await this.viaStatusApi(event);
    } catch (err) {
      this.options.metrics?.error('status_report', 'status_api', 'transient');
      throw new Error(`status event ${event.eventId} not reported: ${(err as Error).message}${kafkaError ? `; Kafka: ${(kafkaError as Error).message}` : ''}`, { cause: err });
    }
    this.options.metrics?.observe('status_report', 'status_api', (performance.now() - started) / 1000);
    log.info({ channel: 'status-api' }, 'status reported');
    return 'status-api';
  }

  async close(): Promise<void> {
    await this.producer?.close();
  }
}
