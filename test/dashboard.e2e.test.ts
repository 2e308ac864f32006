// The compliance dashboard in headless Chromium (Debian's chromium driven by
// playwright-core) against the real apiserver: the reports controller writes
// PolicyReports for a namespace of this test, the page shows them per team, namespace and
// policy, drills down to the violation messages and draws a trend. Screenshots are kept
// under test-artifacts/ (gitignored) as the test's artifact.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { chromium, type Browser } from 'playwright-core';
import { kubectl, kubectlOk } from './kubectl.js';
import { runReports, type RunningReports } from '../reports/controller.js';
import { startDashboard, type RunningDashboard } from '../dashboard/server.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const V = 'platform.kidp.io/v1alpha1';
const id = Date.now().toString(36);
const ns = `rpt-dash-${id}`;
const team = `rpt-dash-team-${id}`;
const policy = `rpt-dash-${id}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let reports: RunningReports;
let dashboard: RunningDashboard;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (test/env/install.sh does it)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const topic = (name: string, partitions: number) => ({ apiVersion: V, kind: 'Topic', metadata: { name, namespace: ns }, spec: { owner: { kind: 'Team', name: team }, partitions } });
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'platform.kidp.io/team': team } } },
        { apiVersion: V, kind: 'Policy', metadata: { name: policy }, spec: { mode: 'Audit', selector: { resourceTypes: ['Topic'] }, rules: [{ name: 'min-partitions', expression: 'object.spec.?partitions.orValue(1) >= 3', messageExpression: "'topic ' + object.metadata.name + ' needs at least 3 partitions'", severity: 'medium' }] } },
      ],
    }),
  });
  await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [topic('orders', 6), topic('audit-log', 1), topic('clicks', 3), topic('tiny', 2)] }) });
  reports = await runReports({ kubeconfig: process.env.KUBECONFIG, logger: pino({ level: 'silent' }), debounceMs: 100, namespaces: [ns] });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(process.env.KUBECONFIG ?? '');
  dashboard = await startDashboard({ kubeConfig, logger: pino({ level: 'silent' }), host: '127.0.0.1', port: 0, refreshMs: 0 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await dashboard?.close();
  await reports?.stop();
  await kubectl(['delete', 'policy', policy, '--ignore-not-found']);
  await kubectl(['delete', 'topics,policyreports', '--all', '-n', ns, '--ignore-not-found']);
});

describe('compliance dashboard in headless Chromium', () => {
  it('lists compliance per team, namespace and policy, drills down to violations, shows a trend, and is read-only', async () => {
    // Reports first (the controller), then enough snapshots for a line.
    for (let i = 0; ; i += 1) {
      const out = await kubectlOk(['get', 'policyreports', '-n', ns, '-o', 'jsonpath={.items[*].summary.fail}']);
      if (out.trim() === '2') break;
      if (i > 100) throw new Error(`no PolicyReport with 2 failures in ${ns}: ${out}`);
      await sleep(200);
    }
    await sleep(1_200);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const base = `http://127.0.0.1:${dashboard.port}`;
    await page.goto(`${base}/`);
    expect(await page.title()).toBe('Overview — KIDP compliance');
    const teamRow = page.locator('[data-testid=teams] tr', { hasText: team });
    expect((await teamRow.innerText()).split('\t').map((s) => s.trim())).toEqual([team, '50.0 %', '2', '2', '0', '0', '0']);
    const nsRow = page.locator('[data-testid=namespaces] tr', { hasText: ns });
    expect((await nsRow.innerText()).split('\t').map((s) => s.trim())).toEqual([ns, '50.0 %', '2', '2', '0', '0', '0']);
    const policyRow = page.locator('[data-testid=policies] tr', { hasText: policy });
    expect((await policyRow.innerText()).split('\t').map((s) => s.trim())).toEqual([policy, '50.0 %', '2', '2', '0', '0', '0']);
    expect(Number(await page.locator('[data-testid=trend]').getAttribute('data-points'))).toBeGreaterThanOrEqual(2);
    expect(await page.locator('[data-testid=trend] polyline').count()).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-overview.png'), fullPage: true });

    await nsRow.locator('a').click();
    await page.waitForURL(`${base}/namespaces/${ns}`);
    const rows = await page.locator('[data-testid=violations] tbody tr').allInnerTexts();
    expect(rows.map((r) => r.split('\t').map((s) => s.trim()))).toEqual([
      [team, ns, 'Topic/audit-log', policy, 'min-partitions', 'fail', 'medium', 'topic audit-log needs at least 3 partitions'],
      [team, ns, 'Topic/tiny', policy, 'min-partitions', 'fail', 'medium', 'topic tiny needs at least 3 partitions'],
    ]);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-namespace.png'), fullPage: true });

    await page.goto(`${base}/policies/${policy}`);
    expect(await page.locator('[data-testid=row-compliance]').innerText()).toBe('compliance 50.0 %');
    expect(await page.locator('[data-testid=violations] tbody tr').count()).toBe(2);

    const post = await page.request.post(`${base}/`, { data: {} });
    expect(post.status()).toBe(405);
    expect(existsSync(join(ARTIFACTS, 'dashboard-overview.png'))).toBe(true);
  });
});
