// Runs the webhook for real: `kidp webhook serve`, `make up`, deploy/. Two sources of
// truth: a cluster (informers; webhook configurations registered and their caBundle kept
// current) or a folder of YAML (--policies: no cluster lookups at all).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import pino, { type Logger } from 'pino';
import { Counter, Gauge } from 'prom-client';
import { createCertificateManager, applyCaBundle, SecretCertificateStore, type CertificateManager } from '../certs/index.js';
import { ClusterView } from './cluster-view.js';
import { MemoryView } from './memory-view.js';
import { PolicyStore } from './policy-store.js';
import { startWebhookServer, type WebhookServer } from './server.js';
import { fileSink, stdoutSink, type DecisionSink } from './decision-log.js';
import { startDecisionStream, teeSinks, type DecisionStream } from './decision-stream.js';
import { AdmissionMetrics } from './metrics.js';
import { webhookConfigurations } from './webhook-config.js';
import { PLATFORM_GROUP } from '../policy-engine/policy/index.js';
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
  decisionStream?: { brokers: string[]; capacity?: number };
  logger?: Logger;
}

/** How often local registration re-checks the rules policies need (cheap: compares JSON). */
const REGISTRATION_SYNC_MS = 2_000;

export interface RunningWebhook {
  server: WebhookServer;
  decisionStream?: DecisionStream;
  store: PolicyStore;
  certificates: CertificateManager;
  stop(): Promise<void>;
}

/** Reads every YAML document under dir (recursively) into the view and the store. */
export function loadFolder(dir: string, view: MemoryView, store: PolicyStore): { policies: number; exceptions: number; objects: number } {
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

async function register(api: AdmissionregistrationV1Api, configs: ReturnType<typeof webhookConfigurations>): Promise<void> {
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
      if ((e as { code?: number }).code !== 404) throw e;
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

export async function serveWebhook(options: ServeOptions): Promise<RunningWebhook> {
  const logger = options.logger ?? pino({ name: 'kidp-webhook' });
  const store = new PolicyStore(logger);
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
  if (options.policiesDir || !kubeConfig) {
    // Files are a partial picture: owners not among them are assumed to exist.
    view = new MemoryView(false);
    const counts = options.policiesDir ? loadFolder(options.policiesDir, view, store) : { policies: 0, exceptions: 0, objects: 0 };
    logger.info({ dir: options.policiesDir, ...counts, problems: store.problemsList() }, 'loaded policies from files (standalone: no cluster lookups)');
  } else {
    clusterView = new ClusterView({ kubeConfig, store, logger });
    view = clusterView;
  }

  const server = await startWebhookServer({
    logger,
    tls: { cert: material.certPem, key: material.keyPem },
    view,
    store,
    decisionLog,
    metrics,
    host: options.host,
    port: options.port,
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
    if (options.registerUrl) {
      const url = options.registerUrl === true ? `https://127.0.0.1:${server.port}` : options.registerUrl;
      const configsFor = (caPem: string) =>
        webhookConfigurations({
          endpoint: { url },
          caBundle: Buffer.from(caPem).toString('base64'),
          platformNamespace: options.namespace ?? 'kidp-system',
          coreResourceTypes: coreResourceTypes(store),
        });
      let registered = '';
      const stillRegistered = async (): Promise<boolean> => {
        try {
          await api.readValidatingWebhookConfiguration({ name: 'kidp' });
          await api.readMutatingWebhookConfiguration({ name: 'kidp' });
          return true;
        } catch (e) {
          if ((e as { code?: number }).code === 404) return false;
          throw e;
        }
      };
      const sync = async () => {
        const configs = configsFor(certificates.current().caBundlePem);
        const text = JSON.stringify(configs);
        // Re-register when the rules changed, or when someone deleted the configurations.
        if (text === registered && (await stillRegistered())) return;
        await register(api, configs);
        registered = text;
        logger.info({ coreResourceTypes: coreResourceTypes(store) }, 'webhook configurations registered');
      };
      await sync();
      // Policies selecting new core kinds change the rules; the caBundle follows rotation.
      const timer = setInterval(() => void sync().catch((e: unknown) => logger.error({ err: e }, 'webhook registration failed')), REGISTRATION_SYNC_MS);
      timer.unref();
      stopRegistering = () => clearInterval(timer);
    } else {
      // deploy/ ships the configurations with an empty caBundle; every replica keeps it current.
      const inject = async (caPem: string) => {
        try {
          await applyCaBundle(api, { mutating: ['kidp'], validating: ['kidp'] }, caPem);
        } catch (e) {
          logger.error({ err: e }, 'could not inject the caBundle into the webhook configurations');
        }
      };
      await inject(material.caBundlePem);
      stopRegistering = certificates.onRotate((m) => inject(m.caBundlePem));
    }
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
