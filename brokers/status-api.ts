// Stub: filled in next commit.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { StatusHandler } from './status-handler.js';
import type { BrokerMetrics } from './metrics.js';

export interface StatusApiOptions {
  kubeConfig: KubeConfig;
  handler: StatusHandler;
  logger: Logger;
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /** Serving certificate and key (PEM). */
  tls: { certPem: string; keyPem: string };
  /** CA bundle used to fetch DeploymentTarget jwksURLs. */
  jwksCaBundle?: string;
  metrics?: BrokerMetrics;
  now?: () => Date;
}

export interface RunningStatusApi {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export function startStatusApi(_options: StatusApiOptions): Promise<RunningStatusApi> {
  return Promise.reject(new Error('startStatusApi: not implemented yet'));
}
