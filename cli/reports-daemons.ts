// `kidp reports run` (the background audit controller) and `kidp dashboard serve` (the
// read-only portal and compliance page): long-running, stopped by SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig } from '../kube/index.js';
import pino from 'pino';
import { runReports, TREND_CONFIGMAP } from '../reports/index.js';
import { startDashboard } from '../dashboard/index.js';

export const REPORTS_USAGE = `  kidp reports run [--kubeconfig FILE] [--lease-namespace kidp-system] [--rescan-minutes 10]
                   [--platform-namespace kidp-system] [--trend-interval-minutes 60] [--trend-retention-days 30]
      Audit every stored resource of the KIDP kinds, Namespaces and the kinds the Policies select
      (Deployment.apps, Pod, ...) against the Policies; write PolicyReports, PolicyCompliant and
      Policy status.impact, and a compliance trend point per interval to the ConfigMap
      ${TREND_CONFIGMAP} in the platform namespace (where selected core kinds are not audited,
      nor in kube-system). Keeps the ValidatingAdmissionPolicy + Binding of every Policy with
      spec.enforcement: Native in step with it. With --lease-namespace only the Lease holder writes.
  kidp dashboard serve [--kubeconfig FILE] [--port 8080] [--host 0.0.0.0] [--platform-namespace kidp-system] [--secure-cookie]
      Serve the read-only portal (/portal: Teams, Applications and their resources) and the
      compliance page (per team, namespace, policy; violations; the trend read from
      ${TREND_CONFIGMAP} in the platform namespace). Readers sign in with their Kubernetes
      bearer token and see what their RBAC allows (TokenReview + SubjectAccessReview).`;

/** A positive number from a flag; undefined (and a line naming the flag) otherwise. */
function positive(flag: string, text: string | undefined, stderr: (line: string) => void): number | undefined {
  const n = Number(text);
  if (Number.isFinite(n) && n > 0) return n;
  stderr(`--${flag}: ${JSON.stringify(text)} is not a positive number`);
  return undefined;
}

function kubeConfigFrom(path: string | undefined): KubeConfig {
  return loadKubeConfig(path ? { kubeconfig: path } : {});
}

function untilSignal(stop: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    const onSignal = () => void stop().then(() => resolve(0), () => resolve(1));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}

export async function reportsRun(args: string[], stderr: (line: string) => void): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      kubeconfig: { type: 'string' },
      'lease-namespace': { type: 'string' },
      'rescan-minutes': { type: 'string', default: '10' },
      'platform-namespace': { type: 'string', default: 'kidp-system' },
      'trend-interval-minutes': { type: 'string', default: '60' },
      'trend-retention-days': { type: 'string', default: '30' },
    },
    strict: true,
  });
  const rescan = positive('rescan-minutes', values['rescan-minutes'], stderr);
  const interval = positive('trend-interval-minutes', values['trend-interval-minutes'], stderr);
  const retention = positive('trend-retention-days', values['trend-retention-days'], stderr);
  if (rescan === undefined || interval === undefined || retention === undefined) return 2;
  const platformNamespace = values['platform-namespace'];
  const logger = pino({ name: 'kidp-reports' });
  const running = await runReports({
    kubeConfig: kubeConfigFrom(values.kubeconfig),
    logger,
    rescanPeriodMs: rescan * 60_000,
    excludedNamespaces: ['kube-system', platformNamespace],
    platformNamespace,
    trend: { namespace: platformNamespace, intervalMs: interval * 60_000, retentionMs: retention * 24 * 60 * 60_000 },
    ...(values['lease-namespace'] ? { leaseNamespace: values['lease-namespace'] } : {}),
  });
  logger.info('reports controller running');
  return untilSignal(running.stop);
}

export async function dashboardServe(args: string[], stderr: (line: string) => void): Promise<number> {
  const { values } = parseArgs({ args, options: { kubeconfig: { type: 'string' }, port: { type: 'string', default: '8080' }, host: { type: 'string', default: '0.0.0.0' }, 'platform-namespace': { type: 'string', default: 'kidp-system' }, 'secure-cookie': { type: 'boolean', default: false } }, strict: true });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    stderr(`--port: ${JSON.stringify(values.port)} is not a port number`);
    return 2;
  }
  const logger = pino({ name: 'kidp-dashboard' });
  const running = await startDashboard({ kubeConfig: kubeConfigFrom(values.kubeconfig), logger, port, host: values.host, trend: { namespace: values['platform-namespace'] }, secureCookie: values['secure-cookie'] });
  return untilSignal(running.close);
}
