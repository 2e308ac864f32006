// The webhook server over real HTTPS on loopback: whole AdmissionReview answers, hostile
// input (issue #4 item 10) and a fuzz run. Nothing here is mocked.
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:tls';
import pino from 'pino';
import { createCa } from '../certs/ca.js';
import { issueServingCertificate } from '../certs/serving.js';
import { startWebhookServer, PolicyStore, type WebhookServer } from './server.js';
import { memorySink } from './decision-log.js';
import { world, request, resource } from './testdata.js';
import type { Policy } from '../crds/types.js';

let server: WebhookServer;
let ca: string;
const log = memorySink();

interface Reply {
  status: number;
  body: string;
  json?: Record<string, unknown>;
}

function post(path: string, body: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }, method = 'POST'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: server.port, path, method, ca, servername: 'localhost', headers }, (res) => {
      let data = '';
      res.on('data', (d: Buffer) => (data += d.toString()));
      res.on('end', () => {
        let json: Record<string, unknown> | undefined;
        try {
          json = JSON.parse(data) as Record<string, unknown>;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body: data, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A POST of `mb` MiB of JSON-ish filler in 64 KiB chunks, with no content-length. */
function chunked(path: string, mb: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: server.port, path, method: 'POST', ca, servername: 'localhost', headers: { 'content-type': 'application/json' } }, (res) => {
      let data = '';
      res.on('data', (d: Buffer) => (data += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data, json: undefined }));
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(64 * 1024, ' ');
    for (let i = 0; i < mb * 16; i++) req.write(chunk);
    req.end();
  });
}

const review = (req: unknown) => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: req });

beforeAll(async () => {
  const now = new Date();
  const authority = await createCa({ now });
  const serving = await issueServingCertificate({ ca: authority, now, serviceName: 'kidp-webhook', namespace: 'kidp-system' });
  ca = authority.certPem;
  const store = new PolicyStore();
  store.upsertPolicy({
    apiVersion: 'platform.kidp.io/v1alpha1',
    kind: 'Policy',
    metadata: { name: 'topics-replicate' },
    spec: {
      mode: 'Enforce',
      selector: { resourceTypes: ['Topic'] },
      rules: [{ name: 'three-replicas', expression: 'object.spec.?replicationFactor.orValue(1) >= 3', messageExpression: "'topic ' + object.metadata.name + ' must set spec.replicationFactor to 3 or more'" }],
    },
  } as Policy);
  expect(store.problemsList()).toEqual([]);
  server = await startWebhookServer({ logger: pino({ level: 'silent' }), tls: { cert: serving.certPem, key: serving.keyPem }, view: world(), store, decisionLog: log, host: '127.0.0.1', port: 0, requestTimeoutMs: 2_000 });
});

afterAll(async () => {
  await server.close();
});

describe('admission over HTTPS', () => {
  it('denies an Enforce violation with the messageExpression text and logs the decision', async () => {
    const req = request('CREATE', 'Topic', resource('Topic', 'orders', 'payments', { kind: 'Team', name: 'payments' }, { replicationFactor: 1 }));
    const reply = await post('/validate', review(req));
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: {
        uid: 'uid-1',
        allowed: false,
        status: { code: 403, reason: 'PolicyViolation', message: 'topics-replicate/three-replicas: topic orders must set spec.replicationFactor to 3 or more' },
      },
    });
    const record = log.records.at(-1);
    expect(record).toMatchObject({ uid: 'uid-1', webhook: 'validate', user: 'alice', operation: 'CREATE', result: 'deny', allowed: false });
    expect(record?.policies).toEqual([{ policy: 'topics-replicate', mode: 'Enforce', applied: true, rules: [{ rule: 'three-replicas', result: 'fail', message: 'topic orders must set spec.replicationFactor to 3 or more' }] }]);
  });

  it('patches on /mutate with a base64 JSONPatch', async () => {
    // The apiserver appends ?timeout=<timeoutSeconds>s to the configured path.
    const reply = await post('/mutate?timeout=5s', review(request('CREATE', 'Team', resource('Team', 'search', undefined))));
    const response = reply.json?.response as { patch: string; patchType: string; allowed: boolean };
    expect({ allowed: response.allowed, patchType: response.patchType, patch: JSON.parse(Buffer.from(response.patch, 'base64').toString()) }).toEqual({
      allowed: true,
      patchType: 'JSONPatch',
      patch: [{ op: 'add', path: '/metadata/labels', value: { 'platform.kidp.io/managed-by': 'kidp', 'platform.kidp.io/team': 'search' } }],
    });
  });

  it('serves health, readiness and metrics', async () => {
    expect((await post('/healthz', '', {}, 'GET')).body).toBe('ok');
    expect((await post('/readyz', '', {}, 'GET')).status).toBe(200);
    const metrics = (await post('/metrics', '', {}, 'GET')).body;
    expect(metrics).toMatch(/kidp_admission_requests_total\{operation="CREATE",kind="Topic",decision="deny",webhook="validate"\} \d+/);
    expect(metrics).toMatch(/kidp_policy_evaluations_total\{policy="topics-replicate",rule="three-replicas",result="fail"\} \d+/);
    expect(metrics).toContain('kidp_admission_duration_seconds_bucket');
  });
});

describe('hostile input', () => {
  const cases: [string, () => Promise<Reply>, number, string][] = [
    ['non-JSON', () => post('/validate', '{not json'), 400, 'body is not valid JSON'],
    ['wrong apiVersion/kind', () => post('/validate', JSON.stringify({ apiVersion: 'v1', kind: 'Pod' })), 400, 'expected apiVersion admission.k8s.io/v1 and kind AdmissionReview'],
    ['missing request.uid', () => post('/validate', review({ operation: 'CREATE' })), 400, 'request.uid is missing'],
    ['a JSON array', () => post('/validate', '[]'), 400, 'body must be a JSON object'],
    ['wrong content type', () => post('/validate', review({}), { 'content-type': 'text/plain' }), 415, 'send application/json'],
    ['GET on /validate', () => post('/validate', '', {}, 'GET'), 405, 'the apiserver POSTs an AdmissionReview'],
    ['a 10 MB body', () => post('/validate', Buffer.alloc(10 * 1024 * 1024, 'a')), 413, 'AdmissionReview bodies are limited'],
    ['a 10 MB body without content-length', () => chunked('/validate', 10), 413, 'AdmissionReview bodies are limited'],
    ['a charset other than UTF-8', () => post('/validate', review({}), { 'content-type': 'application/json; charset=latin1' }), 415, 'send UTF-8'],
    ['a compressed body', () => post('/validate', review({}), { 'content-type': 'application/json', 'content-encoding': 'gzip' }), 415, 'send the body uncompressed'],
    ['an unknown path', () => post('/elsewhere', '{}'), 404, 'no route POST /elsewhere'],
  ];
  it.each(cases)('%s gets a clear 4xx', async (_name, send, status, text) => {
    const reply = await send();
    expect({ status: reply.status, hasText: reply.body.includes(text), stack: /\n\s+at /.test(reply.body) }).toEqual({ status, hasText: true, stack: false });
  });

  it('answers in-band when the uid is known but the request is malformed', async () => {
    const reply = await post('/validate', review({ uid: 'u-9', operation: 'UPDATE', kind: { group: 'platform.kidp.io', version: 'v1alpha1', kind: 'Topic' }, resource: { group: 'platform.kidp.io', version: 'v1alpha1', resource: 'topics' }, object: {} }));
    expect(reply.json?.response).toEqual({
      uid: 'u-9',
      allowed: false,
      status: { code: 400, reason: 'BadRequest', message: 'KIDP could not decode the AdmissionReview: an UPDATE request needs request.object and request.oldObject' },
    });
  });

  it('closes a body that trickles in slowly and keeps serving others', async () => {
    // Sends headers and a few bytes, then nothing: the server's requestTimeout ends it.
    const closed = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: server.port, ca, servername: 'localhost' }, () => {
        socket.write('POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"api');
      });
      let data = '';
      socket.on('data', (d: Buffer) => (data += d.toString()));
      socket.on('close', () => resolve(data));
    });
    expect(closed.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
    expect((await post('/healthz', '', {}, 'GET')).status).toBe(200);
  }, 20_000);

  it('survives 10,000 random and mutated AdmissionReviews: no crash, no hang, no 5xx with a stack', async () => {
    const base = request('CREATE', 'Topic', resource('Topic', 't', 'payments', { kind: 'Team', name: 'payments' }, { replicationFactor: 3 }));
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const junk = (): unknown => {
      const pick = Math.floor(random() * 9);
      return [null, 1.5, -1, 'x'.repeat(Math.floor(random() * 50)), [], {}, true, { a: [1, { b: null }] }, 'CREATE'][pick];
    };
    const mutateValue = (value: unknown, depth: number): unknown => {
      if (depth > 4 || random() < 0.15) return junk();
      if (Array.isArray(value)) return value.map((v) => mutateValue(v, depth + 1));
      if (value && typeof value === 'object') {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(value)) if (random() > 0.1) out[k] = mutateValue(v, depth + 1);
        return out;
      }
      return random() < 0.2 ? junk() : value;
    };
    const counts: Record<string, number> = {};
    let stackTraces = 0;
    const batch = 50;
    for (let i = 0; i < 10_000; i += batch) {
      const replies = await Promise.all(
        Array.from({ length: batch }, (_, j) => {
          const body = (i + j) % 10 === 0 ? Buffer.from(Array.from({ length: 64 }, () => Math.floor(random() * 256))) : review(mutateValue(base, 0));
          return post((i + j) % 2 === 0 ? '/validate' : '/mutate', body);
        }),
      );
      for (const r of replies) {
        counts[r.status] = (counts[r.status] ?? 0) + 1;
        if (/\n\s+at /.test(r.body)) stackTraces += 1;
      }
    }
    expect(Object.keys(counts).filter((s) => Number(s) >= 500)).toEqual([]);
    expect(stackTraces).toBe(0);
    expect((counts['200'] ?? 0) + (counts['400'] ?? 0)).toBe(10_000);
    expect((await post('/healthz', '', {}, 'GET')).status).toBe(200);
  }, 120_000);
});
