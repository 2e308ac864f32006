// The certs/ error catalogue (STYLE §7): one class per stable code, always carrying
// `cause` when there is one, with a message that says what, where and what to do.

export type CertsErrorCode =
  | 'KIDP_CERTS_MATERIAL_CORRUPT'
  | 'KIDP_CERTS_STORE_CONFLICT'
  | 'KIDP_CERTS_STORE_FAILED'
  | 'KIDP_CERTS_INVALID_OPTIONS'
  | 'KIDP_CERTS_CA_BUNDLE_APPLY_FAILED';

export abstract class CertsError extends Error {
  abstract readonly code: CertsErrorCode;
}

/** Stored material exists but cannot be parsed; nothing is overwritten. */
export class MaterialCorruptError extends CertsError {
  readonly code = 'KIDP_CERTS_MATERIAL_CORRUPT';
  constructor(
    readonly location: string,
    readonly item: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `certificate material ${item} in ${location} is corrupt: ${reason}; ` +
        `nothing was changed. Remove ${item} (or the whole ${location}) to have KIDP issue new material`,
      options,
    );
    this.name = 'MaterialCorruptError';
  }
}

/** Someone else (another replica) wrote the store since we read it. */
export class StoreConflictError extends CertsError {
  readonly code = 'KIDP_CERTS_STORE_CONFLICT';
  constructor(
    readonly location: string,
    options?: { cause?: unknown },
  ) {
    super(`certificate store ${location} was changed by another writer; re-read and retry`, options);
    this.name = 'StoreConflictError';
  }
}

export class StoreFailedError extends CertsError {
  readonly code = 'KIDP_CERTS_STORE_FAILED';
  constructor(
    readonly location: string,
    operation: 'read' | 'write',
    options?: { cause?: unknown },
  ) {
    const detail = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super(`could not ${operation} certificate store ${location}${detail}; check its permissions and that it exists`, options);
    this.name = 'StoreFailedError';
  }
}

export class InvalidOptionsError extends CertsError {
  readonly code = 'KIDP_CERTS_INVALID_OPTIONS';
  constructor(
    readonly option: string,
    reason: string,
  ) {
    super(`certificate option ${option} is invalid: ${reason}`);
    this.name = 'InvalidOptionsError';
  }
}

export class CaBundleApplyError extends CertsError {
  readonly code = 'KIDP_CERTS_CA_BUNDLE_APPLY_FAILED';
  constructor(
    readonly kind: 'ValidatingWebhookConfiguration' | 'MutatingWebhookConfiguration',
    readonly configName: string,
    options?: { cause?: unknown },
  ) {
    const detail = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super(
      `could not set caBundle on ${kind} ${configName}${detail}; ` +
        `check that it exists and that KIDP's service account may get and update it`,
      options,
    );
    this.name = 'CaBundleApplyError';
  }
}
