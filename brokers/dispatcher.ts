// The Dispatcher the controllers use (contract.ts): Kafka first, the target's HTTPS webhook
// when Kafka is unavailable or the target asks for webhooks (DESIGN.md §5).
//
// A send that missed its deadline may still land on Kafka later, so during an outage a
// request can arrive twice (once per transport). That is by design: request ids are
// deterministic and brokers are idempotent on them (DESIGN.md §3).
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { DeploymentRequest, Dispatcher } from './contract.js';
import { BrokersError, PermanentDispatchError, TransientDispatchError } from './errors.js';
import { REQUESTS_TOPIC } from './contract.js';
import { DeadlineProducer, KafkaDeadlineError, createKafka } from './kafka.js';
import { kafkaTls, type KafkaTls } from '../kube/kafka.js';
import { signRequestMessage } from './message-signing.js';
import type { BrokerMetrics } from './metrics.js';
import { es256Key } from './request-jwt.js';
import { WEBHOOK_TIMEOUT_MS, deliverByWebhook } from './webhook.js';

/**
 * How long a Kafka dispatch (connect + send) may take before we call Kafka unavailable and
 * fall back: a healthy local broker acks in milliseconds, and the controller's p95
 * apply→Ready budget is 5 s, so 3 s leaves room for the webhook.
 */
export const KAFKA_DISPATCH_DEADLINE_MS = 3_000;
/**
 * After Kafka failed, skip it for this long and go straight to the webhook, so an outage
 * costs one deadline, not one per request; then try Kafka again.
 */
export const KAFKA_RETRY_AFTER_FAILURE_MS = 10_000;

export interface DispatcherOptions {
  /** Kafka bootstrap servers, `host:port`. */
  kafkaBrokers: string[];
  /** The controllers' Kafka client certificate directory (principal kidp-controllers; kube/kafka.ts). */
  kafkaTls?: KafkaTls | string;
  clientId?: string;
  /** PEM CA bundle that signs the brokers' webhook serving certificates. */
  webhookCaBundle?: string;
  webhookTimeoutMs?: number;
  /**
   * PKCS#8 PEM EC P-256 key that signs every request, on Kafka (SIGNATURE_HEADER) and by
   * webhook (request-jwt.ts); brokers trust its public half. Without it requests go
   * unsigned, and brokers dead-letter them (Kafka) or refuse them (401).
   */
  dispatchSigningKeyPem?: string;
  kafkaDeadlineMs?: number;
  logger: Logger;
  metrics?: BrokerMetrics;
  now?: () => number;
  /** Used for the Kafka deadline; resolves after `ms`. */
  sleep?: (ms: number) => Promise<void>;
}

export type DispatchTarget = { transport: 'kafka' | 'webhook'; webhookURL?: string };

export interface BrokerDispatcher extends Dispatcher {
  dispatch(request: DeploymentRequest, target: DispatchTarget): Promise<'kafka' | 'webhook'>;
  /** The transport of the last successful dispatch (for logs and tests). */
  readonly lastTransport: 'kafka' | 'webhook' | undefined;
}

class KafkaWebhookDispatcher implements BrokerDispatcher {
  lastTransport: 'kafka' | 'webhook' | undefined;
  private readonly producer: DeadlineProducer;
  private kafkaSkipUntil = 0;
  private readonly now: () => number;
  private readonly signingKey: KeyObject | undefined;

  constructor(private readonly options: DispatcherOptions) {
    // Parsed once, so a bad key fails at start, not at the first Kafka outage.
    this.signingKey = options.dispatchSigningKeyPem ? es256Key(options.dispatchSigningKeyPem, 'private', 'the dispatch signing key') : undefined;
    const tls = kafkaTls(options.kafkaTls);
    const kafka = createKafka({ brokers: options.kafkaBrokers, clientId: options.clientId ?? 'kidp-controller', logger: options.logger, ...(tls ? { tls } : {}) });
    const signingKey = this.signingKey;
    this.producer = new DeadlineProducer(kafka, {
      deadlineMs: options.kafkaDeadlineMs ?? KAFKA_DISPATCH_DEADLINE_MS,
      sleep: options.sleep,
      ensure: [REQUESTS_TOPIC],
      ...(signingKey ? { sign: (message, value) => signRequestMessage({ privateKey: signingKey, request: message as DeploymentRequest, body: value, now: new Date(this.now()) }) } : {}),
      ...(tls ? { rotateWith: tls } : {}),
    });
    this.now = options.now ?? Date.now;
  }

  async dispatch(request: DeploymentRequest, target: DispatchTarget): Promise<'kafka' | 'webhook'> {
    const log = this.options.logger.child({ key: `${request.resource.namespace}/${request.resource.name}`, requestId: request.requestId, target: request.target.name });
    let kafkaError: unknown;
    if (target.transport === 'kafka' && this.now() >= this.kafkaSkipUntil) {
      const started = performance.now();
      try {
        await this.producer.send(request);
        this.options.metrics?.observe('kafka_send', 'kafka', (performance.now() - started) / 1000);
        this.lastTransport = 'kafka';
        log.debug({ transport: 'kafka' }, 'request dispatched');
        return 'kafka';
      } catch (err) {
        kafkaError = err;
        this.options.metrics?.error('kafka_send', 'kafka', err instanceof KafkaDeadlineError ? 'timeout' : 'transient');
        this.kafkaSkipUntil = this.now() + KAFKA_RETRY_AFTER_FAILURE_MS;
        log.warn({ err: (err as Error).message, fallback: target.webhookURL ? 'webhook' : 'none' }, 'Kafka unavailable');
      }
    } else if (target.transport === 'kafka') {
      kafkaError = new Error(`Kafka failed within the last ${KAFKA_RETRY_AFTER_FAILURE_MS} ms`);
    }
    if (!target.webhookURL) {
      if (target.transport === 'webhook') throw new PermanentDispatchError(request.requestId, `target ${request.target.name} uses the webhook transport but names no webhookURL`);
      throw new TransientDispatchError(request.requestId, `Kafka unavailable (${(kafkaError as Error).message}) and target ${request.target.name} has no webhookURL to fall back to`, { cause: kafkaError });
    }
    const started = performance.now();
    try {
      await deliverByWebhook(request, target.webhookURL, {
        caBundle: this.options.webhookCaBundle,
        timeoutMs: this.options.webhookTimeoutMs ?? WEBHOOK_TIMEOUT_MS,
        ...(this.signingKey ? { signingKey: this.signingKey, now: new Date(this.now()) } : {}),
      });
    } catch (err) {
      this.options.metrics?.error('webhook_post', 'webhook', err instanceof PermanentDispatchError ? 'permanent' : 'transient');
      log.warn({ err: (err as Error).message, code: (err as BrokersError).code }, 'webhook dispatch failed');
      throw err;
    }
    this.options.metrics?.observe('webhook_post', 'webhook', (performance.now() - started) / 1000);
    this.lastTransport = 'webhook';
    log.info({ transport: 'webhook' }, 'request dispatched');
    return 'webhook';
  }

  close(): Promise<void> {
    return this.producer.close();
  }
}

export function createDispatcher(options: DispatcherOptions): BrokerDispatcher {
  return new KafkaWebhookDispatcher(options);
}
