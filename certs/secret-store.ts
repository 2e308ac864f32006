// A CertificateStore in a Kubernetes Secret, shared by every webhook replica. Writes are
// conditional on resourceVersion, so two replicas rotating at once cannot both win: the
// loser gets StoreConflictError, re-reads, and adopts the winner's material.
// Its end-to-end test against the real apiserver belongs in test/ (not written yet).
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import { isConflict, isNotFound } from '../kube/index.js';
import { MANAGED_BY } from '../crds/registry.js';
import { StoreConflictError, StoreFailedError } from './errors.js';
import { MATERIAL_KEYS, type CertificateStore, type MaterialKey, type StoreSnapshot, type StoredFiles } from './store.js';


export interface SecretCertificateStoreOptions {
  api: Pick<CoreV1Api, 'readNamespacedSecret' | 'createNamespacedSecret' | 'replaceNamespacedSecret'>;
  namespace: string;
  name: string;
  labels?: Record<string, string>;
}

export class SecretCertificateStore implements CertificateStore {
  readonly location: string;

  constructor(private readonly options: SecretCertificateStoreOptions) {
    this.location = `secret ${options.namespace}/${options.name}`;
  }

  async read(): Promise<StoreSnapshot> {
    let secret: V1Secret;
    try {
      secret = await this.options.api.readNamespacedSecret({ name: this.options.name, namespace: this.options.namespace });
    } catch (err) {
      if (isNotFound(err)) return { files: {}, version: undefined };
      throw new StoreFailedError(this.location, 'read', { cause: err });
    }
    const files: StoredFiles = {};
    for (const key of Object.values(MATERIAL_KEYS)) {
      const value = secret.data?.[key];
      if (value !== undefined) files[key] = Buffer.from(value, 'base64').toString('utf8');
    }
    return { files, version: secret.metadata?.resourceVersion };
  }

  async write(files: Record<MaterialKey, string>, expectedVersion: string | undefined): Promise<string> {
    const data: Record<string, string> = {};
    for (const key of Object.values(MATERIAL_KEYS)) data[key] = Buffer.from(files[key], 'utf8').toString('base64');
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: this.options.name,
        namespace: this.options.namespace,
        labels: { ...MANAGED_BY, ...this.options.labels },
        ...(expectedVersion === undefined ? {} : { resourceVersion: expectedVersion }),
      },
      type: 'kubernetes.io/tls',
      data,
    };
    try {
      const written =
        expectedVersion === undefined
          ? await this.options.api.createNamespacedSecret({ namespace: this.options.namespace, body })
          : await this.options.api.replaceNamespacedSecret({ name: this.options.name, namespace: this.options.namespace, body });
      return written.metadata?.resourceVersion ?? '';
    } catch (err) {
      if (isConflict(err)) throw new StoreConflictError(this.location, { cause: err });
      throw new StoreFailedError(this.location, 'write', { cause: err });
    }
  }
}
