// Stub: filled in next commits.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { BrokerMetrics } from '../metrics.js';

export interface ReferenceBrokerOptions {
  /** Broker identities served (consumer group `kidp-broker-<identity>` each). */
  identities: string[];
  /** Kafka bootstrap servers; requests are consumed and status produced here. */
  kafkaBrokers: string[];
  /** The target cluster the broker deploys into. */
  targetKubeConfig: KubeConfig;
  /** Webhook endpoint for the fallback (POST /v1/requests). Omit to run Kafka-only. */
  webhook?: { host?: string; port: number; tls: { certPem: string; keyPem: string } };
  /** The status API, used when Kafka is down. */
  statusApi?: { url: string; caBundle?: string };
  /** PKCS#8 PEM ES256 private key signing status JWTs. */
  signingKeyPem?: string;
  logger: Logger;
  metrics?: BrokerMetrics;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

export interface RunningReferenceBroker {
  /** https URL of the webhook endpoint, when one was asked for. */
  webhookURL?: string;
  stop(): Promise<void>;
}

export function runReferenceBroker(_options: ReferenceBrokerOptions): Promise<RunningReferenceBroker> {
  return Promise.reject(new Error('runReferenceBroker: not implemented yet'));
}
