// Webhook hardening (issue 11 item 5) over real HTTPS on loopback, as an attacker who can
// reach the port would try it: no or a home-made client certificate, a flood of slow
// reviews, crafted kinds for the metrics, and a webhook whose caches are not synced.
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { ClientRequest } from 'node:http';
import pino from 'pino';
import { createCa, issueClientCertificate, issueServingCertificate, type IssuedCertificate } from '../certs/index.js';
import { startWebhookServer, PolicyStore, type WebhookServer, type WebhookServerOptions } from './server.js';
import { MemoryView } from './memory-view.js';
import { request, resource, world } from './testdata.js';

const logger = pino({ level: 'silent' });
let authority: IssuedCertificate;
let serving: IssuedCertificate;
const servers: WebhookServer[] = [];

function clientCertificate(ca: IssuedCertificate, cn: string): Promise<IssuedCertificate> {
  return issueClientCertificate(ca, { commonName: cn });
}

async function start(extra: Partial<WebhookServerOptions> = {}): Promise<WebhookServer> {
  const server = await startWebhookServer({ logger, tls: { cert: serving.certPem, key: serving.keyPem }, view: world(), store: new PolicyStore(), host: '127.0.0.1', port: 0, ...extra });
  servers.push(server);
  return server;
}

interface Reply {
  status: number;
  json: Record<string, unknown>;
}

function open(server: WebhookServer, path: string, extra: Partial<RequestOptions> = {}): { req: ClientRequest; reply: Promise<Reply> } {
  let req!: ClientRequest;
  const reply = new Promise<Reply>((resolve, reject) => {
    req = httpsRequest(
      { host: '127.0.0.1', port: server.port, path, method: path === '/readyz' ? 'GET' : 'POST', ca: authority.certPem, servername: 'localhost', headers: { 'content-type': 'application/json' }, agent: false, ...extra },
      (res) => {
        let data = '';
        res.on('data', (d: Buffer) => (data += d.toString()));
        res.on('end', () => {
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(data) as Record<string, unknown>;
          } catch {
            json = { text: data };
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on('error', reject);
  });
  return { req, reply };
}

const review = (r: unknown) => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: r });
const topic = review(request('CREATE', 'Topic', resource('Topic', 't', 'payments', { kind: 'Team', name: 'payments' })));

function send(server: WebhookServer, body: string, extra: Partial<RequestOptions> = {}, path = '/validate'): Promise<Reply> {
  const { req, reply } = open(server, path, extra);
  if (path === '/readyz') req.end();
  else req.end(body);
  return reply;
}

beforeAll(async () => {
  const now = new Date();
  authority = await createCa({ now });
  serving = await issueServingCertificate({ ca: authority, now, serviceName: 'kidp-webhook', namespace: 'kidp-system' });
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

describe('client certificate verification', () => {
  let server: WebhookServer;
  let apiserver: IssuedCertificate;
  beforeAll(async () => {
    apiserver = await clientCertificate(authority, 'kube-apiserver-webhook-client');
    server = await start({ clientAuth: { caPem: authority.certPem, names: ['kube-apiserver-webhook-client'] } });
  });

  it('admits reviews from the apiserver certificate', async () => {
    const r = await send(server, topic, { cert: apiserver.certPem, key: apiserver.keyPem });
    expect(r).toEqual({ status: 200, json: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'uid-1', allowed: true } } });
  });

  it('refuses a caller with no certificate, a home-made one, or another CN of the CA, before reading the review', async () => {
    const forgedCa = await createCa({ now: new Date() });
    const forged = await clientCertificate(forgedCa, 'kube-apiserver-webhook-client');
    const other = await clientCertificate(authority, 'someone-else');
    const replies = await Promise.all([
      send(server, topic),
      send(server, topic, { cert: forged.certPem, key: forged.keyPem }),
      send(server, topic, { cert: other.certPem, key: other.keyPem }, '/mutate'),
    ]);
    const unauthorized = { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 401, reason: 'Unauthorized', message: 'admission reviews are accepted only from a client certificate signed by the configured client CA' };
    expect(replies).toEqual([
      { status: 401, json: unauthorized },
      { status: 401, json: unauthorized },
      { status: 403, json: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 403, reason: 'Forbidden', message: 'this client certificate is not one allowed to send admission reviews' } },
    ]);
  });

  it('still answers probes without a certificate', async () => {
    expect(await send(server, '', {}, '/readyz')).toEqual({ status: 200, json: { text: 'ok' } });
  });
});

describe('caps on concurrent reviews and buffered bytes', () => {
  it('answers 429 past the in-flight cap, and serves again once the others finish', async () => {
    const server = await start({ maxInFlight: 2 });
    const slow = [open(server, '/validate'), open(server, '/validate')];
    for (const s of slow) s.req.write(topic.slice(0, 10));
    await new Promise((r) => setTimeout(r, 100));
    const third = await send(server, topic);
    expect(third).toEqual({ status: 429, json: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 429, reason: 'TooManyRequests', message: "KIDP's admission webhook is at its limit of 2 reviews at once; retry shortly" } });
    for (const s of slow) s.req.end(topic.slice(10));
    expect((await Promise.all(slow.map((s) => s.reply))).map((r) => r.status)).toEqual([200, 200]);
    expect((await send(server, topic)).status).toBe(200);
  });

  it('answers 429 when the bodies held at once would pass the byte cap', async () => {
    const server = await start({ maxBufferedBytes: 1024 * 1024 });
    const big = open(server, '/validate');
    big.req.write(Buffer.alloc(700 * 1024, ' '));
    await new Promise((r) => setTimeout(r, 100));
    const second = open(server, '/validate');
    second.req.end(Buffer.alloc(700 * 1024, ' '));
    expect(await second.reply).toEqual({ status: 429, json: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 429, reason: 'TooManyRequests', message: "KIDP's admission webhook is at its limit of buffered review bytes; retry shortly" } });
    big.req.end(topic);
    // The first body (700 KiB of whitespace, then a review: valid JSON) is read whole and answered.
    expect((await big.reply).json.response).toEqual({ uid: 'uid-1', allowed: true });
    expect((await send(server, topic)).status).toBe(200);
  });
});

describe('metric labels', () => {
  it('files crafted kinds under other', async () => {
    const server = await start();
    const crafted = request('CREATE', 'Topic', resource('Topic', 't', 'payments'));
    for (let i = 0; i < 3; i++) await send(server, review({ ...crafted, uid: `u${i}`, kind: { group: 'evil.example', version: 'v1', kind: `Kind${i}` } }));
    await send(server, review({ ...crafted, kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }));
    const text = await server.metrics.registry.getSingleMetricAsString('kidp_admission_requests_total');
    const kinds = [...text.matchAll(/kind="([^"]*)"/g)].map((m) => m[1]);
    expect([...new Set(kinds)].sort()).toEqual(['Deployment', 'other']);
  });
});

describe('a webhook whose caches are not synced', () => {
  it('refuses every review with a retryable 503 and says so on /readyz', async () => {
    const view = Object.assign(new MemoryView(), { ready: () => false });
    const server = await start({ view });
    const answers = await Promise.all([send(server, topic), send(server, topic, {}, '/mutate'), send(server, '', {}, '/readyz')]);
    const response = {
      uid: 'uid-1',
      allowed: false,
      status: {
        code: 503,
        reason: 'CacheNotSynced',
        message:
          "KIDP's admission webhook has not synced its view of the cluster (its informers are listing, or restarting after an error), so it cannot check ownership or policies; the request was not admitted. Retry in a few seconds; if this persists, check the webhook's /readyz and its log.",
      },
    };
    expect(answers).toEqual([
      { status: 200, json: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response } },
      { status: 200, json: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response } },
      { status: 503, json: { text: 'informer caches not synced' } },
    ]);
  });
});
