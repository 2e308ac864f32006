// Where certificate material lives. The layout follows a `kubernetes.io/tls` Secret so
// the same names work in a directory, a mounted Secret, and the Secret itself.

/** File names / Secret keys of the stored material. */
export const MATERIAL_KEYS = {
  /** Every CA the webhook's clients must trust, the signing CA first (PEM, concatenated). */
  caBundle: 'ca.crt',
  /** Private key of the signing CA (the ca.crt entry it matches). */
  caKey: 'ca.key',
  /** Serving certificate (leaf only). */
  cert: 'tls.crt',
  /** Serving private key. */
  key: 'tls.key',
} as const;

export type MaterialKey = (typeof MATERIAL_KEYS)[keyof typeof MATERIAL_KEYS];

/** The order material is written in: trust first, so a torn write never serves an untrusted cert. */
export const MATERIAL_WRITE_ORDER: readonly MaterialKey[] = ['ca.crt', 'ca.key', 'tls.key', 'tls.crt'];

export type StoredFiles = Partial<Record<MaterialKey, string>>;

export interface StoreSnapshot {
  files: StoredFiles;
  /** Opaque version for optimistic concurrency; undefined when nothing is stored yet. */
  version: string | undefined;
}

export interface CertificateStore {
  /** Human-readable location for messages, e.g. a path or `secret kidp-system/kidp-webhook-certs`. */
  readonly location: string;
  read(): Promise<StoreSnapshot>;
  /**
   * Writes all material if the store is still at `expectedVersion`, else throws
   * StoreConflictError (another replica rotated first). Returns the new version.
   */
  write(files: Record<MaterialKey, string>, expectedVersion: string | undefined): Promise<string>;
}
