import { readFileSync } from 'node:fs';
import { deployPath, deployWebhookManifests } from './deploy-manifests.js';
import { webhookConfigurations, coreRules, CORE_RESOURCES } from './webhook-config.js';
import { resourceTypeOf } from '../policy-engine/policy/index.js';

describe('webhook configurations', () => {
  it('names each core kind as a Policy selects it (resourceTypeOf), so a selected kind gets its rule', () => {
    const mismatched = Object.entries(CORE_RESOURCES)
      .map(([type, { group }]) => ({ type, derived: resourceTypeOf({ group, kind: type.split('.')[0] as string }) }))
      .filter(({ type, derived }) => type !== derived);
    expect(mismatched).toEqual([]);
    // The core Service is Service.core; `Service` is KIDP's own kind and needs no core rule.
    expect({ core: coreRules(['Service.core']), kidp: coreRules(['Service']) }).toEqual({
      core: [{ apiGroups: [''], apiVersions: ['*'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: ['services'], scope: '*' }],
      kidp: [],
    });
  });

  it('deploy/webhook-configurations.yaml is what the code generates (npm run generate:deploy)', () => {
    expect(readFileSync(deployPath(), 'utf8')).toBe(deployWebhookManifests());
  });

  it('fail closed for KIDP kinds (validated in every namespace), skip kube-system and the platform namespace otherwise, answer within 5 s', () => {
    const { validating, mutating } = webhookConfigurations({ endpoint: { url: 'https://127.0.0.1:9443/' }, coreResourceTypes: ['Pod', 'Deployment.apps', 'Unknown.example.com'], timeoutSeconds: 30 });
    const summary = [...(validating.webhooks ?? []), ...(mutating.webhooks ?? [])].map((w) => ({
      name: w.name,
      url: w.clientConfig.url,
      failurePolicy: w.failurePolicy,
      timeoutSeconds: w.timeoutSeconds,
      sideEffects: w.sideEffects,
      excluded: w.namespaceSelector?.matchExpressions?.[0]?.values,
      groups: w.rules?.map((r) => r.apiGroups?.[0]),
    }));
    expect(summary).toEqual([
      { name: 'validate.platform.kidp.io', url: 'https://127.0.0.1:9443/validate', failurePolicy: 'Fail', timeoutSeconds: 5, sideEffects: 'None', excluded: undefined, groups: ['platform.kidp.io'] },
      { name: 'policies.platform.kidp.io', url: 'https://127.0.0.1:9443/validate', failurePolicy: 'Ignore', timeoutSeconds: 5, sideEffects: 'None', excluded: ['kube-system', 'kidp-system'], groups: ['', 'apps'] },
      { name: 'mutate.platform.kidp.io', url: 'https://127.0.0.1:9443/mutate', failurePolicy: 'Fail', timeoutSeconds: 5, sideEffects: 'None', excluded: ['kube-system', 'kidp-system'], groups: ['platform.kidp.io'] },
    ]);
  });

  it('lets the platform choose Fail for core kinds (charts/kidp webhook.failurePolicy.coreKinds); KIDP kinds stay Fail either way', () => {
    const policies = (choice?: 'Fail' | 'Ignore') => {
      const { validating, mutating } = webhookConfigurations({ endpoint: { url: 'https://127.0.0.1:9443' }, coreResourceTypes: ['Pod'], ...(choice ? { coreFailurePolicy: choice } : {}) });
      return [...(validating.webhooks ?? []), ...(mutating.webhooks ?? [])].map((w) => `${w.name}=${w.failurePolicy}`);
    };
    expect({ unset: policies(), fail: policies('Fail'), ignore: policies('Ignore') }).toEqual({
      unset: ['validate.platform.kidp.io=Fail', 'policies.platform.kidp.io=Ignore', 'mutate.platform.kidp.io=Fail'],
      fail: ['validate.platform.kidp.io=Fail', 'policies.platform.kidp.io=Fail', 'mutate.platform.kidp.io=Fail'],
      ignore: ['validate.platform.kidp.io=Fail', 'policies.platform.kidp.io=Ignore', 'mutate.platform.kidp.io=Fail'],
    });
  });

  it('maps policy resource types to API groups and resources, ignoring unknown ones', () => {
    expect(coreRules(['Deployment.apps', 'Pod', 'StatefulSet.apps', 'Widget.example.com'])).toEqual([
      { apiGroups: [''], apiVersions: ['*'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: ['pods'], scope: '*' },
      { apiGroups: ['apps'], apiVersions: ['*'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: ['deployments', 'statefulsets'], scope: '*' },
    ]);
  });
});
