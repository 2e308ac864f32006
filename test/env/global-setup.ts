// Starts one real control plane + Kafka for the whole e2e run (DESIGN.md §7) and exports
// KUBECONFIG, KUBECTL and KAFKA_BOOTSTRAP to the test workers. When the environment is
// already up (a developer ran `npm run env:start`), it is reused and left running.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const envScript = join(dirname(fileURLToPath(import.meta.url)), 'env.sh');

function readEnv(): Record<string, string> {
  const out = execFileSync('bash', [envScript, 'env'], { encoding: 'utf8' });
  const vars: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line.trim());
    // PATH is for people's shells; tests call $KUBECTL by its path.
    if (m?.[1] && m[2] !== undefined && m[1] !== 'PATH') vars[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
  }
  return vars;
}

export default async function globalSetup(): Promise<void> {
  const status = execFileSync('bash', [envScript, 'status'], { encoding: 'utf8' });
  const alreadyUp = /^environment: up$/m.test(status);
  if (!alreadyUp) {
    // stdio inherited so the build/start progress shows in the test output.
    execFileSync('bash', [envScript, 'start'], { stdio: ['ignore', 'inherit', 'inherit'] });
  } else {
    // A reused environment may hold CRDs from an older checkout.
    execFileSync('bash', [envScript, 'install-crds'], { stdio: ['ignore', 'inherit', 'inherit'] });
  }
  process.env.KIDP_ENV_STARTED_BY_TESTS = alreadyUp ? '' : '1';
  Object.assign(process.env, readEnv());
}
