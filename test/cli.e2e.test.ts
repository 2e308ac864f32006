// The CLI against the real apiserver (issue 16): `kubectl kidp ...` through the kubectl of
// the local environment finding the kubectl-kidp bin on PATH, `kidp suggest --from-cluster`,
// and `kidp mcp`'s resource_status reading status, owner and events. Needs `npm run build`
// (the bins are dist/cli/*.js, as npm installs them).
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { kubectlOk, kubectlPath } from './kubectl.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const plugin = join(root, 'dist', 'cli', 'kubectl-kidp.js');
const ns = `dx-cli-${process.pid}`;
let bin: string;

function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

beforeAll(async () => {
  if (!existsSync(plugin)) throw new Error('dist/cli/kubectl-kidp.js is missing: run npm run build first');
  // As `npm install -g` lays a bin out: a symlink named for the command, the target executable.
  bin = mkdtempSync(join(tmpdir(), 'kidp-plugin-'));
  chmodSync(plugin, 0o755);
  symlinkSync(plugin, join(bin, 'kubectl-kidp'));
  const team = `apiVersion: v1
kind: Namespace
metadata: {name: ${ns}, labels: {platform.kidp.io/team: ${ns}, cost-center: CC-1}}
---
apiVersion: platform.kidp.io/v1alpha1
kind: Database
metadata: {name: checkout-db, namespace: ${ns}, labels: {app.kubernetes.io/part-of: checkout}}
spec: {owner: {kind: Application, name: checkout}, environment: production, engine: postgresql, version: "16", backup: {enabled: true, schedule: "0 2 * * *", retentionDays: 30}}
---
apiVersion: platform.kidp.io/v1alpha1
kind: Topic
metadata: {name: checkout-events, namespace: ${ns}, labels: {app.kubernetes.io/part-of: checkout}}
spec: {owner: {kind: Application, name: checkout}, environment: production, replicationFactor: 3}
`;
  await kubectlOk(['apply', '-f', '-'], { input: team });
}, 60_000);

afterAll(async () => {
  await kubectlOk(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
  rmSync(bin, { recursive: true, force: true });
});

const pluginEnv = () => ({ ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` });

describe('kubectl kidp', () => {
  test('kubectl lists the plugin and runs it with its arguments and exit code', async () => {
    const list = await exec(kubectlPath(), ['plugin', 'list', '--name-only'], pluginEnv());
    expect(list.stdout.split('\n')).toContain('kubectl-kidp');
    expect(await exec(kubectlPath(), ['kidp', 'cel', 'eval', "'a' + 'b'"], pluginEnv())).toEqual({ code: 0, stdout: '{"type": "string", "value": "ab"}\n', stderr: '' });
    const invalid = await exec(kubectlPath(), ['kidp', 'cel', 'eval', '1 +'], pluginEnv());
    expect(invalid.code).toBe(2);
  });

  test('help names it as kubectl kidp', async () => {
    const help = await exec(kubectlPath(), ['kidp', 'validate', '--help'], pluginEnv());
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: kubectl kidp validate \[options\] \[files\.\.\.\]/);
    expect(help.stdout).toContain('$ kubectl kidp validate -f service.yaml');
  });

  test('a denial through the plugin exits 1 with the verdict', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kidp-plugin-validate-'));
    const file = join(dir, 'db.yaml');
    writeFileSync(file, 'apiVersion: platform.kidp.io/v1alpha1\nkind: Database\nmetadata: {name: legacy-db, namespace: payments}\nspec: {owner: {kind: Team, name: payments}, environment: production, engine: postgresql, version: "16"}\n');
    const got = await exec(kubectlPath(), ['kidp', 'validate', '-f', file, '--policies', join(root, 'policies')], pluginEnv());
    rmSync(dir, { recursive: true, force: true });
    expect(got).toEqual({ code: 1, stdout: 'Database payments/legacy-db: DENIED: production-databases-require-backup/require-backup: database legacy-db is production: set spec.backup.enabled to true\n', stderr: '' });
  });
});

test('kidp suggest --from-cluster finds what the Service could bind in its namespace', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kidp-suggest-e2e-'));
  const file = join(dir, 'service.yaml');
  writeFileSync(file, `apiVersion: platform.kidp.io/v1alpha1\nkind: Service\nmetadata: {name: checkout-api, namespace: ${ns}, labels: {app.kubernetes.io/part-of: checkout}}\nspec: {owner: {kind: Application, name: checkout}, environment: production, image: registry.kidp.io/x/y:1}\n`);
  const got = await exec(process.execPath, [join(root, 'dist', 'cli', 'main.js'), 'suggest', '-f', file, '--from-cluster', '-o', 'json']);
  rmSync(dir, { recursive: true, force: true });
  expect(got.stderr).toBe('');
  const result = JSON.parse(got.stdout) as { suggestions: { kind: string; name: string; bound: boolean; source: string }[] };
  expect(result.suggestions.map((s) => [s.kind, s.name, s.bound, s.source])).toEqual([
    ['Database', 'checkout-db', false, 'cluster'],
    ['Topic', 'checkout-events', false, 'cluster'],
  ]);
});

test('kidp mcp resource_status reads phase, conditions, owner and events from the cluster', async () => {
  const status = {
    status: {
      phase: 'Ready',
      observedGeneration: 1,
      conditions: [{ type: 'Ready', status: 'True', reason: 'Provisioned', message: 'database is ready', lastTransitionTime: '2026-06-01T00:00:00Z' }],
    },
  };
  await kubectlOk(['patch', 'database', 'checkout-db', '-n', ns, '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
  const client = new Client({ name: 'kidp-e2e', version: '1.0.0' });
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', KUBECONFIG: process.env.KUBECONFIG ?? '' };
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [join(root, 'dist', 'cli', 'main.js'), 'mcp'], env, stderr: 'pipe' }));
  try {
    const r = (await client.callTool({ name: 'resource_status', arguments: { kind: 'Database', name: 'checkout-db', namespace: ns } })) as { isError?: boolean; content: { text: string }[] };
    expect(r.isError ?? false).toBe(false);
    expect(JSON.parse(r.content[0]!.text)).toEqual({
      kind: 'Database',
      name: 'checkout-db',
      namespace: ns,
      phase: 'Ready',
      observedGeneration: 1,
      generation: 1,
      conditions: status.status.conditions,
      owner: { kind: 'Application', name: 'checkout' },
      events: [],
    });
    const missing = (await client.callTool({ name: 'resource_status', arguments: { kind: 'Database', name: 'nope', namespace: ns } })) as { isError?: boolean; content: { text: string }[] };
    expect({ isError: missing.isError, text: missing.content[0]!.text }).toEqual({ isError: true, text: `Database ${ns}/nope does not exist` });
  } finally {
    await client.close();
  }
}, 60_000);
