// Puts the CA bundle into webhook configurations, so the apiserver trusts the webhook's
// serving certificate. Run on start and after every rotation.
import type { AdmissionregistrationV1Api, V1MutatingWebhookConfiguration, V1ValidatingWebhookConfiguration } from '@kubernetes/client-node';
import { isConflict } from '../kube/index.js';
import { CaBundleApplyError } from './errors.js';

export type WebhookConfiguration = V1ValidatingWebhookConfiguration | V1MutatingWebhookConfiguration;

/**
 * A copy of `config` with every webhook's clientConfig.caBundle set to the base64 of
 * `caPem` (the API field is PEM bytes, base64 in JSON). The input is not modified.
 */
export function injectCaBundle<T extends WebhookConfiguration>(config: T, caPem: string): T {
  const caBundle = Buffer.from(caPem, 'utf8').toString('base64');
  const copy = structuredClone(config);
  for (const webhook of copy.webhooks ?? []) webhook.clientConfig = { ...webhook.clientConfig, caBundle };
  return copy;
}

export interface WebhookConfigurationNames {
  validating?: string[];
  mutating?: string[];
}

export type AdmissionregistrationApi = Pick<
  AdmissionregistrationV1Api,
  | 'readValidatingWebhookConfiguration'
  | 'replaceValidatingWebhookConfiguration'
  | 'readMutatingWebhookConfiguration'
  | 'replaceMutatingWebhookConfiguration'
>;

/** A conflict means someone else updated the configuration in between; re-reading settles it. */
export const MAX_APPLY_CONFLICT_RETRIES = 5;

export interface ApplyResult {
  kind: 'ValidatingWebhookConfiguration' | 'MutatingWebhookConfiguration';
  name: string;
  updated: boolean;
}

/**
 * Sets the caBundle on the named configurations: read, inject, replace with the read
 * resourceVersion (optimistic concurrency, so a concurrent edit of another field is never
 * overwritten), retrying on conflict. Configurations already carrying the bundle are left
 * alone. Throws CaBundleApplyError naming the first configuration that failed.
 */
export async function applyCaBundle(api: AdmissionregistrationApi, names: WebhookConfigurationNames, caPem: string): Promise<ApplyResult[]> {
  const results: ApplyResult[] = [];
  for (const name of names.validating ?? []) {
    results.push(
      await applyOne('ValidatingWebhookConfiguration', name, caPem, {
        read: () => api.readValidatingWebhookConfiguration({ name }),
        replace: (body) => api.replaceValidatingWebhookConfiguration({ name, body }),
      }),
    );
  }
  for (const name of names.mutating ?? []) {
    results.push(
      await applyOne('MutatingWebhookConfiguration', name, caPem, {
        read: () => api.readMutatingWebhookConfiguration({ name }),
        replace: (body) => api.replaceMutatingWebhookConfiguration({ name, body }),
      }),
    );
  }
  return results;
}

async function applyOne<T extends WebhookConfiguration>(
  kind: ApplyResult['kind'],
  name: string,
  caPem: string,
  io: { read: () => Promise<T>; replace: (body: T) => Promise<T> },
): Promise<ApplyResult> {
  for (let attempt = 0; ; attempt++) {
    try {
      const current = await io.read();
      const patched = injectCaBundle(current, caPem);
      if (JSON.stringify(patched.webhooks) === JSON.stringify(current.webhooks)) return { kind, name, updated: false };
      await io.replace(patched);
      return { kind, name, updated: true };
    } catch (err) {
      if (isConflict(err) && attempt < MAX_APPLY_CONFLICT_RETRIES) continue;
      throw new CaBundleApplyError(kind, name, { cause: err });
    }
  }
}
