// Webhook configurations generated from code, so the rules always match what the
// handlers understand (issue #4 item 6). Applied by server.ts on start (local) or shipped
// in deploy/ (a real cluster).
import type { V1MutatingWebhookConfiguration, V1RuleWithOperations, V1ValidatingWebhook, V1ValidatingWebhookConfiguration, AdmissionregistrationV1WebhookClientConfig } from '@kubernetes/client-node';

import { MANAGED_BY, PLATFORM_GROUP, PLATFORM_KINDS, PLATFORM_VERSION, TENANT_KINDS } from '../crds/registry.js';

export const PLATFORM_KINDS_PLURAL = PLATFORM_KINDS.map((k) => k.plural);
/** The kinds that belong to a team get labels, defaults and finalizers (crds/registry.ts TENANT_KINDS). */
const MUTATED_PLURAL = TENANT_KINDS.map((k) => k.plural);

/** Core kinds a Policy may select, as `Kind` or `Kind.group` → API group and resource. */
export const CORE_RESOURCES: Readonly<Record<string, { group: string; resource: string }>> = {
  Pod: { group: '', resource: 'pods' },
  Namespace: { group: '', resource: 'namespaces' },
  ConfigMap: { group: '', resource: 'configmaps' },
  // `Service` alone is KIDP's own Service kind (resourceTypeOf): the core one is Service.core.
  'Service.core': { group: '', resource: 'services' },
  ServiceAccount: { group: '', resource: 'serviceaccounts' },
  'Deployment.apps': { group: 'apps', resource: 'deployments' },
  'StatefulSet.apps': { group: 'apps', resource: 'statefulsets' },
  'DaemonSet.apps': { group: 'apps', resource: 'daemonsets' },
  'Job.batch': { group: 'batch', resource: 'jobs' },
  'CronJob.batch': { group: 'batch', resource: 'cronjobs' },
  'Ingress.networking.k8s.io': { group: 'networking.k8s.io', resource: 'ingresses' },
};

/**
 * Where a resource type as selectors spell it (`ConfigMap`, `Deployment.apps`, `Service`
 * for KIDP's own) is served: group, plural and kind; undefined for types KIDP does not know.
 */
export function resourceOfType(resourceType: string): { group: string; resource: string; kind: string } | undefined {
  const core = CORE_RESOURCES[resourceType];
  if (core) return { ...core, kind: resourceType.split('.')[0] as string };
  const own = PLATFORM_KINDS.find((k) => k.kind === resourceType);
  return own ? { group: PLATFORM_GROUP, resource: own.plural, kind: own.kind } : undefined;
}

export interface WebhookConfigOptions {
  /** Name of both configurations. */
  name?: string;
  /** Where the apiserver reaches the webhook: a URL base (local) or an in-cluster Service. */
  endpoint: { url: string } | { service: { namespace: string; name: string; port: number } };
  /** base64 PEM of the CA that signed the serving certificate. */
  caBundle?: string;
  /** The platform's own namespace: excluded, so KIDP can never lock itself out. */
  platformNamespace?: string;
  /** Kinds policies select outside platform.kidp.io, e.g. Pod, Deployment.apps. */
  coreResourceTypes?: readonly string[];
  /** The apiserver waits at most this for an answer (≤ 5, issue #4). */
  timeoutSeconds?: number;
  /** failurePolicy of the core-kinds webhook (default Ignore); KIDP's own kinds are always Fail. */
  coreFailurePolicy?: 'Fail' | 'Ignore';
}

function clientConfig(options: WebhookConfigOptions, path: string): AdmissionregistrationV1WebhookClientConfig {
  const ca = options.caBundle ? { caBundle: options.caBundle } : {};
  if ('url' in options.endpoint) return { url: `${options.endpoint.url.replace(/\/$/, '')}${path}`, ...ca };
  return { service: { ...options.endpoint.service, path }, ...ca };
}

function excludedNamespaces(options: WebhookConfigOptions) {
  return {
    matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', options.platformNamespace ?? 'kidp-system'] }],
  };
}

function selfExclusion(options: WebhookConfigOptions) {
  // The platform's own service accounts write children and status, which no policy targets.
  return [
    {
      name: 'not-kidp-itself',
      expression: `!request.userInfo.username.startsWith('system:serviceaccount:${options.platformNamespace ?? 'kidp-system'}:')`,
    },
  ];
}

export function coreRules(resourceTypes: readonly string[]): V1RuleWithOperations[] {
  const byGroup = new Map<string, Set<string>>();
  for (const type of resourceTypes) {
    const known = CORE_RESOURCES[type];
    if (!known) continue;
    const set = byGroup.get(known.group) ?? new Set<string>();
    set.add(known.resource);
    byGroup.set(known.group, set);
  }
  return [...byGroup].sort(([a], [b]) => a.localeCompare(b)).map(([group, resources]) => ({
    apiGroups: [group],
    apiVersions: ['*'],
    operations: ['CREATE', 'UPDATE', 'DELETE'],
    resources: [...resources].sort(),
    scope: '*',
  }));
}

export function webhookConfigurations(options: WebhookConfigOptions): { validating: V1ValidatingWebhookConfiguration; mutating: V1MutatingWebhookConfiguration } {
  const name = options.name ?? 'kidp';
  const timeoutSeconds = Math.min(options.timeoutSeconds ?? 5, 5);
  const common = { admissionReviewVersions: ['v1'], sideEffects: 'None', timeoutSeconds, matchPolicy: 'Equivalent' };
  const labels = { ...MANAGED_BY };
  const platformRule = (operations: string[], resources: string[]): V1RuleWithOperations => ({
    apiGroups: [PLATFORM_GROUP],
    apiVersions: [PLATFORM_VERSION],
    operations,
    resources,
    scope: '*',
  });
  const validatingWebhooks: V1ValidatingWebhook[] = [
    {
      name: 'validate.platform.kidp.io',
      clientConfig: clientConfig(options, '/validate'),
      rules: [platformRule(['CREATE', 'UPDATE', 'DELETE'], PLATFORM_KINDS_PLURAL)],
      failurePolicy: 'Fail',
      // No namespace is skipped for KIDP's own kinds (issue 11): a PolicyException in the
      // platform namespace (where cluster-scoped resources are exempted) is checked like any
      // other, and an owned kind in kube-system or the platform namespace is refused rather
      // than admitted unseen. KIDP runs without writing its kinds there, so it cannot lock
      // itself out; core kinds below keep the exclusion.
      ...common,
    },
  ];
  const core = coreRules(options.coreResourceTypes ?? []);
  if (core.length > 0) {
    validatingWebhooks.push({
      name: 'policies.platform.kidp.io',
      clientConfig: clientConfig(options, '/validate'),
      rules: core,
      // Core kinds keep working if KIDP is down: the platform must not take the cluster with it
      // (a platform team that wants nothing a Policy selects written unseen chooses Fail).
      failurePolicy: options.coreFailurePolicy ?? 'Ignore',
      namespaceSelector: excludedNamespaces(options),
      matchConditions: selfExclusion(options),
      ...common,
    });
  }
  return {
    validating: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name, labels },
      webhooks: validatingWebhooks,
    },
    mutating: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name, labels },
      webhooks: [
        {
          name: 'mutate.platform.kidp.io',
          clientConfig: clientConfig(options, '/mutate'),
          rules: [platformRule(['CREATE', 'UPDATE'], MUTATED_PLURAL)],
          failurePolicy: 'Fail',
          reinvocationPolicy: 'IfNeeded',
          namespaceSelector: excludedNamespaces(options),
          matchConditions: selfExclusion(options),
          ...common,
        },
      ],
    },
  };
}
