// Wires the webhook: TLS, the transport (http.ts), the handlers, what they read (informer
// caches or files), metrics and the decision log. Used by `kidp webhook serve`, `make up`
// and the tests.
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { createAdmissionListener, type Problem } from './http.js';
import { errored, type Decision } from './decision.js';
import type { OwnershipOptions } from './ownership.js';
import { mutate } from './mutate.js';
import { validate } from './validate.js';
import { AdmissionMetrics } from './metrics.js';
import { decisionRecord, type DecisionSink } from './decision-log.js';
import { PolicyStore } from './policy-store.js';
import type { ParamSource } from '../policy-engine/policy/index.js';
import { withAuthorizer, type AskAuthorizer } from './authorizer.js';
import type { MemoryView } from './memory-view.js';
import type { KubeObject } from './review.js';

export interface TlsMaterial {
  cert: string;
  key: string;
}

export interface WebhookServerOptions {
  logger: Logger;
  tls: TlsMaterial;
  /** What ownership and mutation read: a ClusterView (informers) or a MemoryView (files). */
  view: MemoryView & { namespaceObject?(name: string): KubeObject | undefined; ready?(): boolean };
  store: PolicyStore;
  /** Param objects of Policies with a paramKind: the cluster view's caches, or files. */
  params?: ParamSource;
  /** Asks `authorizer` checks (SubjectAccessReview); without it checks answer "no authorizer". */
  authorize?: AskAuthorizer;
  decisionLog?: DecisionSink;
  host?: string;
  port?: number;
  now?: () => Date;
  metrics?: AdmissionMetrics;
  /** Overrides REQUEST_TIMEOUT_MS (tests use a short one). */
  requestTimeoutMs?: number;
  ownership?: OwnershipOptions;
  /** The latest a PolicyException may expire, from now (default 90 days). */
  maxExceptionLifetimeMs?: number;
  /**
   * Only callers presenting a client certificate signed by this CA (the apiserver's, see
   * deploy/README.md) may POST reviews; with `names`, only those certificate CNs.
   */
  clientAuth?: { caPem: string; names?: readonly string[] };
  /** Caps on reviews being read or answered at once, and on the bytes they hold. */
  maxInFlight?: number;
  maxBufferedBytes?: number;
}

/** What a request gets while the informer caches are not synced: refused, retryable. */
export function cacheNotSynced(): Decision {
  return errored(
    503,
    'CacheNotSynced',
    "KIDP's admission webhook has not synced its view of the cluster (its informers are listing, or restarting after an error), so it cannot check ownership or policies; the request was not admitted. Retry in a few seconds; if this persists, check the webhook's /readyz and its log.",
  );
}

function clientCertificateProblem(req: IncomingMessage, names: readonly string[] | undefined): Problem | undefined {
  const socket = req.socket as TLSSocket;
  if (!socket.authorized) {
    return { status: 401, reason: 'Unauthorized', message: 'admission reviews are accepted only from a client certificate signed by the configured client CA' };
  }
  const subject = socket.getPeerCertificate().subject as Record<string, string | string[]> | undefined;
  const cn = subject?.CN;
  if (names && !(typeof cn === 'string' && names.includes(cn))) {
    return { status: 403, reason: 'Forbidden', message: 'this client certificate is not one allowed to send admission reviews' };
  }
  return undefined;
}

/**
 * Limits against slow or hostile clients. The apiserver gives a webhook at most 5 s
 * (timeoutSeconds), so a body still trickling in after 10 s is not from it.
 */
export const REQUEST_TIMEOUT_MS = 10_000;
export const HEADERS_TIMEOUT_MS = 5_000;
/** Longer than the apiserver's idle-connection reuse, so it does not race our close. */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export interface WebhookServer {
  server: Server;
  port: number;
  metrics: AdmissionMetrics;
  /** Swaps the serving certificate for new connections; open ones keep theirs. */
  setTls(material: TlsMaterial): void;
  close(): Promise<void>;
}

export async function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const { logger, view, store } = options;
  const now = options.now ?? (() => new Date());
  const metrics = options.metrics ?? new AdmissionMetrics();
  const namespaceObject = (name: string): KubeObject | undefined => {
    const known = view.namespaceObject?.(name);
    if (known) return known;
    const labels = view.namespaceLabels(name);
    return labels ? { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } } : undefined;
  };

  // Fail closed: answers from a cache that is missing or broken would be guesses.
  const synced = (): boolean => (view.ready ? view.ready() : true);
  const clientAuth = options.clientAuth;
  const listener = createAdmissionListener({
    logger,
    validate: (req) => {
      if (!synced()) return cacheNotSynced();
      const ctx = { view, store, now, namespaceObject, ...(options.params ? { params: options.params } : {}), ownership: options.ownership, maxExceptionLifetimeMs: options.maxExceptionLifetimeMs };
      const ask = options.authorize;
      return ask ? withAuthorizer(ask, (authorizer) => validate(req, { ...ctx, authorizer })) : validate(req, ctx);
    },
    mutate: (req) => (synced() ? mutate(req, view) : cacheNotSynced()),
    ...(clientAuth ? { authorize: (req: IncomingMessage) => clientCertificateProblem(req, clientAuth.names) } : {}),
    ...(options.maxInFlight !== undefined ? { maxInFlight: options.maxInFlight } : {}),
    ...(options.maxBufferedBytes !== undefined ? { maxBufferedBytes: options.maxBufferedBytes } : {}),
    observe: ({ webhook, request, decision, durationSeconds }) => {
      metrics.observe(webhook, request, decision, durationSeconds);
      options.decisionLog?.write(decisionRecord(webhook, request, decision, durationSeconds, now()));
      if (!decision.allowed) logger.info({ uid: request.uid, webhook, reason: decision.reason, message: decision.message }, 'denied');
    },
    routes: (a) => {
      a.get('/healthz', (_req, res) => void res.type('text/plain').send('ok'));
      a.get('/readyz', (_req, res) => {
        const ready = view.ready ? view.ready() : true;
        res.status(ready ? 200 : 503).type('text/plain').send(ready ? 'ok' : 'informer caches not synced');
      });
      a.get('/metrics', async (_req, res) => {
        res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
      });
    },
  });

  // Timeouts are enforced by a periodic check; once a second keeps a slow body from
  // holding a socket for long past REQUEST_TIMEOUT_MS.
  // The certificate is requested, not required, so probes without one still reach /healthz,
  // /readyz and /metrics; http.ts refuses reviews from callers without one.
  const peer = clientAuth ? { ca: clientAuth.caPem, requestCert: true, rejectUnauthorized: false } : {};
  const server = createServer({ cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2', connectionsCheckingInterval: 1_000, ...peer }, listener);
  server.requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.on('clientError', (err, socket) => {
    logger.debug({ err: err.message }, 'client error');
    const timedOut = (err as NodeJS.ErrnoException).code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (socket.writable) socket.end(`HTTP/1.1 ${timedOut ? '408 Request Timeout' : '400 Bad Request'}\r\nConnection: close\r\n\r\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 9443, options.host ?? '0.0.0.0', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ port }, 'admission webhook listening');
  return {
    server,
    port,
    metrics,
    setTls: (m) => server.setSecureContext({ cert: m.cert, key: m.key, minVersion: 'TLSv1.2', ...(clientAuth ? { ca: clientAuth.caPem } : {}) }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export { PolicyStore };
