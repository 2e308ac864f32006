// The HTTPS webhook transport (DESIGN.md §5 fallback): the same DeploymentRequest JSON,
// POSTed to the target's broker, trusting a configured CA bundle. The answer is
// classified once here: 2xx delivered, 4xx permanent (but 408/429), 5xx/timeout transient.
// Each delivery carries a controllers' token over its exact bytes (request-jwt.ts).
import type { KeyObject } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import type { DeploymentRequest } from './contract.js';
import { PermanentDispatchError, TransientDispatchError } from './errors.js';
import { encodeMessage } from './protocol.js';
import { signRequestToken } from './request-jwt.js';

/** A broker applies a request synchronously before answering; 10 s covers a slow apiserver. */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/** Answers are tiny JSON; more than this means something else is listening there. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** Statuses in 4xx that mean "later", not "never". */
const RETRYABLE_4XX = new Set([408, 425, 429]);

export interface HttpsPostResult {
  status: number;
  body: string;
}

/** POST JSON over HTTPS; rejects on connection errors and on the timeout. */
export function postJson(url: string, body: Buffer, options: { caBundle?: string; timeoutMs?: number; headers?: Record<string, string> }): Promise<HttpsPostResult> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    if (target.protocol !== 'https:') {
      reject(new Error(`${url} is not an https URL`));
      return;
    }
    const req = httpsRequest(
      target,
      {
        method: 'POST',
        ca: options.caBundle,
        headers: { 'content-type': 'application/json', 'content-length': String(body.byteLength), ...(options.headers ?? {}) },
        timeout: options.timeoutMs ?? WEBHOOK_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.byteLength;
          if (size <= MAX_RESPONSE_BYTES) chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${target.origin} within ${options.timeoutMs ?? WEBHOOK_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Delivers one request to a broker's webhook; resolves on 2xx, else throws a typed error.
 * With `signingKey` the delivery carries `Authorization: Bearer <JWT>`; without it brokers
 * answer 401, which is permanent like any other refusal.
 */
export async function deliverByWebhook(request: DeploymentRequest, url: string, options: { caBundle?: string; timeoutMs?: number; signingKey?: KeyObject; now?: Date }): Promise<void> {
  const body = encodeMessage(request);
  const headers = options.signingKey ? { authorization: `Bearer ${await signRequestToken({ privateKey: options.signingKey, request, body, now: options.now })}` } : undefined;
  let result: HttpsPostResult;
  try {
    result = await postJson(url, body, { caBundle: options.caBundle, timeoutMs: options.timeoutMs, ...(headers ? { headers } : {}) });
  } catch (cause) {
    throw new TransientDispatchError(request.requestId, `webhook ${url} unreachable: ${(cause as Error).message}`, { cause });
  }
  if (result.status >= 200 && result.status < 300) return;
  const detail = `webhook ${url} answered ${result.status}${result.body ? `: ${result.body.slice(0, 512)}` : ''}`;
  if (result.status >= 400 && result.status < 500 && !RETRYABLE_4XX.has(result.status)) throw new PermanentDispatchError(request.requestId, detail);
  throw new TransientDispatchError(request.requestId, detail);
}
