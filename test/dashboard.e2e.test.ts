// The compliance dashboard in headless Chromium (Debian's chromium driven by
// playwright-core) against the real apiserver: the reports controller writes
// PolicyReports for a namespace of this test, the page shows them per team, namespace and
// policy, drills down to the violation messages and draws the trend the controller
// persisted, which survives a restart of both. It reads as a ServiceAccount bound to
// cluster-admin (the pages need a Kubernetes token; test/portal.e2e.test.ts covers what
// narrower readers see). Screenshots are kept under test-artifacts/
// (gitignored) as the test's artifact.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { chromium, type Browser } from 'playwright-core';
import { kubectl, kubectlOk } from './kubectl.js';
import { emptySummary, runReports, type ReportSummary, type RunningReports } from '../reports/index.js';
import { startDashboard, type RunningDashboard } from '../dashboard/server.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const V = 'platform.kidp.io/v1alpha1';
const id = Date.now().toString(36);
const ns = `rpt-dash-${id}`;
const team = `rpt-dash-team-${id}`;
const policy = `rpt-dash-${id}`;
/** This run's own trend ConfigMap, in its own namespace: the shared cluster may hold the platform's. */
const trend = { namespace: ns, name: `rpt-dash-trend-${id}` };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let reports: RunningReports;
let dashboard: RunningDashboard;
let browser: Browser;
let kubeConfig: KubeConfig;
/** A reader of the whole cluster: the page shows what its RBAC allows, which here is everything. */
const viewer = `rpt-dash-viewer-${id}`;
let token = '';
const auth = () => ({ authorization: `Bearer ${token}` });

const startReports = (intervalMs: number) =>
  runReports({ kubeconfig: process.env.KUBECONFIG, logger: pino({ level: 'silent' }), debounceMs: 100, namespaces: [ns], trend: { ...trend, intervalMs } });
const startPage = () => startDashboard({ kubeConfig, logger: pino({ level: 'silent' }), host: '127.0.0.1', port: 0, refreshMs: 0, trend });
interface StoredPoint {
  time: string;
  summary: ReportSummary;
}
const storedTrend = async (): Promise<StoredPoint[]> => {
  const out = await kubectl(['get', 'configmap', trend.name, '-n', ns, '-o', 'jsonpath={.data.trend\\.json}']);
  return out.code === 0 && out.stdout.trim() ? (JSON.parse(out.stdout) as { points: StoredPoint[] }).points : [];
};
const apiTrend = async (): Promise<StoredPoint[]> =>
  ((await (await fetch(`http://127.0.0.1:${dashboard.port}/api/compliance`, { headers: auth() })).json()) as { trend: StoredPoint[] }).trend.map((p) => ({ time: p.time, summary: p.summary }));

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
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: viewer, namespace: ns } },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: viewer }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'ServiceAccount', name: viewer, namespace: ns }] },
        { apiVersion: V, kind: 'Policy', metadata: { name: policy }, spec: { mode: 'Audit', selector: { resourceTypes: ['Topic'] }, rules: [{ name: 'min-partitions', expression: 'object.spec.?partitions.orValue(1) >= 3', messageExpression: "'topic ' + object.metadata.name + ' needs at least 3 partitions'", severity: 'medium' }] } },
      ],
    }),
  });
  token = (await kubectlOk(['create', 'token', viewer, '-n', ns, '--duration', '1h'])).trim();
  await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [topic('orders', 6), topic('audit-log', 1), topic('clicks', 3), topic('tiny', 2)] }) });
  // A point a second at most, so that the test sees a line without waiting an hour.
  reports = await startReports(1_000);
  kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(process.env.KUBECONFIG ?? '');
  dashboard = await startPage();
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
  await kubectl(['delete', 'configmap', trend.name, '-n', ns, '--ignore-not-found']);
  await kubectl(['delete', 'clusterrolebinding', viewer, '--ignore-not-found']);
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
    // A second scan more than the interval after the first: the controller appends a second point.
    await reports.idle();
    await sleep(1_100);
    await reports.scanAll();
    const points = await storedTrend();
    expect(points.length).toBeGreaterThanOrEqual(2);
    // The point sums every result the controller wrote (this namespace's, and cluster-scoped ones other files' Policies may add).
    const written = emptySummary();
    for (const audits of reports.audits().values()) for (const a of audits) for (const v of a.verdicts) written[v.result] += 1;
    const latest = points[points.length - 1]!;
    expect(latest.summary).toEqual(written);
    expect(latest.summary.fail).toBeGreaterThanOrEqual(2);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, extraHTTPHeaders: auth() });
    const base = `http://127.0.0.1:${dashboard.port}`;
    await page.goto(`${base}/`);
    expect(await page.title()).toBe('Overview — KIDP compliance');
    const teamRow = page.locator('[data-testid=teams] tr', { hasText: team });
    expect((await teamRow.innerText()).split('\t').map((s) => s.trim())).toEqual([team, '50.0 %', '2', '2', '0', '0', '0']);
    const nsRow = page.locator('[data-testid=namespaces] tr', { hasText: ns });
    expect((await nsRow.innerText()).split('\t').map((s) => s.trim())).toEqual([ns, '50.0 %', '2', '2', '0', '0', '0']);
    const policyRow = page.locator('[data-testid=policies] tr', { hasText: policy });
    expect((await policyRow.innerText()).split('\t').map((s) => s.trim())).toEqual([policy, '50.0 %', '2', '2', '0', '0', '0']);
    // What the page draws is what the controller stored.
    expect(Number(await page.locator('[data-testid=trend]').getAttribute('data-points'))).toBe(points.length);
    const scored = latest.summary.pass + latest.summary.fail + latest.summary.warn + latest.summary.error;
    const latestPct = `${(Math.round((latest.summary.pass / scored) * 1000) / 10).toFixed(1)} %`;
    expect(await page.locator('[data-testid=trend] figcaption').innerText()).toBe(`${points.length} snapshots, ${points[0]!.time} to ${latest.time}; latest ${latestPct}`);
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

  it('keeps the trend across a restart of the reports controller and the dashboard', async () => {
    const before = await storedTrend();
    expect(await apiTrend()).toEqual(before);
    await dashboard.close();
    await reports.stop();
    // Hourly again: the restarted controller finds its last point under an hour old and adds none.
    reports = await startReports(3_600_000);
    await reports.idle();
    dashboard = await startPage();
    expect(before.length).toBeGreaterThanOrEqual(2);
    expect(await storedTrend()).toEqual(before);
    expect(await apiTrend()).toEqual(before);
    const page = await browser.newPage({ extraHTTPHeaders: auth() });
    await page.goto(`http://127.0.0.1:${dashboard.port}/`);
    expect(Number(await page.locator('[data-testid=trend]').getAttribute('data-points'))).toBe(before.length);
  });
});
