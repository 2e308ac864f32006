// What the apiserver-side admission benches share: the local environment's variables,
// kubectl as a child process, and a kept-alive HTTPS client for creates, so a measured
// create costs one request and no process start.
import { execFileSync, spawn } from 'node:child_process';
import https from 'node:https';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';

/** The checkout: bench files run from dist/bench/admission/ (and from source under tsx). */
export function benchRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(`${join('dist', 'bench')}`) ? join(here, '..', '..', '..') : join(here, '..', '..');
}

/** Exports test/env's variables (KUBECONFIG, KUBECTL, ...) into this process. */
export function loadEnvironment(): void {
  const out = execFileSync('bash', [join(benchRoot(), 'test/env/env.sh'), 'env'], { encoding: 'utf8' });
  for (const line of out.split('\n')) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] && m[2] !== undefined) process.env[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
  }
  if (!process.env.KUBECTL) throw new Error('the environment is not up: run `npm run env:start` first');
}

export interface KubectlResult {
  ms: number;
  code: number;
  stdout: string;
  stderr: string;
}

// Asynchronous on purpose: a webhook may answer from this same process's event loop.
export function kubectl(args: string[], input?: string): Promise<KubectlResult> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(process.env.KUBECTL as string, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/**
 * A function that POSTs a ConfigMap body into `namespace` over one kept-alive connection
 * (the admin kubeconfig's client certificate) and resolves with the milliseconds it took;
 * anything but 201 throws with the apiserver's message.
 */
export async function poster(namespace: string): Promise<(body: string) => Promise<number>> {
  const kc = new KubeConfig();
  kc.loadFromFile(process.env.KUBECONFIG as string);
  const server = new URL(kc.getCurrentCluster()?.server ?? '');
  const options: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: options.ca, cert: options.cert, key: options.key });
  return (body: string) =>
    new Promise((resolve, reject) => {
      const started = process.hrtime.bigint();
      const req = https.request(
        { host: server.hostname, port: server.port, path: `/api/v1/namespaces/${namespace}/configmaps`, method: 'POST', agent, headers: { 'content-type': 'application/json', ...(options.headers ?? {}) } },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => {
            if (res.statusCode === 201) resolve(Number(process.hrtime.bigint() - started) / 1e6);
            else reject(new Error(`create answered ${res.statusCode}: ${text}`));
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
}
