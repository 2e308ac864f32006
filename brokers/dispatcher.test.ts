// The Dispatcher's fallback and the webhook transport's classification, against a real
// HTTPS server on loopback and a Kafka address where nothing listens (a closed port is
// what "Kafka unavailable" looks like to a client; nothing is mocked).
import { createServer as createNetServer } from 'node:net';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createCa } from '../certs/ca.js';
import { issueServingCertificate } from '../certs/serving.js';
import type { DeploymentRequest } from './contract.js';
import { KAFKA_RETRY_AFTER_FAILURE_MS, createDispatcher, type BrokerDispatcher } from './dispatcher.js';
import { PermanentDispatchError, TransientDispatchError } from './errors.js';
import { BrokerMetrics } from './metrics.js';
import { encodeMessage } from './protocol.js';
import { sampleRequest } from './testdata.js';
import { es256Key, verifyRequestToken } from './request-jwt.js';
import { generateBrokerKeyPair } from './status-jwt.js';

const request: DeploymentRequest = sampleRequest;

let server: Server;
let caPem: string;
let base: string;
let closedKafka: string;
const received: Array<{ path: string; body: string }> = [];
const authorizations: Array<string | undefined> = [];

beforeAll(async () => {
  const now = new Date();
  const ca = await createCa({ now });
  caPem = ca.certPem;
  const tls = await issueServingCertificate({ ca, now, serviceName: 'broker', namespace: 'test' });
  server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body });
      authorizations.push(req.headers.authorization);
      const status = Number(/\/status\/(\d+)/.exec(req.url ?? '')?.[1] ?? 200);
      if (req.url?.startsWith('/hang')) return; // never answers
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ status }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A port that was free a moment ago and is closed now: connections are refused.
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedKafka = `127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function dispatcherWith(clock: { t: number }, metrics: BrokerMetrics, options: { webhookTimeoutMs?: number; dispatchSigningKeyPem?: string } = {}): BrokerDispatcher {
  return createDispatcher({
    kafkaBrokers: [closedKafka],
    webhookCaBundle: caPem,
    logger: pino({ level: 'silent' }),
    metrics,
    now: () => clock.t,
    kafkaDeadlineMs: 1_500,
    ...options,
  });
}

async function errorCounts(metrics: BrokerMetrics): Promise<Record<string, number>> {
  const metric = await metrics.registry.getSingleMetric('kidp_broker_call_errors_total')?.get();
  return Object.fromEntries((metric?.values ?? []).map((v) => [`${v.labels['call']}/${v.labels['kind']}`, v.value]));
}

describe('Dispatcher', () => {
  it('falls back to the webhook when Kafka is unreachable, then skips Kafka until the retry window passes', async () => {
    const clock = { t: 1_000_000 };
    const metrics = new BrokerMetrics();
    const d = dispatcherWith(clock, metrics);
    try {
      received.length = 0;
      const first = await d.dispatch(request, { transport: 'kafka', webhookURL: `${base}/v1/requests` });
      const second = await d.dispatch(request, { transport: 'kafka', webhookURL: `${base}/v1/requests` });
      expect({ first, second, last: d.lastTransport, received, errors: await errorCounts(metrics) }).toEqual({
        first: 'webhook',
        second: 'webhook',
        last: 'webhook',
        received: [
          { path: '/v1/requests', body: JSON.stringify(request) },
          { path: '/v1/requests', body: JSON.stringify(request) },
        ],
        // One Kafka failure only: the second dispatch went straight to the webhook.
        errors: { 'kafka_send/transient': 1 },
      });
      clock.t += KAFKA_RETRY_AFTER_FAILURE_MS;
      expect(await d.dispatch(request, { transport: 'kafka', webhookURL: `${base}/v1/requests` })).toBe('webhook');
      // The window passed, so Kafka was tried (and failed) once more.
      expect(await errorCounts(metrics)).toEqual({ 'kafka_send/transient': 2 });
    } finally {
      await d.close();
    }
  }, 20_000);

  it('signs each webhook delivery for its body, its broker and its request, at the injected time', async () => {
    const keys = generateBrokerKeyPair();
    const clock = { t: Date.parse('2026-05-01T12:00:00Z') };
    const d = dispatcherWith(clock, new BrokerMetrics(), { dispatchSigningKeyPem: keys.privateKeyPem });
    try {
      authorizations.length = 0;
      expect(await d.dispatch(request, { transport: 'webhook', webhookURL: `${base}/v1/requests` })).toBe('webhook');
      const verified = await verifyRequestToken({ authorization: authorizations[0], body: encodeMessage(request), publicKey: es256Key(keys.publicKeyPem, 'public', 'k'), audiences: ['b1'], now: new Date(clock.t) });
      expect({ count: authorizations.length, verified }).toEqual({ count: 1, verified: { audiences: ['b1'], requestId: 'uid-1-1', expiresAt: clock.t / 1000 + 60 } });
    } finally {
      await d.close();
    }
  });

  it('uses the webhook directly when the target says so', async () => {
    const metrics = new BrokerMetrics();
    const d = dispatcherWith({ t: 0 }, metrics);
    try {
      expect(await d.dispatch(request, { transport: 'webhook', webhookURL: `${base}/v1/requests` })).toBe('webhook');
      expect(await errorCounts(metrics)).toEqual({});
    } finally {
      await d.close();
    }
  });

  const failures: Array<[string, { transport: 'kafka' | 'webhook'; path?: string }, string, string]> = [
    ['4xx is permanent', { transport: 'webhook', path: '/status/403' }, 'PermanentDispatchError', `request uid-1-1 was refused: webhook ${'BASE'}/status/403 answered 403: {"status":403}; fix the DeploymentTarget or the resource and apply again`],
    ['429 is transient', { transport: 'webhook', path: '/status/429' }, 'TransientDispatchError', `request uid-1-1 was not delivered: webhook ${'BASE'}/status/429 answered 429: {"status":429}; it will succeed once the broker or Kafka is reachable again`],
    ['5xx is transient', { transport: 'webhook', path: '/status/503' }, 'TransientDispatchError', `request uid-1-1 was not delivered: webhook ${'BASE'}/status/503 answered 503: {"status":503}; it will succeed once the broker or Kafka is reachable again`],
    ['a timeout is transient', { transport: 'webhook', path: '/hang' }, 'TransientDispatchError', `request uid-1-1 was not delivered: webhook ${'BASE'}/hang unreachable: no answer from ${'BASE'} within 300 ms; it will succeed once the broker or Kafka is reachable again`],
    ['webhook transport without a URL is permanent', { transport: 'webhook' }, 'PermanentDispatchError', 'request uid-1-1 was refused: target t1 uses the webhook transport but names no webhookURL; fix the DeploymentTarget or the resource and apply again'],
  ];
  it.each(failures)('%s', async (_name, target, errorName, message) => {
    const d = dispatcherWith({ t: 0 }, new BrokerMetrics(), { webhookTimeoutMs: 300 });
    try {
      const err = (await d.dispatch(request, { transport: target.transport, ...(target.path ? { webhookURL: base + target.path } : {}) }).catch((e: unknown) => e)) as Error;
      expect({ name: err.name, message: err.message }).toEqual({ name: errorName, message: message.replaceAll('BASE', base) });
      expect(err instanceof PermanentDispatchError || err instanceof TransientDispatchError).toBe(true);
    } finally {
      await d.close();
    }
  });

  it('is transient when Kafka is unreachable and there is no webhook to fall back to', async () => {
    const d = dispatcherWith({ t: 0 }, new BrokerMetrics());
    try {
      const err = (await d.dispatch(request, { transport: 'kafka' }).catch((e: unknown) => e)) as Error;
      expect({ name: err.name, start: err.message.split(' (')[0] }).toEqual({ name: 'TransientDispatchError', start: 'request uid-1-1 was not delivered: Kafka unavailable' });
    } finally {
      await d.close();
    }
  }, 20_000);
});
