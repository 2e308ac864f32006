/** Errors raised while loading or using the CRD definitions. Codes are stable. */
export type CrdErrorCode = 'KIDP_CRDS_NOT_FOUND' | 'KIDP_CRD_INVALID';

export class KidpError extends Error {
  readonly code: CrdErrorCode;
  constructor(code: CrdErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KidpError';
    this.code = code;
  }
}
