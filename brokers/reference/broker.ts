// The reference broker `kubernetes` (issue 5 item 5): a stateless worker. It consumes the
// requests of its identities from Kafka (one consumer group per identity, skipping other
// brokers' requests), accepts the same requests on its HTTPS webhook for the fallback,
// applies them to a target cluster, and reports a StatusEvent for each. Everything it
// needs is in the request; a restarted broker resumes from its group's committed offsets.
//
// The webhook is authenticated (request-jwt.ts): a delivery needs a controllers' token over
// its exact body, checked against the platform public key. Without that key the broker
// does not serve the webhook at all; an open endpoint would deploy whatever anyone sends.
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { PROTOCOL_VERSION, REQUESTS_TOPIC, type DeploymentRequest, type StatusEvent } from '../contract.js';
import { DeployFailedError, RequestUnauthenticatedError } from '../errors.js';
import { PROTOCOL_TOPICS, consumeMessages, createKafka, ensureTopics, type RunningConsumer } from '../kafka.js';
import type { BrokerMetrics } from '../metrics.js';
import { MAX_MESSAGE_BYTES, parseRequest } from '../protocol.js';
import { checkTokenMatchesRequest, es256PublicKeys, verifyRequestToken, type VerifiedRequestToken } from '../request-jwt.js';
import { KubernetesApplier, type ApplyOutcome } from './apply.js';
import { StatusReporter } from './reporter.js';
import { applyTopic, removeTopic } from './topic.js';

export const WEBHOOK_PATH = '/v1/requests';

export interface ReferenceBrokerOptions {
  /** Broker identities served (consumer group `kidp-broker-<identity>` each). */
  identities: string[];
  /** Kafka bootstrap servers; requests are consumed and status produced here. Empty: webhook only. */
  kafkaBrokers: string[];
  /** Kafka cluster that Topic resources are created in; defaults to `kafkaBrokers`. */
  topicKafkaBrokers?: string[];
  /** The target cluster the broker deploys into. */
  targetKubeConfig: KubeConfig;
  /**
   * Webhook endpoint for the fallback (POST /v1/requests). Omit to run Kafka-only.
   * `platformPublicKeyPem` (SPKI PEM, EC P-256; several blocks during a key rotation) verifies the controllers' delivery tokens;
   * without it the webhook is not served (logged), never served unauthenticated.
   */
  webhook?: { host?: string; port: number; tls: { certPem: string; keyPem: string }; platformPublicKeyPem?: string };
  /** The status API, used when Kafka is down. */
  statusApi?: { url: string; caBundle?: string };
  /** PKCS#8 PEM ES256 private key signing status JWTs (its public key goes into the DeploymentTargets). */
  signingKeyPem?: string;
  /** Or a file holding it (a mounted Secret); read once at start. */
  signingKeyFile?: string;
  logger: Logger;
  metrics?: BrokerMetrics;
  /** Requests applied at once per identity, across resources (default 16, DEFAULT_CONSUMER_CONCURRENCY); one resource's requests are always one at a time. */
  concurrency?: number;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

export interface RunningReferenceBroker {
  /** https URL of the webhook endpoint (including /v1/requests), when one was asked for. */
  webhookURL?: string;
  /** Resolves when every identity's consumer has joined its group. */
  joined: Promise<void>;
  stop(): Promise<void>;
}

/** Event ids are deterministic per (request, phase): re-processing a re-delivered request re-sends the same event, which the status handler drops. */
export function eventIdFor(requestId: string, phase: StatusEvent['phase']): string {
  return `${requestId}:${phase}`;
}

export function statusEventFor(request: DeploymentRequest, outcome: { phase: StatusEvent['phase']; reason: string; message: string; permanent?: boolean; outputs?: StatusEvent['outputs'] }, now: Date): StatusEvent {
  const { kind, namespace, name, uid, generation } = request.resource;
  return {
    apiVersion: PROTOCOL_VERSION,
    kind: 'StatusEvent',
    eventId: eventIdFor(request.requestId, outcome.phase),
    requestId: request.requestId,
    target: request.target.name,
    broker: request.target.identity,
    resource: { kind, namespace, name, uid, generation },
    phase: outcome.phase,
    reason: outcome.reason,
    message: outcome.message,
    ...(outcome.permanent !== undefined ? { permanent: outcome.permanent } : {}),
    ...(outcome.outputs ? { outputs: outcome.outputs } : {}),
    reportedAt: now.toISOString(),
  };
}

export async function runReferenceBroker(options: ReferenceBrokerOptions): Promise<RunningReferenceBroker> {
  const logger = options.logger.child({ component: 'broker-kubernetes' });
  const now = options.now ?? (() => new Date());
  const identities = new Set(options.identities);
  const applier = new KubernetesApplier(options.targetKubeConfig);
  const kafka = options.kafkaBrokers.length > 0 ? createKafka({ brokers: options.kafkaBrokers, clientId: 'kidp-broker-kubernetes', logger }) : undefined;
  const topicKafka =
    options.topicKafkaBrokers && options.topicKafkaBrokers.join(',') !== options.kafkaBrokers.join(',')
      ? createKafka({ brokers: options.topicKafkaBrokers, clientId: 'kidp-broker-kubernetes-topics', logger })
      : kafka;
  const signingKeyPem = options.signingKeyPem ?? (options.signingKeyFile ? await readFile(options.signingKeyFile, 'utf8') : undefined);
  const reporter = new StatusReporter({ kafka, statusApi: options.statusApi, signingKeyPem, logger, metrics: options.metrics, now, sleep: options.sleep });
  // Requests for one resource are applied one at a time, whichever transport brought them.
  const inFlight = new Map<string, Promise<unknown>>();

  async function apply(request: DeploymentRequest): Promise<ApplyOutcome> {
    if (request.resource.kind === 'Topic') {
      if (!topicKafka) throw new DeployFailedError(request.requestId, 'this broker has no Kafka cluster for Topic resources', true);
      return request.action === 'deploy' ? applyTopic(topicKafka, request) : removeTopic(topicKafka, request);
    }
    return request.action === 'deploy' ? applier.deploy(request) : applier.remove(request);
  }

  /** Applies, then reports; resolves with the event and the channel that took it. */
  function process(request: DeploymentRequest): Promise<{ event: StatusEvent; channel: 'kafka' | 'status-api' }> {
    const key = request.resource.uid;
    const previous = inFlight.get(key) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(async () => {
      const log = logger.child({ key: `${request.resource.namespace}/${request.resource.name}`, kind: request.resource.kind, requestId: request.requestId, action: request.action });
      const started = performance.now();
      let event: StatusEvent;
      try {
        const outcome = await apply(request);
        options.metrics?.observe('broker_apply', request.resource.kind, (performance.now() - started) / 1000);
        event = statusEventFor(request, outcome, now());
      } catch (err) {
        const permanent = err instanceof DeployFailedError && err.permanent;
        options.metrics?.error('broker_apply', request.resource.kind, permanent ? 'permanent' : 'transient');
        log.warn({ err: (err as Error).message, permanent }, 'request failed');
        event = statusEventFor(request, { phase: 'Failed', reason: 'ApplyFailed', message: (err as Error).message, permanent }, now());
      }
      const channel = await reporter.report(event);
      log.info({ phase: event.phase, eventId: event.eventId, channel }, 'request processed');
      return { event, channel };
    });
    inFlight.set(key, run);
    void run.finally(() => {
      if (inFlight.get(key) === run) inFlight.delete(key);
    }).catch(() => undefined);
    return run;
  }

  const consumers: RunningConsumer[] = [];
  if (kafka) {
    await ensureTopics(kafka, PROTOCOL_TOPICS);
    for (const identity of identities) {
      consumers.push(
        await consumeMessages({
          kafka,
          groupId: `kidp-broker-${identity}`,
          topic: REQUESTS_TOPIC,
          parse: parseRequest,
          logger: logger.child({ identity }),
          metrics: options.metrics,
          sleep: options.sleep,
          ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
          handle: async (request) => {
            // Other brokers' work: skipped, and the offset is committed like any other.
            if (request.target.identity !== identity) return;
            await process(request);
          },
        }),
      );
    }
  }

  let server: Server | undefined;
  let webhookURL: string | undefined;
  if (options.webhook && !options.webhook.platformPublicKeyPem) {
    logger.warn(
      { port: options.webhook.port },
      'webhook not served: no platform public key to authenticate deliveries (kidp broker run --platform-public-key-file); requests come from Kafka only',
    );
  }
  if (options.webhook?.platformPublicKeyPem) {
    const platformKey = es256PublicKeys(options.webhook.platformPublicKeyPem, 'the platform public key');
    const app = express();
    app.disable('x-powered-by');
    app.get('/healthz', (_req, res) => {
      res.type('text/plain').send('ok');
    });
    const refuseUnauthenticated = (req: Request, res: Response, err: RequestUnauthenticatedError) => {
      options.metrics?.error('webhook_receive', 'webhook', 'unauthorized');
      // The reason and the caller's address, never the token.
      logger.warn({ code: err.code, reason: err.reason, remoteAddress: req.socket.remoteAddress, detail: err.message }, 'webhook delivery refused: not authenticated');
      res.status(401).set('www-authenticate', 'Bearer').json({ code: err.code, reason: err.reason, message: err.message });
    };
    app.post(WEBHOOK_PATH, express.raw({ type: () => true, limit: MAX_MESSAGE_BYTES }), async (req: Request, res: Response) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      // Authenticate before reading the body: an unauthenticated caller learns nothing else.
      let token: VerifiedRequestToken;
      try {
        token = await verifyRequestToken({ authorization: req.get('authorization'), body, publicKey: platformKey, audiences: [...identities], now: now() });
      } catch (err) {
        if (err instanceof RequestUnauthenticatedError) {
          refuseUnauthenticated(req, res, err);
          return;
        }
        throw err;
      }
      const parsed = parseRequest(body);
      if (!parsed.ok) {
        options.metrics?.error('webhook_receive', 'webhook', 'malformed');
        logger.warn({ code: parsed.error.code, reason: parsed.error.message }, 'webhook request refused');
        res.status(400).json({ code: parsed.error.code, message: parsed.error.message });
        return;
      }
      const request = parsed.value;
      try {
        checkTokenMatchesRequest(token, request);
      } catch (err) {
        if (err instanceof RequestUnauthenticatedError) {
          refuseUnauthenticated(req, res, err);
          return;
        }
        throw err;
      }
      // Reachable with a token for several identities; the request's own must be one we serve.
      if (!identities.has(request.target.identity)) {
        options.metrics?.error('webhook_receive', 'webhook', 'forbidden');
        res.status(403).json({ message: `this broker serves ${[...identities].join(', ')}, not ${request.target.identity}` });
        return;
      }
      try {
        const { event, channel } = await process(request);
        res.status(200).json({ requestId: request.requestId, eventId: event.eventId, phase: event.phase, statusChannel: channel });
      } catch (err) {
        // Applied (or failed) but not reported: 503 makes the controller retry, and the
        // retry is an idempotent re-apply that reports again.
        res.status(503).json({ message: (err as Error).message });
      }
    });
    server = createServer({ cert: options.webhook.tls.certPem, key: options.webhook.tls.keyPem }, app);
    const host = options.webhook.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server?.once('error', reject);
      server?.listen(options.webhook?.port, host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    webhookURL = `https://${host.includes(':') ? `[${host}]` : host}:${port}${WEBHOOK_PATH}`;
  }
  logger.info({ identities: [...identities], kafka: Boolean(kafka), webhookURL }, 'reference broker running');

  return {
    webhookURL,
    joined: Promise.all(consumers.map((c) => c.joined)).then(() => undefined),
    async stop() {
      await Promise.all(consumers.map((c) => c.stop().catch(() => undefined)));
      if (server) {
        const s = server;
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        });
      }
      await reporter.close();
    },
  };
}
