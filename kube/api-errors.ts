// How KIDP reads an apiserver error, once (issue 13): its HTTP status, the Status message
// the apiserver put in the body, and what a caller should do about it. client-node throws
// ApiException for typed calls; a watch or a hand-made GET may give anything else with a
// numeric `code` or `statusCode`.
import { ApiException } from '@kubernetes/client-node';

export const HTTP_BAD_REQUEST = 400;
export const HTTP_UNAUTHORIZED = 401;
export const HTTP_FORBIDDEN = 403;
export const HTTP_NOT_FOUND = 404;
export const HTTP_CONFLICT = 409;
export const HTTP_GONE = 410;
export const HTTP_UNPROCESSABLE = 422;

/**
 * What a failed call means for the caller:
 * - `conflict`: someone wrote since we read; re-read and retry now.
 * - `invalid`: the apiserver refused the object itself (400, 422); retrying cannot help.
 * - `not-found`: the object (or API) is not there.
 * - `denied`: 401/403; retrying helps only once someone changes RBAC or credentials.
 * - `transient`: anything else (5xx, 429, no answer); retry with backoff.
 */
export type ApiErrorKind = 'conflict' | 'invalid' | 'not-found' | 'denied' | 'transient';

/** The HTTP status of an apiserver error, or undefined when there was no answer. */
export function apiStatusOf(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  if (typeof err === 'object' && err !== null) {
    for (const field of ['code', 'statusCode'] as const) {
      const value = (err as Record<string, unknown>)[field];
      if (typeof value === 'number' && value >= 100 && value < 600) return value;
    }
  }
  return undefined;
}

export function apiErrorKind(err: unknown): ApiErrorKind {
  switch (apiStatusOf(err)) {
    case HTTP_CONFLICT:
      return 'conflict';
    case HTTP_BAD_REQUEST:
    case HTTP_UNPROCESSABLE:
      return 'invalid';
    case HTTP_NOT_FOUND:
      return 'not-found';
    case HTTP_UNAUTHORIZED:
    case HTTP_FORBIDDEN:
      return 'denied';
    default:
      return 'transient';
  }
}

export const isNotFound = (err: unknown): boolean => apiStatusOf(err) === HTTP_NOT_FOUND;
export const isConflict = (err: unknown): boolean => apiStatusOf(err) === HTTP_CONFLICT;

/** The apiserver's own words: the Status message of the body when there is one, else the body, else the error's message. */
export function apiErrorDetail(err: unknown): string {
  if (err instanceof ApiException) {
    const body = typeof err.body === 'string' ? err.body : JSON.stringify(err.body);
    try {
      return (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      return body;
    }
  }
  return err instanceof Error ? err.message : String(err);
}
