// charts/kidp (issue 14 item 4) with helm built from its Go module (test/env/helm/build.sh):
// the generated files are current, `helm lint` is clean, `helm template` with the default
// values gives exactly deploy/'s objects (against `kubectl kustomize deploy/` from the
// project's kubectl), each value changes what it names, and the real apiserver accepts a
// server-side dry-run install.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateChart, parseObjects, staleFiles, type KubeObject } from '../charts/generate.js';
import { kubectl, kubectlOk, kubectlPath } from './kubectl.js';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const chart = join(root, 'charts', 'kidp');
let helmBin: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
function helm(args: string[]): Run {
  const r = spawnSync(helmBin, args, { encoding: 'utf8', env: process.env, maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
function helmOk(args: string[]): string {
  const r = helm(args);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

const keyOf = (o: KubeObject) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const byKey = (objects: KubeObject[]) => new Map(objects.map((o) => [keyOf(o), o]));
const render = (...set: string[]) => parseObjects(helmOk(['template', 'kidp', chart, '--include-crds', ...set.flatMap((s) => ['--set', s])]));
const kustomizeDeploy = () => parseObjects(execFileSync(kubectlPath(), ['kustomize', join(root, 'deploy')], { encoding: 'utf8', maxBuffer: 64 << 20 }));

beforeAll(() => {
  // A cold helm build takes minutes (cached afterwards, like the control plane).
  const out = execFileSync('bash', [join(root, 'test/env/helm/build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  helmBin = join(out.trim().split('\n').at(-1) ?? '', 'helm');
}, 30 * 60_000);

describe('charts/kidp', () => {
  it('is what charts/generate.ts writes from deploy/ (npm run generate:chart)', () => {
    expect(staleFiles(generateChart(kustomizeDeploy()))).toEqual([]);
  });

  it('passes helm lint --strict', () => {
    const r = helm(['lint', '--strict', chart]);
    expect({ code: r.code, problems: `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /\[(WARNING|ERROR)\]/.test(l)), summary: r.stdout.trim().split('\n').at(-1) }).toEqual({
      code: 0,
      problems: [],
      summary: '1 chart(s) linted, 0 chart(s) failed',
    });
  });

  it('renders exactly the objects of kubectl kustomize deploy/ with its default values', () => {
    const deploy = byKey(kustomizeDeploy());
    const chartObjects = byKey(render());
    expect([...chartObjects.keys()].sort()).toEqual([...deploy.keys()].sort());
    for (const [key, object] of deploy) expect({ key, object: chartObjects.get(key) }).toEqual({ key, object });
  });

  it('changes what each value names, and nothing it does not', () => {
    const defaults = render();
    const objects = render(
      'namespace=platform',
      'image.repository=registry.internal/kidp',
      'image.tag=9.9.9',
      'webhook.replicas=3',
      'webhook.failurePolicy.coreKinds=Fail',
      'controllers.resources.limits.memory=2Gi',
      'broker.targetNamespace=workloads',
      'kafka.bootstrap=kafka-0.kafka:9093',
      'policies.production-databases-require-backup.enabled=true',
      'policies.production-databases-require-backup.mode=Warn',
      'policies.cache-eviction-policy.enabled=true',
    );
    const get = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name) as KubeObject & Record<string, never>;
    type Container = { name: string; image: string; args: string[]; resources: { limits: Record<string, string> } };
    const containers = objects.flatMap((o) => ((o.spec as { template?: { spec: { containers: Container[] } } } | undefined)?.template?.spec.containers ?? []));
    const webhook = get('Deployment', 'kidp-webhook') as unknown as { metadata: { namespace: string }; spec: { replicas: number; template: { spec: { containers: Container[] } } } };
    const vwc = get('ValidatingWebhookConfiguration', 'kidp') as unknown as { webhooks: { name: string; failurePolicy: string; clientConfig: { service: { namespace: string } }; namespaceSelector?: { matchExpressions: { values: string[] }[] } }[] };
    const policies = objects.filter((o) => o.kind === 'Policy') as unknown as { metadata: { name: string; annotations: Record<string, string> }; spec: { mode: string } }[];
    expect({
      count: objects.length,
      webhook: { namespace: webhook.metadata.namespace, replicas: webhook.spec.replicas, args: webhook.spec.template.spec.containers[0]?.args.filter((a) => /namespace|cert-secret|core-failure/.test(a)) },
      coreWebhook: vwc.webhooks.map((w) => ({ name: w.name, failurePolicy: w.failurePolicy, service: w.clientConfig.service.namespace, excluded: w.namespaceSelector?.matchExpressions[0]?.values })),
      images: [...new Set(containers.map((c) => c.image))],
      controllersMemory: containers.find((c) => c.name === 'controllers')?.resources.limits.memory,
      brokerArgs: containers.find((c) => c.name === 'broker')?.args.filter((a) => /namespace|status-api/.test(a)),
      kafka: (get('ConfigMap', 'kidp-kafka') as unknown as { data: Record<string, string> }).data,
      policies: policies.map((p) => ({ name: p.metadata.name, mode: p.spec.mode, hook: p.metadata.annotations['helm.sh/hook'] })),
      // Every mention of the default namespaces followed the values.
      leftovers: JSON.stringify(objects.filter((o) => o.kind !== 'CustomResourceDefinition')).match(/kidp-system|kidp-workloads/g),
    }).toEqual({
      count: defaults.length + 2,
      webhook: { namespace: 'platform', replicas: 3, args: ['--cert-secret=platform/kidp-webhook-certs', '--namespace=platform', '--core-failure-policy=Fail'] },
      coreWebhook: [
        { name: 'validate.platform.kidp.io', failurePolicy: 'Fail', service: 'platform', excluded: undefined },
        { name: 'policies.platform.kidp.io', failurePolicy: 'Fail', service: 'platform', excluded: ['kube-system', 'platform'] },
      ],
      images: ['registry.internal/kidp:9.9.9'],
      controllersMemory: '2Gi',
      brokerArgs: ['--namespace=workloads', '--platform-namespace=platform', '--status-api-url=https://kidp-status-api.platform.svc'],
      kafka: { bootstrap: 'kafka-0.kafka:9093' },
      policies: [
        { name: 'cache-eviction-policy', mode: 'Warn', hook: 'post-install,post-upgrade' },
        { name: 'production-databases-require-backup', mode: 'Warn', hook: 'post-install,post-upgrade' },
      ],
      leftovers: null,
    });
  });

  it('refuses values outside the schema, and a policy the chart does not ship, naming them', () => {
    const bad = (...set: string[]) => {
      const r = helm(['template', 'kidp', chart, ...set.flatMap((s) => ['--set', s])]);
      return { code: r.code, says: r.stderr };
    };
    expect(bad('webhook.failurePolicy.coreKinds=Sometimes')).toEqual({ code: 1, says: expect.stringMatching(/webhook\.failurePolicy\.coreKinds|coreKinds/) });
    expect(bad('policies.production-databases-require-backup.mode=Deny')).toEqual({ code: 1, says: expect.stringMatching(/mode/) });
    expect(bad('webhook.replicas=0')).toEqual({ code: 1, says: expect.stringMatching(/replicas/) });
    expect(bad('policies.no-such-policy.enabled=true', 'policies.no-such-policy.mode=Enforce')).toEqual({ code: 1, says: expect.stringContaining('policies.no-such-policy: there is no built-in policy of that name') });
  });

  it('is accepted by the real apiserver: helm install --dry-run=server', async () => {
    // As for deploy/ (deploy.e2e.test.ts): a dry run cannot create the namespaces its objects
    // go into, and a locally registered webhook (clientConfig.url) is not deploy/'s.
    for (const ns of ['kidp-system', 'kidp-workloads', 'kafka']) await kubectl(['create', 'namespace', ns]);
    await kubectl(['delete', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', 'kidp', '--ignore-not-found']);
    // --take-ownership: the namespaces above (and ClusterRoles the controllers apply at start)
    // already exist without Helm's release annotations.
    const r = helm(['install', 'kidp', chart, '--namespace', 'kidp-system', '--dry-run=server', '--take-ownership', '--set', 'policies.production-databases-require-backup.enabled=true']);
    // helm prints HOOKS:, MANIFEST: and NOTES: sections; the release's objects are the middle one.
    const manifest = r.stdout.slice(r.stdout.indexOf('\nMANIFEST:') + 10, r.stdout.indexOf('\nNOTES:') >= 0 ? r.stdout.indexOf('\nNOTES:') : undefined);
    // Helm's one warning: in a dry run the CRDs (crds/) are not installed, which only matters
    // for charts that look up custom resources while rendering (this one does not).
    expect({ code: r.code, stderr: r.stderr.split('\n').filter(Boolean), status: /^STATUS: (.*)$/m.exec(r.stdout)?.[1] }).toEqual({
      code: 0,
      stderr: ['level=WARN msg="This chart or one of its subcharts contains CRDs. Rendering may fail or contain inaccuracies."'],
      status: 'pending-install',
    });
    expect(parseObjects(manifest).length).toBe(render().filter((o) => o.kind !== 'CustomResourceDefinition').length);
    // Nothing was persisted.
    expect((await kubectl(['get', 'deployment', 'kidp-webhook', '-n', 'kidp-system'])).code).toBe(1);
    expect(await kubectlOk(['get', 'secrets', '-n', 'kidp-system', '-l', 'owner=helm', '-o', 'name'])).toBe('');
  });
});
