// `npm run bench:admission`: load on the standalone HTTPS webhook with 50 policies and
// realistic AdmissionReviews (Deployment, Pod, Database in turn), at one and two worker
// processes. Not a test: nothing asserts. Two load generators from npm, each for what it
// measures honestly:
//   - a fixed rate (500 reviews/s) with loadtest, whose requestsPerSecond mode sends one
//     request every 2 ms (open loop). autocannon's overallRate sends each second's quota
//     back to back and then waits, so its latencies measure bursts, not a steady 500/s.
//     Latency is timed here, to the microsecond, from just before each request is sent.
//   - maximum throughput with autocannon (32 connections, no rate).
// With one worker the server is pinned to the last core and this process (the load) to the
// others, so "one core" means one core. The server's CPU time per review is read from /proc
// and reported with what it implies for one core, a figure a busy machine disturbs less.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, type RequestOptions } from 'node:https';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { loadTest } from 'loadtest';
import { createCa } from '../../certs/ca.js';
import { issueServingCertificate } from '../../certs/serving.js';
import { admissionReview, database, deployment, pod, POLICY_COUNT } from './fixtures.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? '10');
const FIXED_RATE = Number(process.env.BENCH_RATE ?? '500');
const CORES = cpus().length;
const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((p) => existsSync(p));

interface Result {
  workers: number;
  scenario: string;
  reviews: number;
  reviewsPerSecond: number;
  p50ms: number;
  p99ms: number;
  maxMs: number;
  errors: number;
  serverCpuUsPerReview: number;
  rssMB: number;
}

function treePids(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i] as number;
    try {
      const children = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim();
      if (children) out.push(...children.split(' ').map(Number));
    } catch {
      // exited
    }
  }
  return out;
}

/** Resident memory (MB) and CPU time (µs, user + system) of a process and its children. */
function usage(pid: number): { rssMB: number; cpuUs: number } {
  let kb = 0;
  let ticks = 0;
  for (const p of treePids(pid)) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
      const fields = (readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited between listing and reading
    }
  }
  return { rssMB: Math.round(kb / 1024), cpuUs: (ticks * 1e6) / 100 };
}

function startServer(workers: number, cert: string, key: string): Promise<{ child: ChildProcess; port: number }> {
  const node = [process.execPath, join(here, 'server-process.js'), String(workers), '0', cert, key, root];
  const pinned = workers === 1 && TASKSET && CORES > 1;
  const [cmd, ...args] = pinned ? [TASKSET, '-c', String(CORES - 1), ...node] : node;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd as string, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ready (\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code}) before it was ready`)));
  });
}

/** Pins this process (the load generators) to the cores the server does not use. */
function pinSelf(cores: string): void {
  if (TASKSET && CORES > 1) execFileSync(TASKSET, ['-a', '-cp', cores, String(process.pid)], { stdio: 'ignore' });
}

const bodies = [deployment(), pod(), database()].map((b, i) => admissionReview(b, `bench-${i}`));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

type Generator = (options: unknown, params: RequestOptions, request: (p: RequestOptions, cb: (res: IncomingMessage) => void) => ClientRequest, callback: (res: IncomingMessage) => void) => ClientRequest;

/** loadtest at a fixed, evenly spaced rate; latencies timed here per request. */
async function fixedRate(port: number, ca: string, rate: number, seconds: number): Promise<{ latencies: number[]; errors: number; connections: number }> {
  const latencies: number[] = [];
  let next = 0;
  let body = '';
  // One kept-alive pool of at most 32 connections, as the apiserver reuses its connections
  // to a webhook. loadtest would otherwise open a new connection whenever none is free, so
  // one scheduling hiccup became hundreds of TLS handshakes and seconds of latency.
  const agent = new HttpsAgent({ keepAlive: true, maxSockets: 32, ca });
  const requestGenerator: Generator = (_options, params, request, callback) => {
    body = bodies[next++ % bodies.length] as string;
    const headers = { ...(params.headers as Record<string, string>), 'content-length': String(Buffer.byteLength(body)) };
    const started = process.hrtime.bigint();
    return request({ ...params, headers, agent, servername: 'localhost' }, (res) => {
      res.on('end', () => latencies.push(Number(process.hrtime.bigint() - started) / 1e6));
      callback(res);
    });
  };
  const run = loadTest as unknown as (o: Record<string, unknown>) => Promise<{ totalErrors: number }>;
  const result = await run({
    url: `https://127.0.0.1:${port}/validate`,
    method: 'POST',
    contentType: 'application/json',
    body: () => body,
    requestGenerator,
    agentKeepAlive: true,
    requestsPerSecond: rate,
    maxSeconds: seconds,
    quiet: true,
  });
  const connections = Object.values(agent.sockets).reduce((n, list) => n + (list?.length ?? 0), 0) + Object.values(agent.freeSockets).reduce((n, list) => n + (list?.length ?? 0), 0);
  agent.destroy();
  return { latencies, errors: result.totalErrors, connections };
}

function maxThroughput(port: number, seconds: number, connections: number): Promise<autocannon.Result> {
  return autocannon({
    url: `https://127.0.0.1:${port}`,
    duration: seconds,
    connections,
    requests: bodies.map((b) => ({ method: 'POST', path: '/validate', headers: { 'content-type': 'application/json' }, body: b })),
  });
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'kidp-bench-admission-'));
  const now = new Date();
  const ca = await createCa({ now });
  const serving = await issueServingCertificate({ ca, now, serviceName: 'kidp-webhook', namespace: 'kidp-system' });
  writeFileSync(join(work, 'tls.crt'), serving.certPem);
  writeFileSync(join(work, 'tls.key'), serving.keyPem);
  const sizes = { Deployment: bodies[0]?.length, Pod: bodies[1]?.length, Database: bodies[2]?.length };
  console.log(`machine: ${CORES} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`${POLICY_COUNT} policies; AdmissionReview bytes: ${JSON.stringify(sizes)}; ${DURATION_S} s per scenario`);
  console.log(TASKSET && CORES > 1 ? `1 worker: server pinned to core ${CORES - 1}, load generators to cores 0-${CORES - 2}; 2 workers: nothing pinned` : 'no taskset or one core: nothing pinned');
  const results: Result[] = [];
  for (const workers of (process.env.BENCH_WORKERS ?? '1,2').split(',').map(Number)) {
    pinSelf(workers === 1 ? `0-${Math.max(0, CORES - 2)}` : `0-${CORES - 1}`);
    const { child, port } = await startServer(workers, join(work, 'tls.crt'), join(work, 'tls.key'));
    try {
      process.stdout.write(`${workers} worker(s): warming up… `);
      await maxThroughput(port, 3, 8); // JIT, TLS sessions
      await fixedRate(port, ca.certPem, 200, 2);

      process.stdout.write(`fixed ${FIXED_RATE}/s… `);
      let before = usage(child.pid as number);
      const fixed = await fixedRate(port, ca.certPem, FIXED_RATE, DURATION_S);
      let after = usage(child.pid as number);
      const sorted = [...fixed.latencies].sort((a, b) => a - b);
      results.push({
        workers,
        scenario: `fixed ${FIXED_RATE}/s, evenly spaced (loadtest, ${fixed.connections} connections)`,
        reviews: sorted.length,
        reviewsPerSecond: Math.round(sorted.length / DURATION_S),
        p50ms: round2(percentile(sorted, 0.5)),
        p99ms: round2(percentile(sorted, 0.99)),
        maxMs: round2(sorted.at(-1) ?? 0),
        errors: fixed.errors,
        serverCpuUsPerReview: Math.round((after.cpuUs - before.cpuUs) / Math.max(1, sorted.length)),
        rssMB: after.rssMB,
      });

      process.stdout.write('max throughput…\n');
      before = usage(child.pid as number);
      const max = await maxThroughput(port, DURATION_S, 32);
      after = usage(child.pid as number);
      results.push({
        workers,
        scenario: 'max throughput, 32 connections (autocannon)',
        reviews: max.requests.total,
        reviewsPerSecond: Math.round(max.requests.average),
        p50ms: max.latency.p50,
        p99ms: max.latency.p99,
        maxMs: max.latency.max,
        errors: max.errors + max.non2xx,
        serverCpuUsPerReview: Math.round((after.cpuUs - before.cpuUs) / Math.max(1, max.requests.total)),
        rssMB: after.rssMB,
      });
    } finally {
      child.kill('SIGTERM');
    }
  }
  console.log('\n| workers | scenario | reviews | reviews/s | p50 ms | p99 ms | max ms | errors | server CPU µs/review (→ reviews/s per core) | RSS MB |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const perCore = r.serverCpuUsPerReview > 0 ? Math.round(1e6 / r.serverCpuUsPerReview) : 0;
    console.log(`| ${r.workers} | ${r.scenario} | ${r.reviews} | ${r.reviewsPerSecond} | ${r.p50ms} | ${r.p99ms} | ${r.maxMs} | ${r.errors} | ${r.serverCpuUsPerReview} (→ ${perCore}) | ${r.rssMB} |`);
  }
  console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  writeFileSync(join(work, 'results.json'), JSON.stringify(results, null, 2));
  console.log(`\nresults: ${join(work, 'results.json')}`);
}

await main();
