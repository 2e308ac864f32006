// The broker runtime (issue 5 item 5, issue 15 item 1): a stateless worker. It consumes the
// requests of its identities from Kafka (one consumer group per identity, skipping other
// brokers' requests), accepts the same requests on its HTTPS webhook for the fallback,
// hands them to its Provisioner (provisioner.ts; the reference `kubernetes` one by
// default), writes the connection Secret the provisioner returns, and reports a
// StatusEvent for each. Everything it needs is in the request and the DeploymentTarget; a
// restarted broker resumes from its group's committed offsets.
//
// The webhook is authenticated (request-jwt.ts): a delivery needs a controllers' token over
// its exact body, checked against the platform public key. Without that key the broker
// does not serve the webhook at all; an open endpoint would deploy whatever anyone sends.
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ApiException, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { PROTOCOL_VERSION, REQUESTS_TOPIC, STATUS_TOPIC, type DeploymentRequest, type StatusEvent, type Usage } from '../contract.js';
import { DeployFailedError, PlacementRefusedError, RequestUnauthenticatedError } from '../errors.js';
import { DLQ_SUFFIX, consumeMessages, createKafka, ensureTopics, type RunningConsumer } from '../kafka.js';
import { ReplayGuard, authenticateRequestMessage } from '../message-signing.js';
import { RequestPlacement, warmReplayGuard } from '../kafka-replay-scan.js';
import { kafkaTls, type KafkaTls } from '../../kube/kafka.js';
import { DEPLOYABLE_PLURALS, PLATFORM_GROUP, PLATFORM_VERSION } from '../../crds/registry.js';
import { checkWorkload, placeRequest, type PlacementConfig } from './confinement.js';
import type { ProvisionContext, ProvisionOutcome, Provisioner, TargetAws, TargetRecord, TargetServer } from '../provisioner.js';
import { DEFAULT_PRICES, usageFor, type PriceTable, type UsageMeasure } from '../usage.js';
import { kubernetesProvisioner } from './kubernetes-provisioner.js';
import { Relationships } from './relationships.js';
import type { BrokerMetrics } from '../metrics.js';
import { MAX_MESSAGE_BYTES, parseRequest } from '../protocol.js';
import { checkTokenMatchesRequest, es256PublicKeys, verifyRequestToken, type VerifiedRequestToken } from '../request-jwt.js';
import { KubernetesApplier, type ApplyOutcome } from './apply.js';
import { StatusReporter } from './reporter.js';
import type { TopicAccessOptions } from './topic.js';
import { PrincipalLocks } from './topic-access.js';

export const WEBHOOK_PATH = '/v1/requests';
/** A DeploymentTarget read serves this broker's requests for the next 5 s: an admin's edit (its namespace, its broker) is obeyed that much later. */
export const TARGET_CACHE_MS = 5_000;

export interface ReferenceBrokerOptions {
  /** Broker identities served (consumer group `kidp-broker-<identity>` each). */
  identities: string[];
  /** Kafka bootstrap servers; requests are consumed and status produced here. Empty: webhook only. */
  kafkaBrokers: string[];
  /** This broker's Kafka client certificate directory (principal kidp-broker-<identity>; kube/kafka.ts). */
  kafkaTls?: KafkaTls | string;
  /** Kafka cluster that Topic resources are created in; defaults to `kafkaBrokers`. */
  topicKafkaBrokers?: string[];
  /**
   * The name-constrained application issuer (ca.crt, tls.crt, tls.key of kidp-app-issuer;
   * app-certificate.ts): with it, a Topic's owning Application gets its client certificate
   * in a Secret `<topic>-kafka`. Without it, only the ACLs (an operator issues the certificate).
   */
  applicationIssuer?: KafkaTls | string;
  /**
   * The controllers' dispatch public key(s) (SPKI PEM, EC P-256; several blocks during a
   * rotation): every request, on Kafka and by webhook, must be signed by one of them.
   * Required with Kafka; without it the webhook is not served either.
   */
  platformPublicKeyPem?: string;
  /** Where this broker may write (confinement.ts); placement itself comes from the DeploymentTarget. */
  placement: PlacementConfig;
  /** The target cluster the broker deploys into (and where connection Secrets and DeploymentTargets are read). */
  targetKubeConfig: KubeConfig;
  /** What requests become; default the reference `kubernetes` provider on `targetKubeConfig`. */
  provisioner?: Provisioner;
  /** kubernetes provider: how often Services' database mounts are re-checked (default RELATIONSHIP_RESYNC_MS, 15 s). */
  relationshipResyncMs?: number;
  /**
   * Webhook endpoint for the fallback (POST /v1/requests). Omit to run Kafka-only. Served
   * only with `platformPublicKeyPem` (logged otherwise), never unauthenticated.
   */
  webhook?: { host?: string; port: number; tls: { certPem: string; keyPem: string } };
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
  /** The price table usage is priced from (brokers/usage.ts; `--price-table`); default DEFAULT_PRICES, illustrative figures. */
  prices?: PriceTable;
  /** How often a provisioned resource's usage is reported again (default USAGE_REPORT_INTERVAL_MS, 1 h); 0: only with each request. */
  usageReportIntervalMs?: number;
  /** false: do not resume backup schedules and usage reports of Ready resources at start (default true, for a provisioner given here). */
  resume?: boolean;
}

/** A deployable as listed from the apiserver, for resuming (the fields read). */
interface ResumableObject {
  metadata: { name: string; namespace: string; uid: string; generation: number; labels?: Record<string, string>; deletionTimestamp?: string };
  spec?: Record<string, unknown>;
  status?: {
    phase?: string;
    observedGeneration?: number;
    target?: string;
    requestId?: string;
    lastStatusTime?: string;
    conditions?: Array<{ type: string; reason: string; message: string }>;
    connectionSecretRef?: { name?: string; namespace?: string };
    backup?: { lastBackupTime: string; location?: string };
    usage?: { priceClass: string; sizeGiB?: number; hours: number };
  };
}

/**
 * Usage is re-reported hourly: a bill by the hour moves once an hour, and each report is one
 * status record and one fold write of the resource (and at most one Team write), so a
 * shorter interval would only multiply apiserver writes.
 */
export const USAGE_REPORT_INTERVAL_MS = 60 * 60_000;

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
  const provider = options.provisioner?.provider ?? 'kubernetes';
  const logger = options.logger.child({ component: `broker-${provider}` });
  const now = options.now ?? (() => new Date());
  const identities = new Set(options.identities);
  const applier = new KubernetesApplier(options.targetKubeConfig);
  const tls = kafkaTls(options.kafkaTls);
  const platformKeys = options.platformPublicKeyPem ? es256PublicKeys(options.platformPublicKeyPem, 'the platform public key') : undefined;
  if (options.kafkaBrokers.length > 0 && !platformKeys) {
    throw new Error("a broker consuming Kafka needs the controllers' dispatch public key (platformPublicKeyPem / --platform-public-key-file): every request is signed, and none could be verified");
  }
  const kafka = options.kafkaBrokers.length > 0 ? createKafka({ brokers: options.kafkaBrokers, clientId: `kidp-broker-${provider}`, logger, ...(tls ? { tls } : {}) }) : undefined;
  const topicKafka =
    options.topicKafkaBrokers && options.topicKafkaBrokers.join(',') !== options.kafkaBrokers.join(',')
      ? createKafka({ brokers: options.topicKafkaBrokers, clientId: 'kidp-broker-kubernetes-topics', logger, ...(tls ? { tls } : {}) })
      : kafka;
  let relationships: Relationships | undefined;
  if (!options.provisioner) {
    relationships = new Relationships({ kubeConfig: options.targetKubeConfig, placement: options.placement, logger, ...(options.relationshipResyncMs !== undefined ? { resyncMs: options.relationshipResyncMs } : {}) });
    relationships.start();
  }
  // A Topic owner's ACLs and client certificate (topic-access.ts, app-certificate.ts).
  const applicationIssuer = kafkaTls(options.applicationIssuer);
  const topicAccess: TopicAccessOptions = { locks: new PrincipalLocks(), bootstrap: options.topicKafkaBrokers ?? options.kafkaBrokers, ...(applicationIssuer ? { issuer: applicationIssuer } : {}) };
  const provisioner = options.provisioner ?? kubernetesProvisioner({ applier, topicAccess, ...(topicKafka ? { topicKafka } : {}), ...(relationships ? { relationships } : {}) });
  const signingKeyPem = options.signingKeyPem ?? (options.signingKeyFile ? await readFile(options.signingKeyFile, 'utf8') : undefined);
  const reporter = new StatusReporter({ kafka, ...(tls ? { kafkaTls: tls } : {}), statusApi: options.statusApi, signingKeyPem, logger, metrics: options.metrics, now, sleep: options.sleep });
  const customObjects = options.targetKubeConfig.makeApiClient(CustomObjectsApi);
  const targets = new Map<string, { at: number; target: Promise<TargetRecord | undefined> }>();

  /** The DeploymentTarget as stored (cached TARGET_CACHE_MS): the only source of placement. */
  function readTarget(name: string): Promise<TargetRecord | undefined> {
    const at = now().getTime();
    const cached = targets.get(name);
    if (cached && at - cached.at < TARGET_CACHE_MS) return cached.target;
    const target = (async () => {
      try {
        const obj = (await customObjects.getClusterCustomObject({ group: 'platform.kidp.io', version: 'v1alpha1', plural: 'deploymenttargets', name })) as {
          spec?: { namespace?: string; provider?: string; server?: TargetServer; region?: string; aws?: TargetAws; broker?: { identity?: string } };
        };
        const spec = obj.spec;
        return {
          name,
          ...(spec?.namespace ? { namespace: spec.namespace } : {}),
          ...(spec?.broker?.identity ? { identity: spec.broker.identity } : {}),
          ...(spec?.provider ? { provider: spec.provider } : {}),
          ...(spec?.server ? { server: spec.server } : {}),
          ...(spec?.region ? { region: spec.region } : {}),
          ...(spec?.aws ? { aws: spec.aws } : {}),
        };
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return undefined;
        throw err;
      }
    })();
    targets.set(name, { at, target });
    target.catch(() => {
      if (targets.get(name)?.target === target) targets.delete(name);
    });
    return target;
  }

  /** The request as it will be carried out: placed by the DeploymentTarget, its workload checked (confinement.ts). */
  async function confine(request: DeploymentRequest): Promise<{ request: DeploymentRequest; target: TargetRecord }> {
    const target = await readTarget(request.target.name);
    const placed = placeRequest(request, target, options.placement);
    // placeRequest refused a missing target; a target of another provider is not ours to act on.
    if (!target || (target.provider ?? 'kubernetes') !== provider) {
      throw new PlacementRefusedError(request.requestId, `DeploymentTarget ${request.target.name} is for provider ${target?.provider ?? 'none'}; this broker provisions ${provider}`);
    }
    const { secretRefs } = checkWorkload(placed);
    if (secretRefs.length > 0) await applier.checkSecretRefs(placed, secretRefs);
    return { request: placed, target };
  }
  // Requests for one resource are applied one at a time, whichever transport brought them.
  const inFlight = new Map<string, Promise<unknown>>();

  const prices = options.prices ?? DEFAULT_PRICES;
  const usageIntervalMs = options.usageReportIntervalMs ?? USAGE_REPORT_INTERVAL_MS;
  // One timer per resource whose last request reported usage; replaced by its next request, gone with its delete.
  const usageTimers = new Map<string, ReturnType<typeof setInterval>>();
  const stopUsage = (uid: string) => {
    clearInterval(usageTimers.get(uid));
    usageTimers.delete(uid);
  };

  /** The usage figures of an outcome now, or undefined (no measure, or a class the table does not price: logged). */
  function priced(request: DeploymentRequest, measure: UsageMeasure | undefined, secretCreatedAt: string | undefined, at: Date): Usage | undefined {
    if (!measure) return undefined;
    const since = measure.since ?? secretCreatedAt ?? at.toISOString();
    const usage = usageFor({ ...measure, since }, at, prices);
    if (!usage) logger.warn({ key: `${request.resource.namespace}/${request.resource.name}`, priceClass: measure.priceClass }, 'no price for this class in the price table; usage not reported');
    return usage;
  }

  /** Re-reports the outcome's usage every interval, as a further Ready event of the request (the same reason and message, so conditions stay). */
  function scheduleUsage(request: DeploymentRequest, done: ProvisionOutcome, connectionSecretRef: { name: string; namespace: string } | undefined, secretCreatedAt: string | undefined): void {
    const uid = request.resource.uid;
    stopUsage(uid);
    if (!done.usage || usageIntervalMs <= 0) return;
    const measure = done.usage;
    const since = measure.since ?? secretCreatedAt ?? now().toISOString();
    const timer = setInterval(() => {
      const at = now();
      const usage = priced(request, { ...measure, since }, undefined, at);
      if (!usage) return;
      const outputs = { ...(done.outputs ?? {}), ...(connectionSecretRef ? { connectionSecretRef } : {}), usage };
      const event = statusEventFor(request, { phase: 'Ready', reason: done.reason, message: done.message, outputs }, at);
      reporter.report({ ...event, eventId: `${event.eventId}:usage-${at.getTime()}` }).catch((err: unknown) => logger.warn({ err: (err as Error).message, requestId: request.requestId }, 'usage report not sent; the next one carries the hours'));
    }, usageIntervalMs);
    timer.unref();
    usageTimers.set(uid, timer);
  }

  async function contextFor(request: DeploymentRequest, target: TargetRecord): Promise<ProvisionContext> {
    return {
      target,
      connection: await applier.readConnection(request),
      readSecret: (ref) => applier.readSecretData(request, ref),
      reportLater: async (update) => {
        const event = statusEventFor(request, { phase: 'Ready', reason: update.reason, message: update.message, ...(update.outputs ? { outputs: update.outputs } : {}) }, now());
        await reporter.report({ ...event, eventId: `${event.eventId}:${update.key}` });
      },
      logger: logger.child({ key: `${request.resource.namespace}/${request.resource.name}`, requestId: request.requestId }),
    };
  }

  /**
   * After a restart (issue 15): what lived only in the previous process — the provisioner's
   * (backup schedules, Provisioner.resume) and the hourly usage reports — for each resource of
   * this broker's targets that is Ready at its current generation. The request is rebuilt from
   * the object as the apiserver holds it and confined like any other; nothing is provisioned.
   * Needs list on the provider's kinds; without it, logged, and a resource resumes with its next request.
   */
  async function resumeAll(): Promise<void> {
    for (const kind of provisioner.kinds) {
      let items: ResumableObject[];
      try {
        items = ((await customObjects.listClusterCustomObject({ group: PLATFORM_GROUP, version: PLATFORM_VERSION, plural: DEPLOYABLE_PLURALS[kind] })) as { items?: ResumableObject[] }).items ?? [];
      } catch (err) {
        logger.warn({ kind, err: (err as Error).message }, 'cannot list resources to resume; each resumes with its next request');
        continue;
      }
      for (const obj of items) {
        const { metadata, spec = {}, status } = obj;
        const targetName = status?.target ?? (spec['target'] as string | undefined);
        if (!targetName || metadata.deletionTimestamp || status?.phase !== 'Ready' || status.observedGeneration !== metadata.generation) continue;
        try {
          const target = await readTarget(targetName);
          if (!target || (target.provider ?? 'kubernetes') !== provider || !target.identity || !identities.has(target.identity)) continue;
          const request: DeploymentRequest = {
            apiVersion: PROTOCOL_VERSION,
            kind: 'DeploymentRequest',
            requestId: status.requestId ?? `${metadata.uid}-${metadata.generation}`,
            action: 'deploy',
            target: { name: targetName, identity: target.identity, provider, environment: String(spec['environment'] ?? 'development') },
            resource: { kind, namespace: metadata.namespace, name: metadata.name, uid: metadata.uid, generation: metadata.generation, labels: metadata.labels ?? {}, spec },
            issuedAt: now().toISOString(),
          };
          const confined = await confine(request);
          const context = await contextFor(confined.request, confined.target);
          await provisioner.resume?.(confined.request, context, { ...(status.backup ? { backup: status.backup } : {}) });
          const usage = status.usage;
          const ready = status.conditions?.find((c) => c.type === 'Ready');
          if (usage && ready && status.lastStatusTime) {
            // The start the hours were counted from, read back from the last report.
            const since = new Date(Date.parse(status.lastStatusTime) - usage.hours * 3_600_000).toISOString();
            const ref = status.connectionSecretRef?.name && status.connectionSecretRef.namespace ? { name: status.connectionSecretRef.name, namespace: status.connectionSecretRef.namespace } : undefined;
            scheduleUsage(confined.request, { reason: ready.reason, message: ready.message, usage: { priceClass: usage.priceClass, ...(usage.sizeGiB !== undefined ? { sizeGiB: usage.sizeGiB } : {}), since } }, ref, undefined);
          }
          logger.info({ key: `${metadata.namespace}/${metadata.name}`, kind }, 'resumed after start');
        } catch (err) {
          logger.warn({ key: `${metadata.namespace}/${metadata.name}`, kind, err: (err as Error).message }, 'could not resume; it resumes with its next request');
        }
      }
    }
  }

  async function apply(received: DeploymentRequest): Promise<ApplyOutcome> {
    const { request, target } = await confine(received);
    if (!provisioner.kinds.includes(request.resource.kind)) {
      throw new DeployFailedError(request.requestId, `provider ${provider} does not provision ${request.resource.kind} resources (it does ${provisioner.kinds.join(', ')}); point the resource at another DeploymentTarget`, true);
    }
    const context = await contextFor(request, target);
    if (request.action === 'delete') {
      stopUsage(request.resource.uid);
      const done = await provisioner.deprovision(request, context);
      await applier.removeConnection(request);
      return { phase: 'Deleted', reason: done.reason, message: done.message };
    }
    const done = await provisioner.provision(request, context);
    const applied = done.connection ? await applier.applyConnection(request, done.connection) : undefined;
    const connectionSecretRef = applied ? { name: applied.name, namespace: applied.namespace } : undefined;
    const usage = priced(request, done.usage, applied?.createdAt, now());
    const outputs = connectionSecretRef || usage ? { ...done.outputs, ...(connectionSecretRef ? { connectionSecretRef } : {}), ...(usage ? { usage } : {}) } : done.outputs;
    scheduleUsage(request, done, connectionSecretRef, applied?.createdAt);
    return { phase: 'Ready', reason: done.reason, message: done.message, ...(outputs ? { outputs } : {}) };
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
        const refused = err instanceof PlacementRefusedError;
        const permanent = refused || (err instanceof DeployFailedError && err.permanent);
        options.metrics?.error('broker_apply', request.resource.kind, refused ? 'refused' : permanent ? 'permanent' : 'transient');
        log.warn({ err: (err as Error).message, permanent, ...(refused ? { code: err.code } : {}) }, refused ? 'request refused: outside this broker\'s confinement' : 'request failed');
        event = statusEventFor(request, { phase: 'Failed', reason: refused ? 'PlacementRefused' : 'ApplyFailed', message: (err as Error).message, permanent }, now());
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

  // Before any request is taken, so a resumed schedule never races a new request's.
  if (options.provisioner && options.resume !== false) await resumeAll();

  const consumers: RunningConsumer[] = [];
  if (kafka && platformKeys) {
    await ensureTopics(kafka, [REQUESTS_TOPIC, STATUS_TOPIC, REQUESTS_TOPIC + DLQ_SUFFIX]);
    const readPartitions = async () => {
      const admin = kafka.admin();
      await admin.connect();
      try {
        return (await admin.fetchTopicMetadata({ topics: [REQUESTS_TOPIC] })).topics[0]?.partitions.length ?? 0;
      } finally {
        await admin.disconnect();
      }
    };
    for (const identity of identities) {
      const replay = new ReplayGuard(() => now().getTime());
      // What this identity was sent in the last token lifetime, before taking anything new:
      // a copy of any of it is a replay, restart or not (kafka-replay-scan.ts).
      let partitions: number;
      try {
        const scanned = await warmReplayGuard({ kafka, topic: REQUESTS_TOPIC, identity, replay, now: () => now().getTime(), logger: logger.child({ identity }) });
        partitions = scanned.partitions;
        logger.info({ identity, tokens: scanned.tokens }, 'replay guard warmed from the request topic');
      } catch (err) {
        // Never worse than a guard that forgets on restart, and the broker still serves: an
        // outage would be the bigger harm. Said loudly, with the fix.
        options.metrics?.error('kafka_consume', 'kafka', 'replay_scan_failed');
        logger.error(
          { identity, err: (err as Error).message, group: `kidp-broker-${identity}/replay-scan/*` },
          'replay scan of the request topic failed (does the broker principal have READ on its replay-scan groups? run kidp kafka setup); copies of requests signed before this start will not be recognised as replays',
        );
        partitions = await readPartitions();
      }
      const placement = new RequestPlacement(partitions, readPartitions, () => now().getTime());
      consumers.push(
        await consumeMessages({
          kafka,
          groupId: `kidp-broker-${identity}`,
          topic: REQUESTS_TOPIC,
          ...(tls ? { rotateWith: tls } : {}),
          parse: parseRequest,
          logger: logger.child({ identity }),
          metrics: options.metrics,
          sleep: options.sleep,
          ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
          // Other brokers' requests are skipped unverified (their tokens are not for us);
          // ours must be signed by the controllers for this identity and these bytes.
          authenticate: async (request, record) => {
            if (request.target.identity !== identity) return false;
            await placement.check(request.resource.uid, record);
            await authenticateRequestMessage({ request, body: record.bytes, headers: record.headers, at: record.at, identity, platformKeys, replay, now: now() });
            return true;
          },
          handle: async (request, { auth }) => {
            // Other brokers' work: skipped, and the offset is committed like any other.
            if (auth !== true) return;
            await process(request);
          },
        }),
      );
    }
  }

  let server: Server | undefined;
  let webhookURL: string | undefined;
  if (options.webhook && !platformKeys) {
    logger.warn(
      { port: options.webhook.port },
      'webhook not served: no platform public key to authenticate deliveries (kidp broker run --platform-public-key-file); requests come from Kafka only',
    );
  }
  if (options.webhook && platformKeys) {
    const platformKey = platformKeys;
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
  logger.info({ identities: [...identities], provider, kafka: Boolean(kafka), webhookURL }, 'broker running');

  return {
    webhookURL,
    joined: Promise.all(consumers.map((c) => c.joined)).then(() => undefined),
    async stop() {
      for (const uid of [...usageTimers.keys()]) stopUsage(uid);
      await Promise.all(consumers.map((c) => c.stop().catch(() => undefined)));
      if (server) {
        const s = server;
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        });
      }
      await reporter.close();
      await provisioner.close();
    },
  };
}
