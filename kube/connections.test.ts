// keepConnectionsAlive against a real HTTPS server speaking just enough of the core API:
// what matters is how many TLS connections the server sees, which only a real server shows.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { createCa, issueServingCertificate } from '../certs/index.js';
import { keepConnectionsAlive } from './connections.js';

let server: Server;
let connections = 0;
let caPem = '';
let url = '';

beforeAll(async () => {
  const now = new Date();
  const ca = await createCa({ now, commonName: 'kube-connections-test-ca' });
  caPem = ca.certPem;
  const serving = await issueServingCertificate({ ca, now, serviceName: 'apiserver', namespace: 'default' });
  server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    const name = /\/api\/v1\/namespaces\/([^/?]+)/.exec(req.url ?? '')?.[1] ?? 'unknown';
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
  });
  server.on('secureConnection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: url, caData: Buffer.from(caPem).toString('base64'), skipTLSVerify: false }],
    users: [{ name: 'test', token: 'not-checked' }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
    currentContext: 'test',
  });
  return kc;
}

async function connectionsFor(kc: KubeConfig, calls: number, parallel: number): Promise<{ names: string[]; connections: number }> {
  const api = kc.makeApiClient(CoreV1Api);
  const before = connections;
  const names: string[] = [];
  for (let i = 0; i < calls; i += parallel) {
    const batch = await Promise.all(Array.from({ length: Math.min(parallel, calls - i) }, (_, j) => api.readNamespace({ name: `ns-${i + j}` })));
    names.push(...batch.map((n) => n.metadata?.name ?? ''));
  }
  return { names, connections: connections - before };
}

describe('keepConnectionsAlive', () => {
  it('without it, client-node opens one TLS connection per call (the behaviour it works around)', async () => {
    expect(await connectionsFor(kubeConfig(), 5, 1)).toEqual({ names: ['ns-0', 'ns-1', 'ns-2', 'ns-3', 'ns-4'], connections: 5 });
  });

  it('with it, sequential calls share one connection and parallel calls at most one each', async () => {
    const kc = keepConnectionsAlive(kubeConfig());
    expect(await connectionsFor(kc, 5, 1)).toEqual({ names: ['ns-0', 'ns-1', 'ns-2', 'ns-3', 'ns-4'], connections: 1 });
    // Two more waves of three in parallel: the first connection is reused, two more are opened once.
    expect(await connectionsFor(kc, 6, 3)).toEqual({ names: ['ns-0', 'ns-1', 'ns-2', 'ns-3', 'ns-4', 'ns-5'], connections: 2 });
  });

  it('is idempotent, and covers API clients made before it was applied', async () => {
    const kc = kubeConfig();
    const early = kc.makeApiClient(CoreV1Api);
    keepConnectionsAlive(keepConnectionsAlive(kc));
    const before = connections;
    for (let i = 0; i < 4; i++) await early.readNamespace({ name: 'early' });
    expect(connections - before).toBe(1);
  });
});
