// `kidp reports run` (the background audit controller) and `kidp dashboard serve` (the
// read-only compliance page): long-running, stopped by SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { runReports } from '../reports/controller.js';
import { startDashboard } from '../dashboard/server.js';

export const REPORTS_USAGE = `  kidp reports run [--kubeconfig FILE] [--lease-namespace kidp-system] [--rescan-minutes 10]
      Audit every stored resource against the Policies; write PolicyReports, PolicyCompliant
      and Policy status.impact. With --lease-namespace only the Lease holder writes.
  kidp dashboard serve [--kubeconfig FILE] [--port 8080] [--host 0.0.0.0] [--snapshot-seconds 300]
      Serve the read-only compliance page (per team, namespace, policy; violations; trend).`;

function kubeConfigFrom(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

function untilSignal(stop: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    const onSignal = () => void stop().then(() => resolve(0), () => resolve(1));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}

export async function reportsRun(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { kubeconfig: { type: 'string' }, 'lease-namespace': { type: 'string' }, 'rescan-minutes': { type: 'string', default: '10' } }, strict: true });
  const logger = pino({ name: 'kidp-reports' });
  const running = await runReports({
    kubeConfig: kubeConfigFrom(values.kubeconfig),
    logger,
    rescanPeriodMs: Number(values['rescan-minutes']) * 60_000,
    ...(values['lease-namespace'] ? { leaseNamespace: values['lease-namespace'] } : {}),
  });
  logger.info('reports controller running');
  return untilSignal(running.stop);
}

export async function dashboardServe(args: string[], stderr: (line: string) => void): Promise<number> {
  const { values } = parseArgs({ args, options: { kubeconfig: { type: 'string' }, port: { type: 'string', default: '8080' }, host: { type: 'string', default: '0.0.0.0' }, 'snapshot-seconds': { type: 'string', default: '300' } }, strict: true });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    stderr(`--port: ${JSON.stringify(values.port)} is not a port number`);
    return 2;
  }
  const logger = pino({ name: 'kidp-dashboard' });
  const running = await startDashboard({ kubeConfig: kubeConfigFrom(values.kubeconfig), logger, port, host: values.host, snapshotMs: Number(values['snapshot-seconds']) * 1000 });
  return untilSignal(running.close);
}
