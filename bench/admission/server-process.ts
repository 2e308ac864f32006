// The benchmarked webhook: the standalone server (no cluster lookups) with the benchmark
// policies, in N worker processes sharing one port (node:cluster). Prints "ready <port>".
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { startWebhookServer, PolicyStore } from '../../admission/server.js';
import { MemoryView } from '../../admission/memory-view.js';
import { fileSink } from '../../admission/decision-log.js';
import { benchPolicies } from './fixtures.js';

const [workersArg, portArg, certPath, keyPath, root] = process.argv.slice(2);
const workers = Number(workersArg ?? '1');
// Exit normally on SIGINT so `node --cpu-prof` writes its profile.
process.on('SIGINT', () => process.exit(0));

if (cluster.isPrimary && workers > 1) {
  let ready = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('message', (m: string) => {
      if (m.startsWith('ready') && ++ready === workers) process.stdout.write(`${m}\n`);
    });
  }
} else {
  const store = new PolicyStore();
  for (const p of benchPolicies(root ?? '.')) store.upsertPolicy(p);
  const problems = store.problemsList();
  if (problems.length > 0) {
    process.stderr.write(`policies that do not compile: ${JSON.stringify(problems)}\n`);
    process.exit(1);
  }
  const view = new MemoryView();
  view.upsert({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'payments', labels: { 'platform.kidp.io/team': 'payments' } } });
  view.upsert({ apiVersion: 'platform.kidp.io/v1alpha1', kind: 'Team', metadata: { name: 'payments' }, spec: {} });
  const server = await startWebhookServer({
    logger: pino({ level: 'silent' }),
    tls: { cert: readFileSync(certPath ?? '', 'utf8'), key: readFileSync(keyPath ?? '', 'utf8') },
    view,
    store,
    // BENCH_DECISION_LOG=<file>: also write the decision log, as `kidp webhook serve` does.
    ...(process.env.BENCH_DECISION_LOG ? { decisionLog: fileSink(process.env.BENCH_DECISION_LOG, (e) => process.stderr.write(`decision log: ${String(e)}\n`)) } : {}),
    host: '127.0.0.1',
    port: Number(portArg ?? '0'),
  });
  const line = `ready ${server.port} policies=${store.policies().length}`;
  if (process.send) process.send(line);
  else process.stdout.write(`${line}\n`);
}
