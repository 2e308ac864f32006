// Runs the webhook for real: `kidp webhook serve`, `make up`, deploy/. Two sources of
// truth: a cluster (informers; webhook configurations registered and their caBundle kept
// current) or a folder of YAML (--policies: no cluster lookups at all).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import pino, { type Logger } from 'pino';
import { Counter, Gauge } from 'prom-client';
import { createCertificateManager, SecretCertificateStore, type CertificateManager } from '../certs/index.js';
import { ClusterView } from './cluster-view.js';
import { subjectAccessReviewer } from './authorizer.js';
import { MemoryView } from './memory-view.js';
import { PolicyStore } from './policy-store.js';
import { startWebhookServer, type WebhookServer } from './server.js';
import { fileSink, stdoutSink, type DecisionSink } from './decision-log.js';
import { startDecisionStream, teeSinks, type DecisionStream } from './decision-stream.js';
import { AdmissionMetrics } from './metrics.js';
import { webhookConfigurations, type WebhookConfigOptions } from './webhook-config.js';
import { DEFAULT_OWNERSHIP_OPTIONS } from './ownership.js';
import { MemoryParamSource, nativelyEnforced, PLATFORM_GROUP, type ParamSource } from '../policy-engine/policy/index.js';
import type { KubeObject } from './review.js';
import type { Policy, PolicyException } from '../crds/types.js';
import { isPlatformKind, MANAGED_BY } from '../crds/registry.js';

export interface ServeOptions {
  /** Standalone: Policies, PolicyExceptions and owner objects from this folder; no cluster. */
  policiesDir?: string;
  /** Cluster mode: path to a kubeconfig, else the default loading rules (in-cluster, KUBECONFIG). */
  kubeconfig?: string;
  host?: string;
  port?: number;
  /** Where the CA and serving certificate live: a directory, or (replicas sharing one CA) */
  certDir?: string;
  /** a Secret `namespace/name` in the cluster. */
  certSecret?: string;
  serviceName?: string;
  namespace?: string;
  /**
   * Local development: register webhook configurations pointing at this URL base
   * (true: https://127.0.0.1:<listening port>) with our caBundle, and keep them current.
   */
  registerUrl?: string | true;
  /** JSON-lines decision log file; '-' for standard output. */
  decisionLog?: string;
  /** Publish every decision to Kafka (kidp.admission-decisions), buffered off the request path. */
  decisionStream?: { brokers: string[]; tls?: string; capacity?: number };
  logger?: Logger;
  /** PEM file of the CA whose client certificates alone may send reviews (the apiserver's). */
  clientCaFile?: string;
  /** With clientCaFile: only these certificate CNs. */
  clientNames?: string[];
  /** The latest a PolicyException may expire, in days from now (default 90). */
  maxExceptionDays?: number;
  /** failurePolicy of the core-kinds webhook in the configurations this webhook keeps current (default Ignore). */
  coreFailurePolicy?: 'Fail' | 'Ignore';
  /** Rule sync period; tests shorten it. */
  registrationSyncMs?: number;
}

/**
 * How often the webhook re-checks the rules its Policies need (cheap: compares JSON), so a
 * Policy on a new kind is enforced within seconds of being applied.
 */
const REGISTRATION_SYNC_MS = 2_000;
const NAME = 'kidp';

export interface RunningWebhook {
  server: WebhookServer;
  decisionStream?: DecisionStream;
  store: PolicyStore;
  certificates: CertificateManager;
  stop(): Promise<void>;
}

/** Reads every YAML document under dir (recursively) into the view and the store. */
export function loadFolder(dir: string, view: MemoryView, store: PolicyStore, params?: MemoryParamSource): { policies: number; exceptions: number; objects: number } {
  const counts = { policies: 0, exceptions: 0, objects: 0 };
  const files: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d).sort()) {
      const path = join(d, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.ya?ml$/.test(entry)) files.push(path);
    }
  };
  walk(dir);
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message ?? 'invalid YAML'}`);
      const obj = doc.toJS() as KubeObject | null;
      if (!obj || typeof obj !== 'object') continue;
      if (obj.kind === 'Policy' && obj.apiVersion?.startsWith(`${PLATFORM_GROUP}/`)) {
        store.upsertPolicy(obj as unknown as Policy);
        counts.policies += 1;
      } else if (obj.kind === 'PolicyException') {
        store.upsertException(obj as unknown as PolicyException);
        counts.exceptions += 1;
      } else {
        view.upsert(obj);
        // Any object may be a Policy's parameter (paramKind): files stand in for the cluster.
        params?.add(obj);
        counts.objects += 1;
      }
    }
  }
  return counts;
}

/** Core kinds the current policies select: the core webhook's rules follow them. */
function coreResourceTypes(store: PolicyStore): string[] {
  const types = new Set<string>();
  for (const p of store.policies()) for (const t of p.resourceTypes) if (!isPlatformKind(t)) types.add(t);
  return [...types].sort();
}

type Configurations = ReturnType<typeof webhookConfigurations>;
type Endpoint = WebhookConfigOptions['endpoint'];

/** Where an existing configuration sends reviews (deploy/ or an overlay decides), without the path. */
function endpointOf(config: { webhooks?: Array<{ clientConfig?: { url?: string; service?: { namespace: string; name: string; port?: number } } }> }): Endpoint | undefined {
  const cc = config.webhooks?.[0]?.clientConfig;
  if (cc?.url) return { url: cc.url.replace(/\/(validate|mutate)$/, '') };
  if (cc?.service) return { service: { namespace: cc.service.namespace, name: cc.service.name, port: cc.service.port ?? 443 } };
  return undefined;
}

const isNotFound = (e: unknown): boolean => (e as { code?: number }).code === 404;

async function register(api: AdmissionregistrationV1Api, configs: Configurations): Promise<void> {
  const upsert = async <T extends { metadata?: { name?: string; resourceVersion?: string } }>(
    read: (name: string) => Promise<T>,
    create: (body: T) => Promise<unknown>,
    replace: (name: string, body: T) => Promise<unknown>,
    body: T,
  ) => {
    const name = body.metadata?.name ?? '';
    try {
      const existing = await read(name);
      await replace(name, { ...body, metadata: { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion } });
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await create(body);
    }
  };
  await upsert(
    (name) => api.readMutatingWebhookConfiguration({ name }),
    (body) => api.createMutatingWebhookConfiguration({ body }),
    (name, body) => api.replaceMutatingWebhookConfiguration({ name, body }),
    configs.mutating,
  );
  await upsert(
    (name) => api.readValidatingWebhookConfiguration({ name }),
    (body) => api.createValidatingWebhookConfiguration({ body }),
    (name, body) => api.replaceValidatingWebhookConfiguration({ name, body }),
    configs.validating,
  );
}

/**
 * deploy/: the configurations exist (kubectl apply -k deploy/) and the webhook may only get
 * and update them (deploy/rbac.yaml). Their webhooks are rewritten as the Policies need,
 * keeping where they send reviews and their metadata. Returns the desired text written.
 */
async function updateInPlace(api: AdmissionregistrationV1Api, desiredFor: (endpoint: Endpoint) => Configurations, fallback: Endpoint): Promise<string> {
  const validating = await api.readValidatingWebhookConfiguration({ name: NAME });
  const mutating = await api.readMutatingWebhookConfiguration({ name: NAME });
  const desired = desiredFor(endpointOf(validating) ?? endpointOf(mutating) ?? fallback);
  await api.replaceMutatingWebhookConfiguration({ name: NAME, body: { ...mutating, webhooks: desired.mutating.webhooks } });
  await api.replaceValidatingWebhookConfiguration({ name: NAME, body: { ...validating, webhooks: desired.validating.webhooks } });
  return JSON.stringify(desired);
}

export async function serveWebhook(options: ServeOptions): Promise<RunningWebhook> {
  const logger = options.logger ?? pino({ name: 'kidp-webhook' });
  // Against a cluster, a Policy the apiserver enforces natively (its VAP written for this
  // generation) is not evaluated twice; from files there is no apiserver, so every one is.
  const store = new PolicyStore(logger, options.policiesDir ? undefined : nativelyEnforced);
  let kubeConfig: KubeConfig | undefined;
  if (!options.policiesDir) {
    kubeConfig = new KubeConfig();
    if (options.kubeconfig) kubeConfig.loadFromFile(options.kubeconfig);
    else kubeConfig.loadFromDefault();
  }
  let certStore: SecretCertificateStore | undefined;
  if (options.certSecret) {
    const [namespace, name] = options.certSecret.split('/');
    if (!kubeConfig || !namespace || !name) throw new Error('--cert-secret needs the form namespace/name and a cluster (not --policies)');
    certStore = new SecretCertificateStore({ api: kubeConfig.makeApiClient(CoreV1Api), namespace, name, labels: { ...MANAGED_BY } });
  } else if (!options.certDir) {
    throw new Error('give a certificate directory (--cert-dir) or Secret (--cert-secret)');
  }
  const certificates = createCertificateManager({
    ...(certStore ? { store: certStore } : { dir: options.certDir }),
    serviceName: options.serviceName ?? 'kidp-webhook',
    namespace: options.namespace ?? 'kidp-system',
    onError: (e) => logger.error({ err: e }, 'certificate rotation failed; the current certificate keeps serving'),
  });
  const material = await certificates.start();
  const metrics = new AdmissionMetrics();
  const logDropped = new Counter({
    name: 'kidp_decision_log_dropped_total',
    help: 'Decision records not written because the decision log was too far behind (MAX_BUFFERED_BYTES).',
    registers: [metrics.registry],
  });
  let warnedDrop = false;
  const onDrop = (): void => {
    logDropped.inc();
    if (!warnedDrop) logger.warn('decision log is too far behind its disk or reader; records are being dropped (kidp_decision_log_dropped_total)');
    warnedDrop = true;
  };
  let decisionLog: DecisionSink | undefined;
  if (options.decisionLog === '-') decisionLog = stdoutSink({ onDrop });
  else if (options.decisionLog) decisionLog = fileSink(options.decisionLog, (e) => logger.error({ err: e }, 'decision log write failed'), { onDrop });
  // For the certificate-expiry alert (deploy/monitoring/alerts.yaml).
  new Gauge({
    name: 'kidp_certificate_expiry_timestamp_seconds',
    help: 'When the serving certificate in use expires (Unix seconds).',
    labelNames: ['certificate'],
    registers: [metrics.registry],
    collect() {
      this.set({ certificate: 'serving' }, certificates.current().notAfter.getTime() / 1000);
    },
  });
  let decisionStream: DecisionStream | undefined;
  if (options.decisionStream) decisionStream = startDecisionStream({ ...options.decisionStream, registry: metrics.registry, logger });
  decisionLog = teeSinks(decisionLog, decisionStream);

  let view: MemoryView;
  let clusterView: ClusterView | undefined;
  let params: ParamSource;
  if (options.policiesDir || !kubeConfig) {
    // Files are a partial picture: owners not among them are assumed to exist.
    view = new MemoryView(false);
    const fileParams = new MemoryParamSource();
    params = fileParams;
    const counts = options.policiesDir ? loadFolder(options.policiesDir, view, store, fileParams) : { policies: 0, exceptions: 0, objects: 0 };
    logger.info({ dir: options.policiesDir, ...counts, problems: store.problemsList() }, 'loaded policies from files (standalone: no cluster lookups)');
  } else {
    clusterView = new ClusterView({ kubeConfig, store, logger });
    view = clusterView;
    params = clusterView;
  }

  const platformNamespace = options.namespace ?? DEFAULT_OWNERSHIP_OPTIONS.platformNamespace;
  const server = await startWebhookServer({
    logger,
    tls: { cert: material.certPem, key: material.keyPem },
    view,
    store,
    params,
    // The requesting user's checks go to the apiserver; standalone (files) has none to ask.
    ...(clusterView && kubeConfig ? { authorize: subjectAccessReviewer(kubeConfig) } : {}),
    decisionLog,
    metrics,
    host: options.host,
    port: options.port,
    ownership: { platformNamespace },
    ...(options.maxExceptionDays !== undefined ? { maxExceptionLifetimeMs: options.maxExceptionDays * 24 * 60 * 60 * 1000 } : {}),
    ...(options.clientCaFile ? { clientAuth: { caPem: readFileSync(options.clientCaFile, 'utf8'), ...(options.clientNames?.length ? { names: options.clientNames } : {}) } } : {}),
  });
  const unsubscribe = certificates.onRotate((m) => {
    server.setTls({ cert: m.certPem, key: m.keyPem });
    logger.info({ serial: m.serial, notAfter: m.notAfter }, 'serving certificate rotated');
  });

  let stopRegistering = () => {};
  if (clusterView && kubeConfig) {
    await clusterView.start();
    if (clusterView.ready()) logger.info('informer caches synced');
    else logger.warn('some informers failed to list; retrying (readyz reports 503 until they sync)');
    const api = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    const registerUrl = options.registerUrl;
    const desiredFor = (endpoint: Endpoint): Configurations =>
      webhookConfigurations({
        endpoint,
        caBundle: Buffer.from(certificates.current().caBundlePem).toString('base64'),
        platformNamespace,
        coreResourceTypes: coreResourceTypes(store),
        ...(options.coreFailurePolicy ? { coreFailurePolicy: options.coreFailurePolicy } : {}),
      });
    const serviceEndpoint: Endpoint = { service: { namespace: platformNamespace, name: options.serviceName ?? 'kidp-webhook', port: 443 } };
    let written = '';
    let warnedMissing = false;
    const stillRegistered = async (): Promise<boolean> => {
      try {
        await api.readValidatingWebhookConfiguration({ name: NAME });
        await api.readMutatingWebhookConfiguration({ name: NAME });
        return true;
      } catch (e) {
        if (isNotFound(e)) return false;
        throw e;
      }
    };
    // Both modes keep the rules in step with the Policies and the caBundle with rotation;
    // --register also creates the configurations (and re-creates them if deleted).
    const sync = async () => {
      if (registerUrl) {
        const configs = desiredFor({ url: registerUrl === true ? `https://127.0.0.1:${server.port}` : registerUrl });
        const text = JSON.stringify(configs);
        if (text === written && (await stillRegistered())) return;
        await register(api, configs);
        written = text;
      } else {
        // Compared with what this process last wrote: the apiserver's defaulting makes the
        // stored object differ from what was sent.
        const probe = JSON.stringify(desiredFor(serviceEndpoint));
        if (probe === written) return;
        try {
          await updateInPlace(api, desiredFor, serviceEndpoint);
        } catch (e) {
          if (!isNotFound(e)) throw e;
          if (!warnedMissing) logger.warn(`webhook configurations ${NAME} not found; apply deploy/webhook-configurations.yaml (this webhook updates them, it does not create them)`);
          warnedMissing = true;
          return;
        }
        written = probe;
      }
      // test/env/platform.sh waits for the first line of --register.
      logger.info({ coreResourceTypes: coreResourceTypes(store) }, registerUrl ? 'webhook configurations registered' : 'webhook configurations updated');
    };
    // --register fails the start when it cannot register; deploy/ replicas retry (RBAC or
    // the configurations may arrive after the pods).
    if (registerUrl) await sync();
    else await sync().catch((e: unknown) => logger.error({ err: e }, 'webhook configuration sync failed; retrying'));
    const timer = setInterval(() => void sync().catch((e: unknown) => logger.error({ err: e }, 'webhook configuration sync failed; retrying')), options.registrationSyncMs ?? REGISTRATION_SYNC_MS);
    timer.unref();
    stopRegistering = () => clearInterval(timer);
  }

  return {
    server,
    store,
    certificates,
    ...(decisionStream ? { decisionStream } : {}),
    stop: async () => {
      stopRegistering();
      unsubscribe();
      certificates.stop();
      await clusterView?.stop();
      await server.close();
      await decisionLog?.close();
    },
  };
}
