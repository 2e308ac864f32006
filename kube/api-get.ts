// Raw JSON GETs of the apiserver (discovery documents, lists of any kind): client-node's
// typed lists turn timestamps into Dates and drop fields its models do not know, and a
// policy must see an object exactly as admission does.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** An error status from the apiserver, with its code (403, 404, ...) and its Status message. */
export class ApiStatusError extends Error {
  constructor(
    readonly code: number,
    readonly path: string,
    message: string,
  ) {
    super(`GET ${path}: ${code} ${message}`);
    this.name = 'ApiStatusError';
  }
}

/** A GET waits at most this long: a list of every Pod of a large cluster takes seconds, not minutes. */
export const GET_TIMEOUT_MS = 60_000;

/**
 * One GET of a JSON document; an error status throws ApiStatusError. `accept` asks for another
 * representation (`application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`: a list's
 * metadata only).
 */
export async function getJson<T>(kubeConfig: KubeConfig, path: string, accept = 'application/json'): Promise<T> {
  const server = kubeConfig.getCurrentCluster()?.server;
  if (!server) throw new Error('the kubeconfig names no cluster server');
  const url = new URL(path, server);
  const options: RequestOptions = { method: 'GET', headers: { accept }, timeout: GET_TIMEOUT_MS };
  await kubeConfig.applyToHTTPSOptions(options);
  const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = send(url, options, resolve);
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within ${GET_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 299) {
    let message = text.slice(0, 300);
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message;
    } catch {
      // Not a Status object (a proxy's error page): its first bytes say enough.
    }
    throw new ApiStatusError(status, path, message);
  }
  return JSON.parse(text) as T;
}
