// The controllers/ error catalogue (STYLE §7): stable codes, one class each, carrying `cause`.

export type ControllersErrorCode = 'KIDP_CONTROLLERS_CONFLICT' | 'KIDP_CONTROLLERS_API' | 'KIDP_CONTROLLERS_TERMINAL' | 'KIDP_CONTROLLERS_INVALID_OPTIONS';

export abstract class ControllersError extends Error {
  abstract readonly code: ControllersErrorCode;
}

/** Someone wrote the object since we read it (HTTP 409): re-read from the cache and retry. */
export class ConflictError extends ControllersError {
  readonly code = 'KIDP_CONTROLLERS_CONFLICT';
  constructor(what: string, options?: { cause?: unknown }) {
    super(`${what} changed since it was read; it is reconciled again from the current state`, options);
    this.name = 'ConflictError';
  }
}

/** An apiserver call failed; `status` is the HTTP code when there was one. Retried with backoff. */
export class ApiError extends ControllersError {
  readonly code = 'KIDP_CONTROLLERS_API';
  constructor(
    readonly operation: string,
    readonly status: number | undefined,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${operation} failed${status ? ` (HTTP ${status})` : ''}: ${detail}; it is retried with backoff`, options);
    this.name = 'ApiError';
  }
}

/** Retrying cannot help (the apiserver refused the object as invalid): record it in status, stop. */
export class TerminalError extends ControllersError {
  readonly code = 'KIDP_CONTROLLERS_TERMINAL';
  constructor(
    readonly reason: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TerminalError';
  }
}

export class InvalidOptionsError extends ControllersError {
  readonly code = 'KIDP_CONTROLLERS_INVALID_OPTIONS';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidOptionsError';
  }
}
