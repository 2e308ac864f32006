// `kidp new`: every archetype in every environment, written by the command itself and
// admitted by the pipeline of `kidp validate` (schema, ownership with --require-owners,
// every built-in Policy), next to the team it belongs to; and what `new` refuses.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { ENVIRONMENTS, archetypeNames } from '../archetypes/index.js';
import { run } from './run.js';
import { validateResources } from './validate.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const policies = join(root, 'policies');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kidp-new-'));
  // The team, as the platform team has it: the namespace and the Team with its cost center.
  writeFileSync(
    join(dir, 'team.yaml'),
    `apiVersion: v1
kind: Namespace
metadata: {name: payments, labels: {cost-center: CC-1042, platform.kidp.io/team: payments}}
---
apiVersion: platform.kidp.io/v1alpha1
kind: Team
metadata: {name: payments, labels: {cost-center: CC-1042}}
spec: {displayName: Payments, costCenter: CC-1042, members: [{kind: Group, name: payments-developers}], namespaces: [payments]}
`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function kidp(...argv: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exit = await run(argv, { stdout: (l) => stdout.push(l), stderr: (l) => stderr.push(l), now: () => new Date('2026-06-01T00:00:00Z') });
  return { exit, stdout, stderr };
}

const matrix = archetypeNames().flatMap((a) => ENVIRONMENTS.map((e) => [a, e] as const));

test.each(matrix)('%s in %s: written by kidp new, every resource ADMITTED with --require-owners and the built-in policies', async (archetype, environment) => {
  const out = join(dir, `${archetype}-${environment}`);
  const written = await kidp('new', archetype, '--team', 'payments', '--app', 'checkout', '--env', environment, '--out', out);
  expect({ exit: written.exit, stderr: written.stderr }).toEqual({ exit: 0, stderr: [] });
  expect(written.stdout).toEqual(readdirSync(out).sort().map((f) => `wrote ${join(out, f)}`));
  const verdicts = validateResources({ files: [join(dir, 'team.yaml'), out], policies, now: new Date('2026-06-01T00:00:00Z'), requireOwners: true });
  expect(verdicts.filter((v) => v.verdict !== 'ADMITTED')).toEqual([]);
  // Namespace, Team, then the archetype's own: at least an Application and a Service.
  expect(verdicts.map((v) => v.resource.split(' ')[0])).toEqual(expect.arrayContaining(['Namespace', 'Team', 'Application', 'Service']));
});

test('the pipeline is not a rubber stamp: a production scaffold with backups turned off is denied', async () => {
  const printed = await kidp('new', 'http-api', '--team', 'payments', '--app', 'orders', '--env', 'production');
  expect(printed.exit).toBe(0);
  const docs = parseAllDocuments(printed.stdout.join('\n')).map((d) => d.toJS() as { kind: string; spec: { backup?: { enabled: boolean } } });
  docs.find((d) => d.kind === 'Database')!.spec.backup!.enabled = false;
  const file = join(dir, 'orders-broken.yaml');
  writeFileSync(file, docs.map((d) => JSON.stringify(d)).join('\n---\n'));
  const got = await kidp('validate', '-f', join(dir, 'team.yaml'), file, '--policies', policies, '--require-owners');
  expect(got.exit).toBe(1);
  expect(got.stdout.filter((l) => !l.endsWith('ADMITTED'))).toEqual([
    'Database payments/orders-db: DENIED: production-databases-require-backup/require-backup: database orders-db is production: set spec.backup.enabled to true',
  ]);
});

test('without --out it prints the manifests; -o json prints a List', async () => {
  const yaml = await kidp('new', 'worker', '--team', 'data', '--app', 'ledger');
  const kinds = parseAllDocuments(yaml.stdout.join('\n')).map((d) => (d.toJS() as { kind: string }).kind);
  expect(kinds).toEqual(['Application', 'Service', 'Topic']);
  const json = await kidp('new', 'worker', '--team', 'data', '--app', 'ledger', '-o', 'json');
  const list = JSON.parse(json.stdout.join('\n')) as { kind: string; items: { metadata: { name: string; namespace: string } }[] };
  expect({ kind: list.kind, names: list.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`) }).toEqual({ kind: 'List', names: ['data/ledger', 'data/ledger-worker', 'data/ledger-events'] });
});

test('it never overwrites files, and refuses bad names and unknown archetypes with exit 2', async () => {
  const out = join(dir, 'twice');
  expect((await kidp('new', 'cached-web', '--team', 'payments', '--app', 'shop', '--out', out)).exit).toBe(0);
  const before = readdirSync(out).map((f) => readFileSync(join(out, f), 'utf8'));
  const again = await kidp('new', 'cached-web', '--team', 'payments', '--app', 'shop', '--out', out, '--env', 'production');
  expect(again.exit).toBe(2);
  expect(again.stderr[0]).toMatch(/^kidp: not overwriting .*01-application-shop\.yaml/);
  expect(readdirSync(out).map((f) => readFileSync(join(out, f), 'utf8'))).toEqual(before);

  expect(await kidp('new', 'http-api', '--team', 'payments', '--app', 'Bad_Name')).toEqual({
    exit: 2,
    stdout: [],
    stderr: ['kidp: --app: "Bad_Name" is not a valid name: lower-case letters, digits and \'-\', starting and ending with a letter or digit', "run 'kidp new --help' for usage"],
  });
  expect((await kidp('new', 'lambda', '--team', 'payments', '--app', 'x')).stderr[0]).toBe('kidp: unknown archetype "lambda"; the archetypes are cached-web, http-api, scheduled-job, worker');
  expect((await kidp('new', 'http-api', '--team', 'payments', '--app', 'x', '--env', 'prod')).stderr[0]).toBe(
    "kidp: option '--env <environment>' argument 'prod' is invalid. Allowed choices are development, staging, production.",
  );
});

test('kidp archetypes lists them with what each creates', async () => {
  const got = await kidp('archetypes');
  expect(got.stdout[0]).toMatch(/^NAME\s+CREATES\s+DESCRIPTION$/);
  expect(got.stdout.slice(1).map((l) => l.split(/\s{3,}/).slice(0, 2))).toEqual([
    ['cached-web', 'Application, Service, Cache'],
    ['http-api', 'Application, Service, Database'],
    ['scheduled-job', 'Application, Service, Database'],
    ['worker', 'Application, Service, Topic'],
  ]);
  const json = JSON.parse((await kidp('archetypes', '-o', 'json')).stdout.join('\n')) as { name: string }[];
  expect(json.map((a) => a.name)).toEqual(['cached-web', 'http-api', 'scheduled-job', 'worker']);
});
