// `npm run bench:admission`: load on the standalone HTTPS webhook with 50 policies and
// realistic AdmissionReviews, at one and two worker processes. Prints throughput,
// p50/p99 latency and memory, and the machine it ran on. Not a test: nothing asserts.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { createCa } from '../../certs/ca.js';
import { issueServingCertificate } from '../../certs/serving.js';
import { admissionReview, database, deployment, pod, POLICY_COUNT } from './fixtures.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? '10');
const FIXED_RATE = 500;

interface Result {
  workers: number;
  scenario: string;
  requestsPerSecond: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  non2xx: number;
  rssMB: number;
}

function rssOfTree(pid: number): number {
  let children = '';
  try {
    children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  } catch {
    // ps exits 1 when the process has no children (one worker).
  }
  const pids = [pid, ...children.split('\n').map((s) => Number(s.trim())).filter((n) => n > 0)];
  let kb = 0;
  for (const p of pids) {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
    kb += Number(m?.[1] ?? 0);
  }
  return Math.round(kb / 1024);
}

function startServer(workers: number, cert: string, key: string): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(here, 'server-process.js'), String(workers), '0', cert, key, root], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ready (\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code}) before it was ready`)));
  });
}

async function load(port: number, options: { connections: number; overallRate?: number }): Promise<autocannon.Result> {
  const bodies = [deployment(), pod(), database()];
  return autocannon({
    url: `https://127.0.0.1:${port}`,
    duration: DURATION_S,
    connections: options.connections,
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
    requests: bodies.map((b, i) => ({ method: 'POST', path: '/validate', headers: { 'content-type': 'application/json' }, body: admissionReview(b, `bench-${i}`) })),
  });
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'kidp-bench-admission-'));
  const now = new Date();
  const ca = await createCa({ now });
  const serving = await issueServingCertificate({ ca, now, serviceName: 'kidp-webhook', namespace: 'kidp-system' });
  writeFileSync(join(work, 'tls.crt'), serving.certPem);
  writeFileSync(join(work, 'tls.key'), serving.keyPem);
  const sizes = { Deployment: admissionReview(deployment(), 'x').length, Pod: admissionReview(pod(), 'x').length, Database: admissionReview(database(), 'x').length };
  console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
  console.log(`${POLICY_COUNT} policies; AdmissionReview bytes: ${JSON.stringify(sizes)}; ${DURATION_S} s per scenario`);
  const results: Result[] = [];
  for (const workers of [1, 2]) {
    const { child, port } = await startServer(workers, join(work, 'tls.crt'), join(work, 'tls.key'));
    try {
      await load(port, { connections: 8, overallRate: 200 }); // warm-up: JIT, TLS sessions
      for (const [scenario, opts] of [
        [`fixed ${FIXED_RATE}/s`, { connections: 10, overallRate: FIXED_RATE }],
        ['max throughput', { connections: 32 }],
      ] as const) {
        const r = await load(port, opts);
        results.push({
          workers,
          scenario,
          requestsPerSecond: Math.round(r.requests.average),
          p50ms: r.latency.p50,
          p99ms: r.latency.p99,
          errors: r.errors,
          non2xx: r.non2xx,
          rssMB: rssOfTree(child.pid as number),
        });
      }
    } finally {
      child.kill('SIGTERM');
    }
  }
  console.log('\n| workers | scenario | reviews/s | p50 ms | p99 ms | errors | non-2xx | RSS MB |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of results) console.log(`| ${r.workers} | ${r.scenario} | ${r.requestsPerSecond} | ${r.p50ms} | ${r.p99ms} | ${r.errors} | ${r.non2xx} | ${r.rssMB} |`);
  writeFileSync(join(work, 'results.json'), JSON.stringify(results, null, 2));
  console.log(`\nresults: ${join(work, 'results.json')}`);
}

await main();
