import type { V1MutatingWebhookConfiguration, V1ValidatingWebhookConfiguration } from '@kubernetes/client-node';
import { injectCaBundle } from './ca-bundle.js';

const CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nMIIBold\n-----END CERTIFICATE-----\n';
const CA_B64 = Buffer.from(CA_PEM).toString('base64');

// Shaped like what admission/ generates and `kubectl get -o json` returns, server fields included.
const validating = (): V1ValidatingWebhookConfiguration => ({
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'ValidatingWebhookConfiguration',
  metadata: { name: 'kidp-validating', resourceVersion: '4711', labels: { 'platform.kidp.io/managed-by': 'kidp' } },
  webhooks: [
    {
      name: 'validate.platform.kidp.io',
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
      failurePolicy: 'Fail',
      timeoutSeconds: 5,
      clientConfig: { service: { name: 'kidp-webhook', namespace: 'kidp-system', path: '/validate', port: 443 }, caBundle: 'b2xk' },
      rules: [{ apiGroups: ['platform.kidp.io'], apiVersions: ['v1alpha1'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: ['*'], scope: '*' }],
      namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kidp-system', 'kube-system'] }] },
    },
    {
      name: 'validate-core.platform.kidp.io',
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
      failurePolicy: 'Ignore',
      clientConfig: { url: 'https://127.0.0.1:9443/validate' },
      rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE'], resources: ['deployments'] }],
    },
  ],
});

const mutating = (): V1MutatingWebhookConfiguration => ({
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'MutatingWebhookConfiguration',
  metadata: { name: 'kidp-mutating' },
  webhooks: [
    {
      name: 'mutate.platform.kidp.io',
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
      reinvocationPolicy: 'IfNeeded',
      clientConfig: { service: { name: 'kidp-webhook', namespace: 'kidp-system', path: '/mutate' } },
    },
  ],
});

test.each([
  [
    'validating: both webhooks (service and url clientConfig) get the bundle, old one replaced',
    validating,
    (() => {
      const expected = validating();
      expected.webhooks = expected.webhooks?.map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle: CA_B64 } }));
      return expected;
    })(),
  ],
  [
    'mutating: the webhook gets the bundle, nothing else changes',
    mutating,
    (() => {
      const expected = mutating();
      expected.webhooks = expected.webhooks?.map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle: CA_B64 } }));
      return expected;
    })(),
  ],
  ['no webhooks: returned unchanged', () => ({ metadata: { name: 'empty' } }), { metadata: { name: 'empty' } }],
] as const)('%s', (_name, make, expected) => {
  const input = make();
  const before = structuredClone(input);
  expect(injectCaBundle(input, CA_PEM)).toEqual(expected);
  expect(input).toEqual(before);
});

test('the caBundle decodes back to the exact PEM bundle the apiserver will use', () => {
  const patched = injectCaBundle(validating(), CA_PEM);
  expect(patched.webhooks?.map((w) => Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString('utf8'))).toEqual([CA_PEM, CA_PEM]);
});
