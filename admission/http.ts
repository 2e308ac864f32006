// The one transport layer of the webhook (STYLE §1): body limits, content type,
// AdmissionReview decoding and encoding, error containment. Handlers never see HTTP.
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
}

export const DEFAULT_BODY_LIMIT_BYTES = 7 * 1024 * 1024;

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

function problem(res: Response, status: number, reason: string, message: string): void {
  res.status(status).json({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: status, reason, message });
}

export function createAdmissionApp(options: AdmissionAppOptions): express.Express {
  const app = express();
  const now = options.now ?? process.hrtime.bigint;
  app.disable('x-powered-by');
  // The apiserver never revalidates an AdmissionReview; hashing every body for an ETag is waste.
  app.set('etag', false);
  options.routes?.(app);

  const jsonBody = express.json({ limit: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES, type: () => true, strict: false });

  const endpoint = (webhook: 'validate' | 'mutate', handler: AdmissionHandler) => {
    app.all(`/${webhook}`, (req: Request, res: Response, next: NextFunction) => {
      if (req.method !== 'POST') {
        res.setHeader('Allow', 'POST');
        problem(res, 405, 'MethodNotAllowed', `${req.method} is not allowed on /${webhook}: the apiserver POSTs an AdmissionReview`);
        return;
      }
      if (!req.is('application/json')) {
        problem(res, 415, 'UnsupportedMediaType', `content type ${JSON.stringify(req.headers['content-type'] ?? '')} is not supported: send application/json`);
        return;
      }
      next();
    });
    app.post(`/${webhook}`, jsonBody, async (req: Request, res: Response) => {
      const started = now();
      let request: AdmissionRequest;
      try {
        request = decodeReview(req.body);
      } catch (e) {
        const err = e as ReviewDecodeError;
        options.logger.warn({ err: err.message, uid: err.uid }, 'undecodable AdmissionReview');
        if (err.uid) {
          // Answer in-band so the apiserver shows the reason to the user.
          res.json(review(toResponse(err.uid, errored(400, 'BadRequest', `KIDP could not decode the AdmissionReview: ${err.message}`))));
        } else {
          problem(res, 400, 'BadRequest', `not a valid AdmissionReview: ${err.message}`);
        }
        return;
      }
      const log = options.logger.child({ uid: request.uid });
      let decision: Decision;
      try {
        decision = await handler(request);
      } catch (e) {
        // Contained to this request; the process keeps serving. The message names no internals.
        log.error({ err: e }, `${webhook} handler failed`);
        decision = errored(500, 'InternalError', `KIDP failed while deciding on this request (uid ${request.uid}); it was not admitted. Retry, and report it if it persists.`);
      }
      const durationSeconds = Number(now() - started) / 1e9;
      res.json(review(toResponse(request.uid, decision)));
      try {
        options.observe?.({ webhook, request, decision, durationSeconds });
      } catch (e) {
        log.error({ err: e }, 'decision observer failed');
      }
    });
  };
  endpoint('validate', options.validate);
  endpoint('mutate', options.mutate);

  // Body parser and other errors: a clear 4xx, never a stack trace.
  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.too.large') {
      problem(res, 413, 'RequestEntityTooLarge', `AdmissionReview bodies are limited to ${options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES} bytes`);
    } else if (e.type === 'entity.parse.failed') {
      problem(res, 400, 'BadRequest', `body is not valid JSON: ${e.message ?? ''}`);
    } else if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      problem(res, e.status, 'BadRequest', e.message ?? 'bad request');
    } else {
      options.logger.error({ err }, 'unexpected transport error');
      problem(res, 500, 'InternalError', 'internal error');
    }
  });
  app.use((req: Request, res: Response) => problem(res, 404, 'NotFound', `no route ${req.method} ${req.path}`));
  return app;
}
