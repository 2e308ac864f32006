// deploy/ is what a platform team applies to a real cluster: the real apiserver must
// accept every object of it (issue #4 item 8). A server-side dry run validates each object
// against the apiserver's schemas and admission without persisting anything.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kubectl, kubectlOk } from './kubectl.js';

const root = join(fileURLToPath(import.meta.url), '..', '..');

describe('deploy/ on the real apiserver', () => {
  beforeAll(async () => {
    // A dry run cannot create the namespace its objects live in (kidp-workloads: the broker's
    // target, whose Namespace deploy/ also holds; kafka: where Kafka's NetworkPolicy goes).
    for (const ns of ['kidp-system', 'kidp-workloads', 'kafka']) await kubectl(['create', 'namespace', ns]);
    // A locally registered webhook (clientConfig.url) would be merged with deploy/'s
    // service reference into an invalid object; deploy/ is for a cluster without it.
    await kubectl(['delete', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', 'kidp', '--ignore-not-found']);
  });

  it('is accepted whole by kubectl apply -k deploy/ --dry-run=server', async () => {
    const out = await kubectlOk(['apply', '-k', join(root, 'deploy'), '--dry-run=server']);
    const objects = out
      .trim()
      .split('\n')
      .map((l) => l.replace(/ (created|configured|unchanged) \(server dry run\)$/, ''))
      .sort();
    expect(objects).toEqual(
      expect.arrayContaining([
        'clusterrole.rbac.authorization.k8s.io/kidp-webhook',
        'clusterrolebinding.rbac.authorization.k8s.io/kidp-webhook',
        'deployment.apps/kidp-webhook',
        'mutatingwebhookconfiguration.admissionregistration.k8s.io/kidp',
        'namespace/kidp-system',
        'poddisruptionbudget.policy/kidp-webhook',
        'role.rbac.authorization.k8s.io/kidp-webhook-certs',
        'rolebinding.rbac.authorization.k8s.io/kidp-webhook-certs',
        'service/kidp-webhook',
        'serviceaccount/kidp-webhook',
        'validatingwebhookconfiguration.admissionregistration.k8s.io/kidp',
        'customresourcedefinition.apiextensions.k8s.io/teams.platform.kidp.io',
        'deployment.apps/kidp-controllers',
        'deployment.apps/kidp-broker-kubernetes',
        'service/kidp-status-api',
        'clusterrole.rbac.authorization.k8s.io/kidp-controllers',
        'deployment.apps/kidp-reports',
        'clusterrole.rbac.authorization.k8s.io/kidp-reports',
        'clusterrole.rbac.authorization.k8s.io/kidp-reports-audit',
        'clusterrole.rbac.authorization.k8s.io/kidp-reports-audit-core',
        'clusterrolebinding.rbac.authorization.k8s.io/kidp-reports-audit',
        'role.rbac.authorization.k8s.io/kidp-reports',
        'deployment.apps/kidp-dashboard',
        'service/kidp-dashboard',
        'role.rbac.authorization.k8s.io/kidp-dashboard',
      ]),
    );
    expect(out.split('\n').filter((l) => l.includes('(server dry run)')).length).toBe(objects.length);
  });

  it('runs the webhook and the leader-elected controllers with two replicas, the webhook behind a PodDisruptionBudget', async () => {
    const rendered = await kubectlOk(['kustomize', join(root, 'deploy')]);
    expect(rendered).toMatch(/replicas: 2[\s\S]*?name: kidp-controllers|name: kidp-controllers[\s\S]*?replicas: 2/);
    expect(rendered).toMatch(/kind: Deployment[\s\S]*?replicas: 2/);
    expect(rendered).toMatch(/kind: PodDisruptionBudget[\s\S]*?minAvailable: 1/);
  });
});
