// Runs the kubectl built by test/env against the environment's apiserver, the way a
// person would; e2e tests speak to the cluster through it wherever the issue says
// "through kubectl".
import { spawn } from 'node:child_process';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function kubectlPath(): string {
  const path = process.env.KUBECTL;
  if (!path || !process.env.KUBECONFIG) {
    throw new Error('KUBECTL and KUBECONFIG are unset: run the e2e tests through jest (globalSetup starts the environment)');
  }
  return path;
}

export function kubectl(args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(kubectlPath(), args, { env: process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** kubectl that must succeed; throws with its stderr otherwise. */
export async function kubectlOk(args: string[], options: { input?: string } = {}): Promise<string> {
  const r = await kubectl(args, options);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}
