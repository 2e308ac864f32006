// `kidp suggest`: which Databases, Caches and Topics a Service could bind, from files.
// (--from-cluster reads the same kinds from the apiserver: test/kubectl-plugin.e2e.test.ts.)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './run.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kidp-suggest-'));
  writeFileSync(
    join(dir, 'service.yaml'),
    `apiVersion: platform.kidp.io/v1alpha1
kind: Service
metadata: {name: checkout-api, namespace: payments, labels: {app.kubernetes.io/part-of: checkout}}
spec:
  owner: {kind: Application, name: checkout}
  environment: production
  image: registry.kidp.io/payments/checkout:1.0.0
  env: [{name: CACHE_NAME, value: checkout-sessions}]
  dependencies: {databaseSelector: {matchLabels: {tier: orders}}}
`,
  );
  const db = (name: string, ns: string, env: string, labels: string, owner = 'Team, name: payments') =>
    `apiVersion: platform.kidp.io/v1alpha1\nkind: Database\nmetadata: {name: ${name}, namespace: ${ns}, labels: {${labels}}}\nspec: {owner: {kind: ${owner}}, environment: ${env}, engine: postgresql, version: "16"}\n`;
  writeFileSync(
    join(dir, 'others.yaml'),
    [
      db('checkout-db', 'payments', 'production', 'app.kubernetes.io/part-of: checkout'),
      db('orders-db', 'payments', 'production', 'tier: orders'),
      db('owned-db', 'payments', 'production', 'x: y', 'Application, name: checkout'),
      // Not candidates: another environment, another namespace, another application.
      db('checkout-staging-db', 'payments', 'staging', 'app.kubernetes.io/part-of: checkout'),
      db('elsewhere-db', 'marketing', 'production', 'app.kubernetes.io/part-of: checkout'),
      db('billing-db', 'payments', 'production', 'app.kubernetes.io/part-of: billing'),
      `apiVersion: platform.kidp.io/v1alpha1\nkind: Cache\nmetadata: {name: checkout-sessions, namespace: payments, labels: {platform.kidp.io/application: checkout}}\nspec: {owner: {kind: Application, name: checkout}, environment: production, engine: redis}\n`,
      `apiVersion: platform.kidp.io/v1alpha1\nkind: Topic\nmetadata: {name: checkout-events, namespace: payments, labels: {app.kubernetes.io/part-of: checkout}}\nspec: {owner: {kind: Team, name: payments}, environment: production}\n`,
      // Same name and kind but not KIDP's: ignored.
      `apiVersion: example.com/v1\nkind: Topic\nmetadata: {name: checkout-other, namespace: payments, labels: {app.kubernetes.io/part-of: checkout}}\n`,
    ].join('---\n'),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function kidp(...argv: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exit = await run(argv, { stdout: (l) => stdout.push(l), stderr: (l) => stderr.push(l), now: () => new Date() });
  return { exit, stdout, stderr };
}

test('candidates by owner, application label, part-of label or the current selector; bound or how to bind', async () => {
  const got = await kidp('suggest', '-f', join(dir, 'service.yaml'), join(dir, 'others.yaml'), '-o', 'json');
  expect(got.exit).toBe(0);
  const others = join(dir, 'others.yaml');
  expect(JSON.parse(got.stdout.join('\n'))).toEqual({
    service: 'payments/checkout-api',
    environment: 'production',
    application: 'checkout',
    suggestions: [
      { kind: 'Cache', name: 'checkout-sessions', namespace: 'payments', reason: 'owned by Application checkout', bound: true, bind: '', source: others },
      { kind: 'Database', name: 'checkout-db', namespace: 'payments', reason: 'labelled app.kubernetes.io/part-of=checkout', bound: false, bind: 'spec.dependencies.databaseSelector.matchLabels: {app.kubernetes.io/part-of: checkout}', source: others },
      { kind: 'Database', name: 'orders-db', namespace: 'payments', reason: 'selected by spec.dependencies.databaseSelector', bound: true, bind: '', source: others },
      { kind: 'Database', name: 'owned-db', namespace: 'payments', reason: 'owned by Application checkout', bound: false, bind: 'label the Database app.kubernetes.io/part-of: checkout and set spec.dependencies.databaseSelector.matchLabels to the same', source: others },
      { kind: 'Topic', name: 'checkout-events', namespace: 'payments', reason: 'labelled app.kubernetes.io/part-of=checkout', bound: false, bind: 'spec.env: {name: KAFKA_TOPIC, value: checkout-events} (Services have no Topic selector)', source: others },
    ],
  });
});

test('the table, and a file without a Service is a usage error', async () => {
  const table = await kidp('suggest', '-f', join(dir, 'service.yaml'), '-f', join(dir, 'others.yaml'));
  expect(table.stdout[0]).toMatch(/^KIND\s+NAME\s+BOUND\s+REASON\s+TO BIND$/);
  expect(table.stdout.slice(1).map((l) => l.split(/\s{3,}/).slice(0, 3))).toEqual([
    ['Cache', 'checkout-sessions', 'yes'],
    ['Database', 'checkout-db', 'no'],
    ['Database', 'orders-db', 'yes'],
    ['Database', 'owned-db', 'no'],
    ['Topic', 'checkout-events', 'no'],
  ]);
  const bad = await kidp('suggest', '-f', join(dir, 'others.yaml'));
  expect({ exit: bad.exit, stderr: bad.stderr[0] }).toEqual({ exit: 2, stderr: `kidp: ${join(dir, 'others.yaml')}: no platform.kidp.io Service in it` });
});
