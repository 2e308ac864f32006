// The one transport layer of the webhook (STYLE §1): body limits, content type,
// AdmissionReview decoding and encoding, error containment. Handlers never see HTTP.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Decision } from './decision.js';
import { errored } from './decision.js';
import { decodeReview, ReviewDecodeError, type AdmissionRequest, type AdmissionResponse, type AdmissionReview } from './review.js';

export type AdmissionHandler = (req: AdmissionRequest) => Promise<Decision> | Decision;

export interface DecisionObserver {
  (event: { webhook: 'validate' | 'mutate'; request: AdmissionRequest; decision: Decision; durationSeconds: number }): void;
}

export interface AdmissionAppOptions {
  validate: AdmissionHandler;
  mutate: AdmissionHandler;
  logger: Logger;
  /** Called once per answered review: metrics and the decision log hang off this. */
  observe?: DecisionObserver;
  /** Extra GET routes (healthz, readyz, metrics) supplied by server.ts. */
  routes?: (app: express.Express) => void;
  /**
   * The apiserver sends at most its own request limit (3 MiB) plus the old object, so
   * an AdmissionReview above 7 MiB is not one it would send.
   */
  bodyLimitBytes?: number;
  now?: () => bigint;
  /** Refuses a review before its body is read (client certificate checks); undefined admits it. */
  authorize?: (req: IncomingMessage) => Problem | undefined;
  /** Reviews being read or answered at once; more get 429 (DEFAULT_MAX_IN_FLIGHT). */
  maxInFlight?: number;
  /** Bytes of review bodies held at once; more get 429 (DEFAULT_MAX_BUFFERED_BYTES). */
  maxBufferedBytes?: number;
}

export const DEFAULT_BODY_LIMIT_BYTES = 7 * 1024 * 1024;
/**
 * The apiserver sends one review per admitted write and waits ≤ 5 s; at the ~5,000
 * reviews/s one core answers, 512 at once is a queue of ~100 ms: past that, more
 * concurrency is a flood, not load.
 */
export const DEFAULT_MAX_IN_FLIGHT = 512;
/** Nine maximum-size bodies: what a flood of large reviews may pin in memory at most. */
export const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

export function toResponse(uid: string, d: Decision): AdmissionResponse {
  const out: AdmissionResponse = { uid, allowed: d.allowed };
  if (!d.allowed || d.code !== undefined) {
    out.status = { code: d.code ?? 403, message: d.message ?? '', ...(d.reason ? { reason: d.reason } : {}) };
  }
  if (d.patch && d.patch.length > 0) {
    out.patch = Buffer.from(JSON.stringify(d.patch)).toString('base64');
    out.patchType = 'JSONPatch';
  }
  if (d.warnings.length > 0) out.warnings = d.warnings;
  if (Object.keys(d.auditAnnotations).length > 0) out.auditAnnotations = d.auditAnnotations;
  return out;
}

function review(response: AdmissionResponse): AdmissionReview {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

export interface Problem {
  status: number;
  reason: string;
  message: string;
}

function problemBody(p: Problem): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: p.status, reason: p.reason, message: p.message });
}

function problem(res: Response, status: number, reason: string, message: string): void {
  res.status(status).type('application/json').send(problemBody({ status, reason, message }));
}

function sendJson(res: ServerResponse, status: number, body: string, close = false): void {
  const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) };
  if (close) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

/**
 * Answers a request whose body will not be used once the client has finished sending it
 * (discarded, never buffered), so the client reads the answer instead of a reset
 * connection; the server's requestTimeout bounds how long that can take. The connection
 * is closed afterwards.
 */
function rejectAfterBody(req: IncomingMessage, res: ServerResponse, p: Problem): void {
  const send = (): void => sendJson(res, p.status, problemBody(p), true);
  if (req.readableEnded) {
    send();
    return;
  }
  req.removeAllListeners('data');
  req.on('end', send);
  req.resume();
}

/** `/validate` or `/mutate` for a POST to either (query string ignored), else undefined. */
function webhookOf(req: IncomingMessage): 'validate' | 'mutate' | undefined {
  if (req.method !== 'POST') return undefined;
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  return path === '/validate' ? 'validate' : path === '/mutate' ? 'mutate' : undefined;
}

/** Why this request's headers rule out an AdmissionReview body, or undefined. */
function headerProblem(req: IncomingMessage, limit: number): Problem | undefined {
  const type = req.headers['content-type'] ?? '';
  const [media = '', ...params] = type.split(';');
  if (media.trim().toLowerCase() !== 'application/json') {
    return { status: 415, reason: 'UnsupportedMediaType', message: `content type ${JSON.stringify(type)} is not supported: send application/json` };
  }
  for (const param of params) {
    const [name = '', value = ''] = param.split('=');
    const charset = value.trim().replace(/^"|"$/g, '').toLowerCase();
    if (name.trim().toLowerCase() === 'charset' && charset !== 'utf-8' && charset !== 'utf8') {
      return { status: 415, reason: 'UnsupportedMediaType', message: `charset ${JSON.stringify(charset)} is not supported: send UTF-8` };
    }
  }
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity') {
    return { status: 415, reason: 'UnsupportedMediaType', message: `content encoding ${JSON.stringify(encoding)} is not supported: send the body uncompressed` };
  }
  if (Number(req.headers['content-length'] ?? 0) > limit) return tooLarge(limit);
  return undefined;
}

function tooLarge(limit: number): Problem {
  return { status: 413, reason: 'RequestEntityTooLarge', message: `AdmissionReview bodies are limited to ${limit} bytes` };
}

function overloaded(what: string): Problem {
  return { status: 429, reason: 'TooManyRequests', message: `KIDP's admission webhook is at its limit of ${what}; retry shortly` };
}

/**
 * The whole body as parsed JSON, or the problem that stopped reading it. `reserve(n)`
 * asks the shared byte budget for n more bytes and says whether it granted them.
 */
function readJson(
  req: IncomingMessage,
  res: ServerResponse,
  limit: number,
  reserve: (bytes: number) => boolean,
  done: (result: { ok: true; value: unknown } | { ok: false; problem: Problem }) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (r: Parameters<typeof done>[0]): void => {
    if (finished) return;
    finished = true;
    done(r);
  };
  req.on('data', (chunk: Buffer) => {
    if (finished) return;
    size += chunk.length;
    if (size > limit || !reserve(chunk.length)) {
      chunks.length = 0;
      finished = true;
      rejectAfterBody(req, res, size > limit ? tooLarge(limit) : overloaded('buffered review bytes'));
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (finished) return;
    const text = chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks, size).toString('utf8');
    try {
      finish({ ok: true, value: JSON.parse(text) as unknown });
    } catch (e) {
      finish({ ok: false, problem: { status: 400, reason: 'BadRequest', message: `body is not valid JSON: ${e instanceof Error ? e.message : String(e)}` } });
    }
  });
  // An aborted upload: nobody is left to answer.
  req.on('error', () => {
    finished = true;
  });
}

/**
 * The server's request listener. POST /validate and POST /mutate — every admission review —
 * take a lean path over node:http (read, parse, decide, answer); express serves the rest
 * (health, metrics, 404s, 405s). Measured on one pinned core: express's router, body
 * parser and res.json added ~130 µs of CPU to each review, more than policy evaluation.
 */
export function createAdmissionListener(options: AdmissionAppOptions): RequestListener {
  const app = express();
  const now = options.now ?? process.hrtime.bigint;
  const limit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  app.disable('x-powered-by');
  app.set('etag', false);
  options.routes?.(app);

  const answer = async (webhook: 'validate' | 'mutate', handler: AdmissionHandler, body: unknown, res: ServerResponse): Promise<void> => {
    const started = now();
    let request: AdmissionRequest;
    try {
      request = decodeReview(body);
    } catch (e) {
      const err = e as ReviewDecodeError;
      options.logger.warn({ err: err.message, uid: err.uid }, 'undecodable AdmissionReview');
      if (err.uid) {
        // Answer in-band so the apiserver shows the reason to the user.
        sendJson(res, 200, JSON.stringify(review(toResponse(err.uid, errored(400, 'BadRequest', `KIDP could not decode the AdmissionReview: ${err.message}`)))));
      } else {
        sendJson(res, 400, problemBody({ status: 400, reason: 'BadRequest', message: `not a valid AdmissionReview: ${err.message}` }));
      }
      return;
    }
    // A child logger only when something goes wrong: creating one per review costs more
    // than many a review's policy evaluation.
    const log = (): Logger => options.logger.child({ uid: request.uid });
    let decision: Decision;
    try {
      decision = await handler(request);
    } catch (e) {
      // Contained to this request; the process keeps serving. The message names no internals.
      log().error({ err: e }, `${webhook} handler failed`);
      decision = errored(500, 'InternalError', `KIDP failed while deciding on this request (uid ${request.uid}); it was not admitted. Retry, and report it if it persists.`);
    }
    const durationSeconds = Number(now() - started) / 1e9;
    sendJson(res, 200, JSON.stringify(review(toResponse(request.uid, decision))));
    try {
      options.observe?.({ webhook, request, decision, durationSeconds });
    } catch (e) {
      log().error({ err: e }, 'decision observer failed');
    }
  };

  const handlers = { validate: options.validate, mutate: options.mutate };
  for (const webhook of ['validate', 'mutate'] as const) {
    // Only non-POST methods reach express on these paths.
    app.all(`/${webhook}`, (req: Request, res: Response) => {
      res.setHeader('Allow', 'POST');
      problem(res, 405, 'MethodNotAllowed', `${req.method} is not allowed on /${webhook}: the apiserver POSTs an AdmissionReview`);
    });
  }
  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    options.logger.error({ err }, 'unexpected transport error');
    problem(res, 500, 'InternalError', 'internal error');
  });
  app.use((req: Request, res: Response) => problem(res, 404, 'NotFound', `no route ${req.method} ${req.path}`));

  const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  const maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  let inFlight = 0;
  let buffered = 0;
  return (req, res) => {
    const webhook = webhookOf(req);
    if (!webhook) {
      app(req, res);
      return;
    }
    const unauthorized = options.authorize?.(req);
    if (unauthorized) {
      rejectAfterBody(req, res, unauthorized);
      return;
    }
    if (inFlight >= maxInFlight) {
      rejectAfterBody(req, res, overloaded(`${maxInFlight} reviews at once`));
      return;
    }
    const bad = headerProblem(req, limit);
    if (bad) {
      rejectAfterBody(req, res, bad);
      return;
    }
    // Held until the answer is sent (or the client went away): the body, then the decision.
    inFlight += 1;
    let held = 0;
    res.once('close', () => {
      inFlight -= 1;
      buffered -= held;
      held = 0;
    });
    const reserve = (bytes: number): boolean => {
      if (buffered + bytes > maxBuffered) return false;
      buffered += bytes;
      held += bytes;
      return true;
    };
    readJson(req, res, limit, reserve, (body) => {
      if (!body.ok) {
        sendJson(res, body.problem.status, problemBody(body.problem));
        return;
      }
      answer(webhook, handlers[webhook], body.value, res).catch((e: unknown) => {
        options.logger.error({ err: e }, 'answering an AdmissionReview failed');
        if (!res.headersSent) sendJson(res, 500, problemBody({ status: 500, reason: 'InternalError', message: 'internal error' }));
      });
    });
  };
}
