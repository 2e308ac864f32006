// The status API (DESIGN.md §5): `POST /v1/status` with `Authorization: Bearer <JWT>` and
// a StatusEvent body. This file is the HTTP layer only (STYLE §1): authentication against
// the DeploymentTarget's key, then the same StatusHandler the status-topic consumer uses,
// which records the event; the answer waits (briefly) for the controllers to fold it.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ApiException, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { ForbiddenError, ResourceNotFoundError, StatusConflictError, UnauthenticatedError } from './errors.js';
import type { BrokerMetrics } from './metrics.js';
import { MAX_MESSAGE_BYTES, parseStatusEvent } from './protocol.js';
import { GROUP, VERSION, type StatusHandler } from './status-handler.js';
import { TokenVerifier, type TargetKeys } from './status-jwt.js';

export interface StatusApiOptions {
  kubeConfig: KubeConfig;
  handler: StatusHandler;
  logger: Logger;
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /** Serving certificate and key (PEM), e.g. from certs/ (issueServingCertificate). */
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

interface TargetObject {
  spec: { broker?: { identity?: string } & TargetKeys };
}

function problem(res: Response, status: number, reason: string, message: string): void {
  res.status(status).json({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: status, reason, message });
}

export function createStatusApp(options: Omit<StatusApiOptions, 'host' | 'port' | 'tls'>): express.Express {
  const api = options.kubeConfig.makeApiClient(CustomObjectsApi);
  const verifier = new TokenVerifier({ caBundle: options.jwksCaBundle, now: options.now });
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  if (options.metrics) {
    const registry = options.metrics.registry;
    app.get('/metrics', async (_req, res) => {
      res.type(registry.contentType).send(await registry.metrics());
    });
  }
  app.post('/v1/status', express.raw({ type: () => true, limit: MAX_MESSAGE_BYTES }), async (req: Request, res: Response) => {
    const started = performance.now();
    const log = options.logger.child({ route: 'POST /v1/status' });
    const refuse = (status: number, reason: string, message: string, kind: string) => {
      options.metrics?.error('status_api', 'https', kind);
      // The message names what failed; the token itself is never logged.
      log.warn({ status, reason: message }, 'status report refused');
      problem(res, status, reason, message);
    };
    const header = req.header('authorization') ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (!token) return refuse(401, 'Unauthorized', 'missing Authorization: Bearer <JWT>', 'unauthorized');
    const parsed = parseStatusEvent(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
    if (!parsed.ok) return refuse(400, 'BadRequest', parsed.error.message, 'malformed');
    const event = parsed.value;
    try {
      let target: TargetObject;
      try {
        target = (await api.getClusterCustomObject({ group: GROUP, version: VERSION, plural: 'deploymenttargets', name: event.target })) as TargetObject;
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) throw new UnauthenticatedError(`DeploymentTarget ${event.target} does not exist, so there is no key to verify with`, { cause: err });
        throw err;
      }
      const broker = target.spec.broker ?? {};
      const verified = await verifier.verify(token, { publicKey: broker.publicKey, jwksURL: broker.jwksURL }, event.target);
      if (verified.identity !== broker.identity) {
        throw new ForbiddenError(`token subject ${verified.identity} is not the broker of target ${event.target} (${broker.identity ?? 'none'})`);
      }
      const recorded = await options.handler.handle(event, verified);
      // The record is durable and the answer already 200; waiting lets the broker (and
      // whoever reads after it) see the status the event caused, not only its record.
      const outcome = recorded.result === 'applied' && recorded.folded !== true && !(await options.handler.settled(event)) ? { ...recorded, pending: true as const } : recorded;
      options.metrics?.observe('status_api', 'https', (performance.now() - started) / 1000);
      res.status(200).json({ eventId: event.eventId, ...outcome });
    } catch (err) {
      if (err instanceof UnauthenticatedError) return refuse(401, 'Unauthorized', err.message, 'unauthorized');
      if (err instanceof ForbiddenError) return refuse(403, 'Forbidden', err.message, 'forbidden');
      if (err instanceof ResourceNotFoundError) return refuse(404, 'NotFound', err.message, 'not_found');
      if (err instanceof StatusConflictError) return refuse(503, 'Conflict', err.message, 'conflict');
      log.error({ err: (err as Error).message }, 'status report failed');
      options.metrics?.error('status_api', 'https', 'internal');
      problem(res, 503, 'ServiceUnavailable', `could not apply the status event: ${(err as Error).message}; retry later`);
    }
  });
  return app;
}

export async function startStatusApi(options: StatusApiOptions): Promise<RunningStatusApi> {
  const app = createStatusApp(options);
  const server: Server = createServer({ cert: options.tls.certPem, key: options.tls.keyPem }, app);
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  options.logger.info({ url }, 'status API listening');
  return {
    url,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
