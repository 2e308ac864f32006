// The whole status path in one call, for `kidp controllers run` / `make up`: one
// StatusHandler fed by both the status topic consumer and the HTTPS status API.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { BrokerMetrics } from './metrics.js';
import type { KafkaTls } from '../kube/kafka.js';
import { startStatusApi } from './status-api.js';
import { startStatusConsumer } from './status-consumer.js';
import { createStatusHandler, type LocalFold } from './status-handler.js';

export interface StatusServiceOptions {
  kubeConfig: KubeConfig;
  /** Kafka bootstrap servers for the status topic; empty runs the status API only. */
  kafkaBrokers: string[];
  /** The controllers' Kafka client certificate directory (kube/kafka.ts). */
  kafkaTls?: KafkaTls | string;
  logger: Logger;
  metrics?: BrokerMetrics;
  /** Status consumer group; default `kidp-status-handler`. */
  groupId?: string;
  /** Status events applied at once (default 16); one resource's are always one at a time. */
  concurrency?: number;
  /** The controllers of this process, which fold reports in memory while they lead (status-handler.ts). */
  localFold?: LocalFold;
  /** The HTTPS status API; omit to consume the topic only. */
  api?: { host?: string; port: number; tls: { certPem: string; keyPem: string }; jwksCaBundle?: string };
}

export interface RunningStatusService {
  /** Base URL of the status API (brokers POST to `${url}/v1/status`), when it runs. */
  url?: string;
  stop(): Promise<void>;
}

export async function runStatusService(options: StatusServiceOptions): Promise<RunningStatusService> {
  const handler = createStatusHandler({ kubeConfig: options.kubeConfig, logger: options.logger, metrics: options.metrics, ...(options.localFold ? { localFold: options.localFold } : {}) });
  const api = options.api
    ? await startStatusApi({ kubeConfig: options.kubeConfig, handler, logger: options.logger, metrics: options.metrics, ...options.api })
    : undefined;
  try {
    const consumer =
      options.kafkaBrokers.length > 0
        ? await startStatusConsumer({
            kafkaBrokers: options.kafkaBrokers,
            ...(options.kafkaTls !== undefined ? { kafkaTls: options.kafkaTls } : {}),
            ...(options.api?.jwksCaBundle ? { jwksCaBundle: options.api.jwksCaBundle } : {}),
            handler,
            logger: options.logger,
            metrics: options.metrics,
            groupId: options.groupId,
            concurrency: options.concurrency,
          })
        : undefined;
    return {
      url: api?.url,
      async stop() {
        await consumer?.stop();
        await api?.stop();
      },
    };
  } catch (err) {
    await api?.stop();
    throw err;
  }
}
