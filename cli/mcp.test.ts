// `kidp mcp` driven by the SDK's own client over stdio, as an assistant would: a scripted
// session scaffolds, introduces a violation, gets the denial with the fix, applies the fix
// and validates clean. The server is the real command in a child process. (resource_status
// against the apiserver: test/mcp-status.e2e.test.ts.)
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { parseAllDocuments, stringify } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let client: Client;
/** The session, abridged, for the report: each call and the gist of its answer. */
const transcript: string[] = [];

beforeAll(async () => {
  client = new Client({ name: 'kidp-mcp-test', version: '1.0.0' });
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(root, 'cli', 'main.ts'), 'mcp'], cwd: root, env, stderr: 'pipe' }));
}, 60_000);
afterAll(async () => {
  await client.close();
  if (process.env.KIDP_MCP_TRANSCRIPT) process.stdout.write(`${transcript.join('\n')}\n`);
});

async function call(name: string, args: Record<string, unknown>): Promise<{ isError: boolean; text: string; json: unknown }> {
  const r = (await client.callTool({ name, arguments: args })) as { isError?: boolean; content: { type: string; text: string }[] };
  const text = r.content.map((c) => c.text).join('');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  transcript.push(`> ${name} ${JSON.stringify(args).slice(0, 160)}`, `< ${r.isError ? 'ERROR ' : ''}${text.replace(/\s+/g, ' ').slice(0, 240)}`);
  return { isError: r.isError ?? false, text, json };
}

test('the tools an assistant needs', async () => {
  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name).sort()).toEqual(['explain_denial', 'get_schema', 'list_archetypes', 'resource_status', 'scaffold', 'validate']);
  for (const t of tools) expect(t.description?.length ?? 0).toBeGreaterThan(40);
});

test('scaffold, break, denied with the fix, fix, admitted', async () => {
  const listed = (await call('list_archetypes', {})).json as { archetypes: { name: string }[]; environments: string[] };
  expect(listed.archetypes.map((a) => a.name)).toEqual(['cached-web', 'http-api', 'scheduled-job', 'worker']);
  expect(listed.environments).toEqual(['development', 'staging', 'production']);

  const schema = (await call('get_schema', { kind: 'Database' })).json as { schema: { properties: { spec: { properties: Record<string, unknown> } } } };
  expect(Object.keys(schema.schema.properties.spec.properties)).toEqual(expect.arrayContaining(['engine', 'backup', 'owner']));

  const scaffolded = (await call('scaffold', { archetype: 'http-api', team: 'payments', app: 'orders', environment: 'production' })).json as { manifests: string };
  const clean = await call('validate', { manifests: scaffolded.manifests });
  expect(clean.json).toMatchObject({ admitted: true, lines: ['Application payments/orders: ADMITTED', 'Service payments/orders-api: ADMITTED', 'Database payments/orders-db: ADMITTED'] });

  // The violation an assistant might write: production database, backups off.
  const docs = parseAllDocuments(scaffolded.manifests).map((d) => d.toJS() as { kind: string; spec: Record<string, unknown> });
  const database = docs.find((d) => d.kind === 'Database')!;
  database.spec.backup = { enabled: false };
  const broken = docs.map((d) => stringify(d)).join('---\n');
  const denied = (await call('validate', { manifests: broken })).json as { admitted: boolean; verdicts: { resource: string; verdict: string; messages: string[] }[] };
  expect(denied.admitted).toBe(false);
  const verdict = denied.verdicts.find((v) => v.verdict === 'DENIED')!;
  // toMatchObject: verdicts also carry the file and line they came from.
  expect(verdict).toMatchObject({
    resource: 'Database payments/orders-db',
    verdict: 'DENIED',
    messages: ['production-databases-require-backup/require-backup: database orders-db is production: set spec.backup.enabled to true'],
  });

  const explained = (await call('explain_denial', { denial: verdict.messages[0] })).json as { explanations: { policy: string; rule: string; fields: string[]; expression: string; admittedExample: { spec: { backup: unknown } } }[]; other: unknown[] };
  expect(explained.other).toEqual([]);
  expect(explained.explanations).toHaveLength(1);
  const why = explained.explanations[0]!;
  expect({ policy: why.policy, rule: why.rule, fields: why.fields, expression: why.expression }).toEqual({
    policy: 'production-databases-require-backup',
    rule: 'require-backup',
    fields: ['spec.backup.enabled'],
    expression: "variables.backup.?enabled.orValue(false)",
  });

  // The fix, applied as the explanation says: the field it names, the policy's admitted example's backup block.
  expect(why.admittedExample.spec.backup).toEqual({ enabled: true, schedule: '0 2 * * *', retentionDays: 30 });
  database.spec.backup = why.admittedExample.spec.backup;
  const fixed = await call('validate', { manifests: docs.map((d) => stringify(d)).join('---\n') });
  expect((fixed.json as { admitted: boolean; lines: string[] })).toMatchObject({ admitted: true, lines: ['Application payments/orders: ADMITTED', 'Service payments/orders-api: ADMITTED', 'Database payments/orders-db: ADMITTED'] });
}, 60_000);

test('hostile or wrong input is a tool error, and the server keeps serving', async () => {
  expect(await call('scaffold', { archetype: 'http-api', team: 'payments', app: 'x\nkind: Secret' })).toMatchObject({ isError: true, text: expect.stringMatching(/--app: .* is not a valid name/) });
  expect(await call('validate', { manifests: 'a: [1\nb: 2' })).toMatchObject({ isError: true, text: expect.stringMatching(/^manifests:2:1: invalid YAML: /) });
  expect(await call('get_schema', { kind: 'Secret' })).toMatchObject({ isError: true, text: 'unknown kind "Secret"' });
  // No KUBECONFIG in the server's environment: status says so instead of guessing.
  expect(await call('resource_status', { kind: 'Database', name: 'x', namespace: 'payments' })).toMatchObject({ isError: true, text: 'no cluster: KUBECONFIG is not set for the kidp mcp process' });
  const schema = (await call('explain_denial', { denial: 'schema: spec.partitions: Invalid value: must be integer' })).json as { other: { fix: string }[] };
  expect(schema.other[0]!.fix).toContain('get_schema');
  expect((await client.listTools()).tools).toHaveLength(6);
}, 60_000);
