// `kidp controllers run` and `kidp broker run`: the controllers with the brokers' status
// service (status API + status-topic consumer), and the reference `kubernetes` broker.
// Long-running; stop with SIGINT/SIGTERM.
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig } from '../kube/index.js';
import pino, { type Logger } from 'pino';
import { createCertificateManager } from '../certs/index.js';
import { PROVIDERS, createDispatcher, createKafka, generateBrokerKeyPair, runReferenceBroker, runStatusService, setupKafkaAccess, BackupScheduler, awsProvisioner, loadPriceTable, postgresqlProvisioner, redisProvisioner, type Provisioner, type ProviderName } from '../brokers/index.js';
import { runControllers } from '../controllers/index.js';
import { untilSignal } from './daemons.js';

export const PLATFORM_DAEMON_USAGE = `  kidp controllers run --kafka HOST:PORT[,..] --kafka-tls-dir DIR --cert-dir DIR
                      --dispatch-signing-key-file FILE
                      [--kubeconfig FILE] [--status-host 127.0.0.1] [--status-port 9444]
                      [--lease-namespace kidp-system] [--identity NAME] [--workers 16]
      Run the reconcilers (leader-elected on a Lease; --workers per kind) and the status
      service: the JWT-authenticated status API on HTTPS and the status-topic consumer.
      Every request (Kafka and webhook) is signed with the dispatch key (ES256, PKCS#8 PEM),
      created when missing with its public key beside it (FILE.pub) for the brokers.
      --kafka-tls-dir: the Kafka client certificate (ca.crt, tls.crt, tls.key; principal
      kidp-controllers), re-read when it changes.
  kidp broker run --kafka HOST:PORT[,..] --kafka-tls-dir DIR --cert-dir DIR --signing-key-file FILE
                  --platform-public-key-file FILE --namespace NS [--namespace NS ...]
                  [--platform-namespace kidp-system] [--identity kubernetes-broker]
                  [--kubeconfig FILE] [--webhook-port 9445] [--status-api-url URL]
                  [--concurrency 16] [--kafka-app-issuer-dir DIR]
                  [--provider kubernetes|postgresql|redis|aws] [--backup-dir DIR]
                  [--price-table FILE] [--usage-report-interval-seconds 3600]
      Run a broker (--provider, default kubernetes: the reference one; postgresql and
      redis provision into the server their DeploymentTarget's spec.server names, with the
      credentials of the Secret it references; postgresql runs the Databases' spec.backup
      schedules with pg_dump into --backup-dir, default $XDG_STATE_HOME/kidp/backups; aws
      makes a Database an RDS instance, a Cache an ElastiCache for Redis replication group and
      a Topic an SQS queue in the target's spec.region and spec.aws account; tested against
      moto, an AWS API emulator, not AWS). --concurrency: requests applied at once, one
      resource's always one at a time. The signing key (ES256, PKCS#8 PEM) is created
      when missing, with its public key beside it (FILE.pub) for the DeploymentTarget; it
      signs every status event. Every request must be signed by the controllers' dispatch
      key (--platform-public-key-file, their FILE.pub). Objects land in the namespace of
      the request's DeploymentTarget, only if it is one of --namespace (NS or a PREFIX*),
      never kube-system or --platform-namespace. --kafka-app-issuer-dir: the name-constrained
      application issuer (ca.crt, tls.crt, tls.key); with it a Topic's owning Application
      gets its Kafka client certificate in the Secret <topic>-kafka. --price-table: JSON
      {class: {hourly, perGiBHourly?}} in USD that usage is priced from (a configurable
      table, not fetched from any provider; default the illustrative figures of
      brokers/usage.ts); --usage-report-interval-seconds: how often usage is re-reported.
  kidp kafka setup --kafka HOST:PORT[,..] --kafka-tls-dir DIR --broker-identity NAME [...]
      Create KIDP's Kafka topics and the ACLs of each principal (brokers/kafka-access.ts),
      as an operator principal allowed to (a Kafka super user). Idempotent.`;

/** A positive integer flag, or a message naming it. */
function positiveInteger(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a positive integer, not ${JSON.stringify(value)}`);
  return n;
}

function kubeConfig(path: string | undefined): KubeConfig {
  return loadKubeConfig(path ? { kubeconfig: path } : {});
}

/** An ES256 key pair at `file` (0600) and `file.pub`, created when `file` is missing; returns the private PEM. */
function ensureKeyPair(file: string, log: Logger, created: string): string {
  if (!existsSync(file)) {
    const pair = generateBrokerKeyPair();
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, pair.privateKeyPem, { mode: 0o600 });
    writeFileSync(`${file}.pub`, pair.publicKeyPem);
    log.info({ publicKey: `${file}.pub` }, created);
  }
  return readFileSync(file, 'utf8');
}

function certificates(dir: string) {
  return createCertificateManager({ dir, serviceName: 'kidp-platform', namespace: 'kidp-system' });
}

export async function controllersRun(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      kubeconfig: { type: 'string' },
      kafka: { type: 'string' },
      'cert-dir': { type: 'string' },
      'status-port': { type: 'string', default: '9444' },
      'status-host': { type: 'string', default: '127.0.0.1' },
      'kafka-tls-dir': { type: 'string' },
      'lease-namespace': { type: 'string', default: 'kidp-system' },
      identity: { type: 'string', default: `${hostname()}-${process.pid}` },
      workers: { type: 'string' },
      'dispatch-signing-key-file': { type: 'string' },
    },
    strict: true,
  });
  if (!values.kafka || !values['kafka-tls-dir'] || !values['cert-dir'] || !values['dispatch-signing-key-file']) {
    throw new Error('kidp controllers run needs --kafka, --kafka-tls-dir, --cert-dir and --dispatch-signing-key-file');
  }
  const kafkaTls = values['kafka-tls-dir'];
  const workers = positiveInteger('workers', values.workers);
  const log = pino({ name: 'kidp-controllers' });
  const dispatchSigningKeyPem = ensureKeyPair(values['dispatch-signing-key-file'], log, 'created the dispatch signing key; give its public key to the brokers (--platform-public-key-file)');
  const kc = kubeConfig(values.kubeconfig);
  const kafkaBrokers = values.kafka.split(',');
  const material = await certificates(values['cert-dir']).start();
  // The status service starts first (brokers may report at once); its reports go to the
  // controllers in memory once they run and lead.
  const late: { controllers?: Awaited<ReturnType<typeof runControllers>> } = {};
  const status = await runStatusService({
    kubeConfig: kc,
    kafkaBrokers,
    kafkaTls,
    logger: log,
    localFold: (ref, report) => late.controllers?.foldLocally(ref, report) ?? Promise.resolve(false),
    api: { host: values['status-host'], port: Number(values['status-port']), tls: { certPem: material.certPem, keyPem: material.keyPem } },
  });
  const dispatcher = createDispatcher({ kafkaBrokers, kafkaTls, webhookCaBundle: material.caBundlePem, dispatchSigningKeyPem, logger: log });
  const controllers = await runControllers({
    kubeConfig: kc,
    dispatcher,
    identity: values.identity,
    leaseNamespace: values['lease-namespace'],
    logger: log,
    ...(workers !== undefined ? { workers } : {}),
  });
  late.controllers = controllers;
  log.info({ statusApi: status.url }, 'kidp controllers running');
  return untilSignal(async () => {
    await controllers.stop();
    await dispatcher.close();
    await status.stop();
  }, log);
}

function providerName(value: string | undefined): ProviderName {
  const known: readonly string[] = PROVIDERS;
  if (value === undefined || !known.includes(value)) throw new Error(`--provider must be one of ${PROVIDERS.join(', ')}, not ${JSON.stringify(value)}`);
  return value as ProviderName;
}

/** The provider's Provisioner; undefined for kubernetes, which the runtime builds on its target cluster. */
function provisionerFor(provider: ProviderName, log: Logger, backupDir: string): Provisioner | undefined {
  switch (provider) {
    case 'kubernetes':
      return undefined;
    case 'postgresql':
      return postgresqlProvisioner({ backups: new BackupScheduler({ dir: backupDir, logger: log }) });
    case 'redis':
      return redisProvisioner();
    case 'aws':
      return awsProvisioner();
  }
}

export async function brokerRun(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      kubeconfig: { type: 'string' },
      kafka: { type: 'string' },
      'cert-dir': { type: 'string' },
      identity: { type: 'string', default: 'kubernetes-broker' },
      'webhook-port': { type: 'string', default: '9445' },
      'signing-key-file': { type: 'string' },
      'platform-public-key-file': { type: 'string' },
      'status-api-url': { type: 'string' },
      concurrency: { type: 'string' },
      'kafka-tls-dir': { type: 'string' },
      'kafka-app-issuer-dir': { type: 'string' },
      namespace: { type: 'string', multiple: true },
      'platform-namespace': { type: 'string', default: 'kidp-system' },
      provider: { type: 'string', default: 'kubernetes' },
      'backup-dir': { type: 'string' },
      'price-table': { type: 'string' },
      'usage-report-interval-seconds': { type: 'string' },
    },
    strict: true,
  });
  const concurrency = positiveInteger('concurrency', values.concurrency);
  const usageSeconds = positiveInteger('usage-report-interval-seconds', values['usage-report-interval-seconds']);
  const prices = values['price-table'] ? await loadPriceTable(values['price-table']) : undefined;
  const provider = providerName(values.provider);
  if (!values.kafka || !values['kafka-tls-dir'] || !values['cert-dir'] || !values['signing-key-file'] || !values['platform-public-key-file'] || !values.namespace?.length) {
    throw new Error('kidp broker run needs --kafka, --kafka-tls-dir, --cert-dir, --signing-key-file, --platform-public-key-file and at least one --namespace');
  }
  const log = pino({ name: 'kidp-broker' });
  const signingKeyPem = ensureKeyPair(values['signing-key-file'], log, 'created the broker signing key; put the public key into the DeploymentTarget');
  // Never created here: the broker must trust the controllers' key, not one of its own making.
  const platformPublicKeyPem = readFileSync(values['platform-public-key-file'], 'utf8');
  const material = await certificates(values['cert-dir']).start();
  const provisioner = provisionerFor(provider, log, values['backup-dir'] ?? join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'kidp', 'backups'));
  const broker = await runReferenceBroker({
    ...(provisioner ? { provisioner } : {}),
    identities: [values.identity],
    kafkaBrokers: values.kafka.split(','),
    kafkaTls: values['kafka-tls-dir'],
    ...(values['kafka-app-issuer-dir'] ? { applicationIssuer: values['kafka-app-issuer-dir'] } : {}),
    platformPublicKeyPem,
    placement: { namespaces: values.namespace, platformNamespace: values['platform-namespace'] },
    targetKubeConfig: kubeConfig(values.kubeconfig),
    webhook: { host: '127.0.0.1', port: Number(values['webhook-port']), tls: { certPem: material.certPem, keyPem: material.keyPem } },
    ...(values['status-api-url'] ? { statusApi: { url: values['status-api-url'], caBundle: material.caBundlePem } } : {}),
    signingKeyPem,
    logger: log,
    ...(concurrency !== undefined ? { concurrency } : {}),
    ...(prices ? { prices } : {}),
    ...(usageSeconds !== undefined ? { usageReportIntervalMs: usageSeconds * 1000 } : {}),
  });
  log.info({ webhookURL: broker.webhookURL, identity: values.identity, provider }, 'kidp broker running');
  return untilSignal(() => broker.stop(), log);
}

/** `kidp kafka setup`: KIDP's topics and ACLs, once (kafka.sh runs it at start; deploy/ as a Job). */
export async function kafkaSetup(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { kafka: { type: 'string' }, 'kafka-tls-dir': { type: 'string' }, 'broker-identity': { type: 'string', multiple: true } },
    strict: true,
  });
  if (!values.kafka || !values['kafka-tls-dir'] || !values['broker-identity']?.length) {
    throw new Error('kidp kafka setup needs --kafka, --kafka-tls-dir and at least one --broker-identity');
  }
  const log = pino({ name: 'kidp-kafka-setup' });
  const kafka = createKafka({ brokers: values.kafka.split(','), clientId: 'kidp-kafka-setup', logger: log, tls: values['kafka-tls-dir'] });
  const done = await setupKafkaAccess(kafka, { brokerIdentities: values['broker-identity'] });
  process.stdout.write(`kafka setup: ${done.topicsCreated.length} topic(s) created${done.topicsCreated.length ? ` (${done.topicsCreated.join(', ')})` : ''}, ${done.acls} ACL entries in place for ${values['broker-identity'].length} broker identity(ies)\n`);
  return 0;
}

export function platformDaemonFor(argv: string[]): (() => Promise<number>) | undefined {
  const [group, verb, ...rest] = argv;
  if (group === 'kafka' && verb === 'setup') return () => kafkaSetup(rest);
  if (group === 'controllers' && verb === 'run') return () => controllersRun(rest);
  if (group === 'broker' && verb === 'run') return () => brokerRun(rest);
  return undefined;
}
