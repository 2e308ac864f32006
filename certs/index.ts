// Public API of certs/: the admission server uses these and nothing deeper.
export { createCertificateManager } from './rotation.js';
export type { CertificateManager, CertificateManagerOptions, RotateListener } from './rotation.js';
export { attachHotReload, type MaterialSource } from './hot-reload.js';
export { applyCaBundle, injectCaBundle } from './ca-bundle.js';
export type { AdmissionregistrationApi, ApplyResult, WebhookConfiguration, WebhookConfigurationNames } from './ca-bundle.js';
export type { Material } from './material.js';
export { FileCertificateStore } from './file-store.js';
export { SecretCertificateStore, type SecretCertificateStoreOptions } from './secret-store.js';
export { MATERIAL_KEYS, type CertificateStore, type StoreSnapshot, type StoredFiles } from './store.js';
export { DEFAULT_ROTATION_POLICY, type RotationPolicy } from './rotation-plan.js';
export { servingDnsNames, issueServingCertificate, type ServingIdentity, type IssueServingOptions } from './serving.js';
export { createCa, type CreateCaOptions, type IssuedCertificate } from './ca.js';
export {
  CertsError,
  CaBundleApplyError,
  InvalidOptionsError,
  MaterialCorruptError,
  StoreConflictError,
  StoreFailedError,
  type CertsErrorCode,
} from './errors.js';
export { issueClientCertificate, DEFAULT_CLIENT_VALIDITY_MS, type ClientIdentity } from './client.js';
