// `kidp webhook serve`: starts the webhook server and runs until SIGINT/SIGTERM, then shuts
// down gracefully. program.ts declares its flags for help; parseArgs here reads them.
import { parseArgs } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { serveWebhook } from '../admission/index.js';

export const DAEMON_USAGE = `  kidp webhook serve [--policies <dir>] [--kubeconfig FILE] [--port 9443] [--host 0.0.0.0]
                     [--cert-dir DIR | --cert-secret NAMESPACE/NAME] [--namespace kidp-system]
                     [--register | --register-url URL] [--decision-log FILE|-]
                     [--decision-stream-brokers HOST:PORT[,HOST:PORT...] --decision-stream-tls-dir DIR]
                     [--client-ca-file PEM [--client-name CN]...] [--max-exception-days 90]
                     [--core-failure-policy Ignore|Fail]
      Run the admission webhooks over HTTPS. With --policies: standalone, Policies,
      PolicyExceptions and owner objects from files, no cluster lookups. Otherwise: against
      the cluster (informer caches; --register points the webhook configurations at this
      server on https://127.0.0.1:<port>, --register-url at the URL given).
      --decision-stream-brokers publishes every decision to the Kafka topic
      kidp.admission-decisions (buffered; a slow or absent Kafka drops, never delays), over
      mTLS with the client certificate in DIR (ca.crt, tls.crt, tls.key; principal
      kidp-decision-stream).
      --client-ca-file accepts reviews only from client certificates that CA signed (the
      apiserver's, see deploy/README.md), --client-name only from those CNs.
      --max-exception-days caps how far ahead a PolicyException may expire.
      --core-failure-policy: what the apiserver does with a core kind a Policy selects when
      the webhook does not answer (Ignore: admit; Fail: refuse). KIDP's kinds always Fail.`;

type Stop = () => Promise<void>;

/** Runs until SIGINT/SIGTERM, then stops gracefully; resolves with the exit code. */
export function untilSignal(stop: Stop, log: pino.Logger): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down');
      stop().then(
        () => resolve(0),
        (e: unknown) => {
          log.error({ err: e }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.once('SIGINT', () => onSignal('SIGINT'));
    process.once('SIGTERM', () => onSignal('SIGTERM'));
  });
}

export async function webhookServe(args: string[], stderr: (line: string) => void): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      policies: { type: 'string' },
      kubeconfig: { type: 'string' },
      port: { type: 'string', default: '9443' },
      host: { type: 'string', default: '0.0.0.0' },
      'cert-dir': { type: 'string' },
      'cert-secret': { type: 'string' },
      namespace: { type: 'string', default: 'kidp-system' },
      register: { type: 'boolean' },
      'register-url': { type: 'string' },
      'decision-log': { type: 'string' },
      'decision-stream-brokers': { type: 'string' },
      'client-ca-file': { type: 'string' },
      'client-name': { type: 'string', multiple: true },
      'max-exception-days': { type: 'string' },
      'decision-stream-tls-dir': { type: 'string' },
      'core-failure-policy': { type: 'string' },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    stderr(`--port: ${JSON.stringify(values.port)} is not a port number`);
    return 2;
  }
  const maxExceptionDays = values['max-exception-days'] === undefined ? undefined : Number(values['max-exception-days']);
  if (maxExceptionDays !== undefined && !(Number.isFinite(maxExceptionDays) && maxExceptionDays > 0)) {
    stderr(`--max-exception-days: ${JSON.stringify(values['max-exception-days'])} is not a positive number of days`);
    return 2;
  }
  const coreFailurePolicy = values['core-failure-policy'];
  if (coreFailurePolicy !== undefined && coreFailurePolicy !== 'Fail' && coreFailurePolicy !== 'Ignore') {
    stderr(`--core-failure-policy: ${JSON.stringify(coreFailurePolicy)} is neither Fail nor Ignore`);
    return 2;
  }
  const log = pino({ name: 'kidp-webhook' });
  const running = await serveWebhook({
    ...(values.policies !== undefined ? { policiesDir: values.policies } : {}),
    ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
    host: values.host,
    port,
    ...(values['cert-secret'] !== undefined ? { certSecret: values['cert-secret'] } : { certDir: values['cert-dir'] ?? join(tmpdir(), 'kidp-webhook-certs') }),
    namespace: values.namespace,
    ...(values['register-url'] !== undefined ? { registerUrl: values['register-url'] } : values.register ? { registerUrl: true as const } : {}),
    ...(values['decision-log'] !== undefined ? { decisionLog: values['decision-log'] } : {}),
    ...(values['decision-stream-brokers']
      ? {
          decisionStream: {
            brokers: values['decision-stream-brokers'].split(',').map((b) => b.trim()).filter(Boolean),
            ...(values['decision-stream-tls-dir'] !== undefined ? { tls: values['decision-stream-tls-dir'] } : {}),
          },
        }
      : {}),
    ...(values['client-ca-file'] !== undefined ? { clientCaFile: values['client-ca-file'], clientNames: values['client-name'] ?? [] } : {}),
    ...(maxExceptionDays !== undefined ? { maxExceptionDays } : {}),
    ...(coreFailurePolicy !== undefined ? { coreFailurePolicy } : {}),
    logger: log,
  });
  log.info({ port: running.server.port, policies: running.store.policies().length }, 'kidp webhook serving');
  return untilSignal(running.stop, log);
}
