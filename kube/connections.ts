// Connection reuse for API calls to the apiserver. @kubernetes/client-node 1.4.0 builds a new
// https.Agent for every call (KubeConfig.applySecurityAuthentication), so every call pays a
// TCP connect and a TLS handshake with the client certificate on both ends: measured on the
// local apiserver, 5.2 ms of client CPU and 10.5 ms wall per GET, against 0.8 ms and 2.1 ms
// on a kept-alive connection (bench/reconcile/README.md). Watches take another path
// (applyToFetchOptions) and are left as they are.
import { createHash } from 'node:crypto';
import { Agent as HttpsAgent, type AgentOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

/**
 * Idle sockets are closed after this long: well under the apiserver's idle timeout (Go's
 * http.Server, 90 s in kube-apiserver), so we close first and never write on a socket the
 * server is closing.
 */
export const IDLE_SOCKET_TIMEOUT_MS = 30_000;

type Context = Parameters<KubeConfig['applySecurityAuthentication']>[0];

const patched = new WeakSet<KubeConfig>();

/** What decides whether two calls may share a connection: the TLS material and verification. */
function agentKey(options: AgentOptions): string {
  const hash = createHash('sha256');
  for (const part of [options.ca, options.cert, options.key, options.pfx, options.passphrase, options.servername, String(options.rejectUnauthorized)]) {
    for (const item of Array.isArray(part) ? part : [part]) {
      hash.update(item === undefined ? '\0' : typeof item === 'string' || Buffer.isBuffer(item) ? item : JSON.stringify(item));
      hash.update('\x01');
    }
  }
  return hash.digest('hex');
}

/**
 * Makes the API clients of `kubeConfig` (made before or after) share kept-alive connections.
 * Mutates and returns the same KubeConfig; calling it twice is harmless. The client still
 * reads its credentials on every call, so rotated client certificates (a kubeconfig whose
 * files change) get a new agent rather than a stale connection. Proxied clusters and plain
 * HTTP are left alone.
 */
export function keepConnectionsAlive(kubeConfig: KubeConfig): KubeConfig {
  if (patched.has(kubeConfig)) return kubeConfig;
  patched.add(kubeConfig);
  const original = kubeConfig.applySecurityAuthentication.bind(kubeConfig);
  const agents = new Map<string, HttpsAgent>();
  kubeConfig.applySecurityAuthentication = async (context: Context) => {
    await original(context);
    const fresh = context.getAgent();
    // Exactly https.Agent: a subclass is a proxy agent, which keeps its own sockets.
    if (!(fresh instanceof HttpsAgent) || fresh.constructor !== HttpsAgent) return;
    const key = agentKey(fresh.options);
    let agent = agents.get(key);
    if (!agent) {
      // A new key means rotated credentials: the old agent's connections authenticated as before.
      for (const old of agents.values()) old.destroy();
      agents.clear();
      agent = new HttpsAgent({ ...fresh.options, keepAlive: true, timeout: IDLE_SOCKET_TIMEOUT_MS });
      agents.set(key, agent);
    }
    context.setAgent(agent);
  };
  return kubeConfig;
}

/** Where a process finds its cluster: a KubeConfig made by the caller, or a kubeconfig file. */
export interface KubeConfigSource {
  kubeConfig?: KubeConfig;
  /** Path of a kubeconfig; default: KUBECONFIG, then in-cluster. Ignored when kubeConfig is given. */
  kubeconfig?: string;
  /** Reuse connections (default). A one-shot command passes false, so idle sockets never hold its exit. */
  keepAlive?: boolean;
}

/**
 * The one way KIDP loads its connection to the apiserver: the given KubeConfig, else the
 * file, else KUBECONFIG / in-cluster; with kept-alive connections unless told otherwise.
 */
export function loadKubeConfig(source: KubeConfigSource = {}): KubeConfig {
  let kubeConfig = source.kubeConfig;
  if (!kubeConfig) {
    kubeConfig = new KubeConfig();
    if (source.kubeconfig) kubeConfig.loadFromFile(source.kubeconfig);
    else kubeConfig.loadFromDefault();
  }
  return source.keepAlive === false ? kubeConfig : keepConnectionsAlive(kubeConfig);
}
