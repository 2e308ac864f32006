// The read-only portal (issue 16 item 3) against the real apiserver, in headless Chromium
// (Debian's chromium driven by playwright-core), as two real users: the ServiceAccounts
// alice (team A) and bob (team B), each bound to KIDP's kidp-team-developer ClusterRole in
// its own team's namespace only (what the Team controller grants); alice may also get her
// Team object, bob may not. The portal itself runs as deploy/'s kidp-dashboard role (read
// from deploy/reports.yaml, so the test holds the shipped RBAC to what the portal needs).
// Each user sees their own team and nothing of the other's; the attacks (no token, a bad
// token, forged identity headers, another tenant's URLs, write methods, markup in a
// condition message and an annotation) get 401/404/405 or inert text, and change nothing.
// Screenshots are kept under test-artifacts/ (gitignored).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { parseAllDocuments } from 'yaml';
import { kubectl, kubectlOk } from './kubectl.js';
import { ACCESS_TTL_MS, startDashboard, TOKEN_COOKIE, TOKEN_TTL_MS, type RunningDashboard } from '../dashboard/index.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const V = 'platform.kidp.io/v1alpha1';
const id = Date.now().toString(36);
const nsA = `portal-a-${id}`;
const nsB = `portal-b-${id}`;
const nsSys = `portal-sys-${id}`;
const teamA = `portal-team-a-${id}`;
const teamB = `portal-team-b-${id}`;
const role = `portal-e2e-${id}`;
const XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';
const partOf = 'app.kubernetes.io/part-of';

/** Added to the portal's clock: the revocation test moves past the SubjectAccessReview cache without waiting. */
let clockOffsetMs = 0;
const COST = { currency: 'USD', total: 42.5, computedAt: '2026-12-04T20:00:00Z', byCostCenter: [{ costCenter: 'CC-1042', total: 42.5, resources: 2 }], resources: [{ kind: 'Database', namespace: '', name: 'orders-db', priceClass: 'db.small', hours: 24, cost: 36 }, { kind: 'Service', namespace: '', name: 'web', priceClass: 'svc.small', hours: 24, cost: 6.5 }] };
let portal: RunningDashboard;
let browser: Browser;
let base: string;
const tokens: { alice: string; bob: string } = { alice: '', bob: '' };

const owned = (kind: string, name: string, ns: string, owner: { kind: string; name: string }, team: string, app: string | undefined, spec: Record<string, unknown>, labels: Record<string, string> = {}, annotations: Record<string, string> = {}) => ({
  apiVersion: V,
  kind,
  metadata: { name, namespace: ns, labels: { 'platform.kidp.io/team': team, ...(app ? { 'platform.kidp.io/application': app } : {}), ...labels }, annotations },
  spec: { owner, ...spec },
});
const team = (name: string, ns: string, member: string) => ({
  apiVersion: V,
  kind: 'Team',
  metadata: { name, labels: { 'platform.kidp.io/team': name } },
  spec: { displayName: `Team ${name.slice(12, 13).toUpperCase()}`, costCenter: name === teamA ? 'CC-1042' : 'CC-2077', contact: 'team@example.com', members: [{ kind: 'User', name: member, role: 'developer' }], namespaces: [ns] },
});
const condition = (type: string, status: string, reason: string, message: string) => ({ type, status, reason, message, lastTransitionTime: '2026-12-01T10:00:00Z' });
const setStatus = (plural: string, ns: string, name: string, status: Record<string, unknown>) =>
  kubectlOk(['patch', `${plural}.platform.kidp.io`, name, ...(ns ? ['-n', ns] : []), '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
const uidOf = async (plural: string, ns: string, name: string) => (await kubectlOk(['get', `${plural}.platform.kidp.io`, name, '-n', ns, '-o', 'jsonpath={.metadata.uid}'])).trim();
const versions = async () => kubectlOk(['get', 'applications.platform.kidp.io,services.platform.kidp.io,databases.platform.kidp.io,caches.platform.kidp.io,topics.platform.kidp.io', '-n', nsA, '-o', 'jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}']);
const result = (policy: string, rule: string, res: string, kind: string, name: string, ns: string, message: string) => ({
  source: 'kidp', policy, rule, result: res, severity: 'high', message, scored: true, timestamp: { seconds: 1_800_000_000, nanos: 0 },
  resources: [{ apiVersion: V, kind, name, namespace: ns }],
});

/** deploy/reports.yaml's kidp-dashboard ClusterRole, as shipped, under this run's name. */
function shippedPortalRole(): Record<string, unknown> {
  const docs = parseAllDocuments(readFileSync(join(process.cwd(), 'deploy', 'reports.yaml'), 'utf8')).map((d) => d.toJSON() as { kind?: string; metadata?: { name?: string } });
  const found = docs.find((d) => d.kind === 'ClusterRole' && d.metadata?.name === 'kidp-dashboard');
  if (!found) throw new Error('deploy/reports.yaml has no ClusterRole kidp-dashboard');
  return { ...found, metadata: { name: role } };
}

async function asUser(token: string): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width: 1280, height: 900 }, extraHTTPHeaders: { authorization: `Bearer ${token}` } });
}
const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => fetch(`${base}${path}`, { method, headers, redirect: 'manual' });

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (test/env/install.sh does it)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const alice = `system:serviceaccount:${nsA}:alice`;
  const bob = `system:serviceaccount:${nsB}:bob`;
  const rb = (ns: string, sa: string) => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'kidp-team-developers', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kidp-team-developer' }, subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }] });
  await kubectlOk(['apply', '-f', join(process.cwd(), 'deploy', 'team-roles.yaml')]);
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: nsA, labels: { 'platform.kidp.io/team': teamA } } },
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: nsB, labels: { 'platform.kidp.io/team': teamB } } },
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: nsSys } },
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'alice', namespace: nsA } },
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'bob', namespace: nsB } },
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'kidp-dashboard', namespace: nsSys } },
        rb(nsA, 'alice'),
        rb(nsB, 'bob'),
        // alice may read her Team object (its members and cost); bob may not read his.
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: `${role}-team-a` }, rules: [{ apiGroups: ['platform.kidp.io'], resources: ['teams'], resourceNames: [teamA], verbs: ['get'] }] },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: `${role}-team-a` }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${role}-team-a` }, subjects: [{ kind: 'ServiceAccount', name: 'alice', namespace: nsA }] },
        shippedPortalRole(),
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: role }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects: [{ kind: 'ServiceAccount', name: 'kidp-dashboard', namespace: nsSys }] },
        team(teamA, nsA, alice),
        team(teamB, nsB, bob),
      ],
    }),
  });
  const ownerA = { kind: 'Application', name: 'shop' };
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        owned('Application', 'shop', nsA, { kind: 'Team', name: teamA }, teamA, undefined, { description: 'Shop', environment: 'development' }),
        owned('Service', 'web', nsA, ownerA, teamA, 'shop', { image: 'registry.example.com/shop/web:1.4.2', replicas: 2, dependencies: { databaseSelector: { matchLabels: { [partOf]: 'shop' } } } }),
        owned('Service', 'worker', nsA, ownerA, teamA, 'shop', { image: 'registry.example.com/shop/worker:1.4.2' }, {}, { 'platform.kidp.io/note': XSS }),
        owned('Database', 'orders-db', nsA, ownerA, teamA, 'shop', { engine: 'postgresql', version: '16', storageGB: 10 }, { [partOf]: 'shop' }),
        owned('Database', 'analytics-db', nsA, ownerA, teamA, 'shop', { engine: 'postgresql', version: '16', storageGB: 10 }),
        owned('Cache', 'sessions', nsA, ownerA, teamA, 'shop', { engine: 'redis', memoryMB: 256 }),
        owned('Topic', 'orders', nsA, ownerA, teamA, 'shop', { partitions: 6 }),
        owned('Topic', 'audit', nsA, { kind: 'Team', name: teamA }, teamA, undefined, { partitions: 3 }),
        owned('Application', 'billing', nsB, { kind: 'Team', name: teamB }, teamB, undefined, { description: 'Billing', environment: 'development' }),
        owned('Service', 'invoice-api', nsB, { kind: 'Application', name: 'billing' }, teamB, 'billing', { image: 'registry.example.com/billing/invoice:2.0.0' }),
        owned('Database', 'ledger', nsB, { kind: 'Application', name: 'billing' }, teamB, 'billing', { engine: 'postgresql', version: '16', storageGB: 10 }),
      ],
    }),
  });
  await setStatus('teams', '', teamA, { phase: 'Ready', conditions: [condition('Ready', 'True', 'NamespacesReady', `namespace ${nsA} and its RoleBinding are in place`)] });
  // Team.status.cost as the Team controller writes it from its resources' usage (controllers/team-cost.ts).
  await setStatus('teams', '', teamA, { cost: COST });
  await setStatus('services', nsA, 'web', { phase: 'Ready', conditions: [condition('Ready', 'True', 'Deployed', 'deployment web is available (2/2 replicas)'), condition('Dispatched', 'True', 'RequestSent', 'request web-3 sent to target dev')] });
  await setStatus('services', nsA, 'worker', { phase: 'Failed', conditions: [condition('Ready', 'False', 'DeployFailed', XSS)] });
  await setStatus('databases', nsA, 'orders-db', { phase: 'Ready', conditions: [condition('Ready', 'True', 'Provisioned', 'postgresql 16 ready')] });
  await setStatus('services', nsB, 'invoice-api', { phase: 'Ready', conditions: [condition('Ready', 'True', 'Deployed', 'secret-b-condition')] });
  const webUid = await uidOf('services', nsA, 'web');
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Event', metadata: { name: `web.${id}`, namespace: nsA }, involvedObject: { apiVersion: V, kind: 'Service', name: 'web', namespace: nsA, uid: webUid }, type: 'Normal', reason: 'Deployed', message: 'deployed request web-3 to target dev', count: 2, firstTimestamp: now, lastTimestamp: now, source: { component: 'kidp-controllers' } },
        {
          apiVersion: 'wgpolicyk8s.io/v1alpha2',
          kind: 'PolicyReport',
          metadata: { name: `kidp-portal-${id}`, namespace: nsA, labels: { 'platform.kidp.io/team': teamA } },
          summary: { pass: 1, fail: 1, warn: 0, error: 0, skip: 0 },
          results: [result('services-limit-cpu', 'require-cpu-limit', 'fail', 'Service', 'web', nsA, 'service web must set resources.limits.cpu'), result('services-limit-cpu', 'require-cpu-limit', 'pass', 'Service', 'worker', nsA, '')],
        },
        {
          apiVersion: 'wgpolicyk8s.io/v1alpha2',
          kind: 'PolicyReport',
          metadata: { name: `kidp-portal-${id}`, namespace: nsB, labels: { 'platform.kidp.io/team': teamB } },
          summary: { pass: 0, fail: 1, warn: 0, error: 0, skip: 0 },
          results: [result('databases-backup', 'require-backup', 'fail', 'Database', 'ledger', nsB, 'secret-b-violation: ledger must enable backups')],
        },
      ],
    }),
  });
  const token = async (sa: string, ns: string) => (await kubectlOk(['create', 'token', sa, '-n', ns, '--duration', '1h'])).trim();
  tokens.alice = await token('alice', nsA);
  tokens.bob = await token('bob', nsB);
  // The portal as deploy/ runs it: its own ServiceAccount, deploy/'s ClusterRole, nothing more.
  const admin = new KubeConfig();
  admin.loadFromFile(process.env.KUBECONFIG ?? '');
  const cluster = admin.getCurrentCluster()!;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({ clusters: [cluster], users: [{ name: 'portal', token: await token('kidp-dashboard', nsSys) }], contexts: [{ name: 'portal', cluster: cluster.name, user: 'portal' }], currentContext: 'portal' });
  portal = await startDashboard({ kubeConfig, logger: pino({ level: 'silent' }), host: '127.0.0.1', port: 0, refreshMs: 0, trend: { namespace: nsSys }, now: () => new Date(Date.now() + clockOffsetMs) });
  base = `http://127.0.0.1:${portal.port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await portal?.close();
  await kubectl(['delete', 'namespace', nsA, nsB, nsSys, '--ignore-not-found', '--wait=false']);
  await kubectl(['delete', 'teams.platform.kidp.io', teamA, teamB, '--ignore-not-found']);
  await kubectl(['delete', 'clusterrole,clusterrolebinding', role, `${role}-team-a`, '--ignore-not-found']);
});

const cells = (rows: string[]) => rows.map((r) => r.split('\t').map((s) => s.trim()));

describe('the portal as two users in headless Chromium', () => {
  it('shows alice her team, its application, each resource with phase, conditions, owners, connections, policy results and events', async () => {
    const ctx = await asUser(tokens.alice);
    const page = await ctx.newPage();
    await page.goto(`${base}/portal`);
    expect(await page.title()).toBe('Teams — KIDP portal');
    expect(await page.locator('[data-testid=user]').innerText()).toContain(`system:serviceaccount:${nsA}:alice`);
    const teams = cells(await page.locator('[data-testid=teams] tbody tr').allInnerTexts());
    expect(teams).toEqual([[teamA, 'Team A', 'CC-1042', 'Ready', '1', '7', '1']]);
    await page.screenshot({ path: join(ARTIFACTS, 'portal-teams.png'), fullPage: true });

    await page.locator('[data-testid=teams] a', { hasText: teamA }).click();
    await page.waitForURL(`${base}/portal/teams/${teamA}`);
    expect(cells(await page.locator('[data-testid=members] tbody tr').allInnerTexts())).toEqual([['User', `system:serviceaccount:${nsA}:alice`, 'developer']]);
    expect(await page.locator('[data-testid=cost-total]').innerText()).toBe('USD 42.50');
    expect(cells(await page.locator('[data-testid=applications] tbody tr').allInnerTexts())).toEqual([['shop', nsA, 'Unknown', '2', '2', '1', '1', '1']]);
    expect(cells(await page.locator('[data-testid=direct] tbody tr').allInnerTexts())).toEqual([['Topic', 'audit', nsA, 'Unknown', 'Unknown', '0']]);
    expect(cells(await page.locator('[data-testid=conditions] tbody tr').allInnerTexts())).toEqual([['Ready', 'True', 'NamespacesReady', `namespace ${nsA} and its RoleBinding are in place`, '2026-12-01T10:00:00Z']]);
    await page.screenshot({ path: join(ARTIFACTS, 'portal-team.png'), fullPage: true });

    await page.locator('[data-testid=applications] a', { hasText: 'shop' }).click();
    await page.waitForURL(`${base}/portal/namespaces/${nsA}/applications/shop`);
    expect(await page.locator('[data-testid=owner-chain]').innerText()).toBe(`Team ${teamA} → Application shop`);
    const graph = page.locator('[data-testid=graph]');
    expect(await graph.getAttribute('data-nodes')).toBe('6');
    expect(await graph.getAttribute('data-edges')).toBe('1');
    expect(await graph.locator('path.edge title').textContent()).toBe('Service web spec.dependencies.databaseSelector → Database orders-db');
    expect(cells(await page.locator('[data-testid=services] tbody tr').allInnerTexts())).toEqual([['web', nsA, 'Ready', 'True', '1'], ['worker', nsA, 'Failed', 'False', '0']]);
    expect(cells(await page.locator('[data-testid=databases] tbody tr').allInnerTexts())).toEqual([['analytics-db', nsA, 'Unknown', 'Unknown', '0'], ['orders-db', nsA, 'Ready', 'True', '0']]);
    await page.screenshot({ path: join(ARTIFACTS, 'portal-application.png'), fullPage: true });

    await page.locator('[data-testid=services] a', { hasText: 'web' }).click();
    await page.waitForURL(`${base}/portal/namespaces/${nsA}/services/web`);
    expect(await page.locator('[data-testid=owner-chain]').innerText()).toBe(`Team ${teamA} → Application shop → Service web`);
    expect(await page.locator('[data-testid=phase]').innerText()).toBe('Ready');
    expect(cells(await page.locator('[data-testid=conditions] tbody tr').allInnerTexts())).toEqual([
      ['Ready', 'True', 'Deployed', 'deployment web is available (2/2 replicas)', '2026-12-01T10:00:00Z'],
      ['Dispatched', 'True', 'RequestSent', 'request web-3 sent to target dev', '2026-12-01T10:00:00Z'],
    ]);
    expect(cells(await page.locator('[data-testid=policy] tbody tr').allInnerTexts())).toEqual([['services-limit-cpu', 'require-cpu-limit', 'fail', 'high', 'service web must set resources.limits.cpu']]);
    const events = cells(await page.locator('[data-testid=events] tbody tr').allInnerTexts());
    expect(events.map((e) => e.slice(1))).toEqual([['Normal', 'Deployed', 'deployed request web-3 to target dev', '2']]);
    expect(await page.locator('[data-testid=connections] li').allInnerTexts()).toEqual([`Service web spec.dependencies.databaseSelector → Database orders-db`]);
    await page.screenshot({ path: join(ARTIFACTS, 'portal-resource.png'), fullPage: true });

    // The selected side knows who selects it.
    await page.goto(`${base}/portal/namespaces/${nsA}/databases/orders-db`);
    expect(await page.locator('[data-testid=connections] li').allInnerTexts()).toEqual([`Service web spec.dependencies.databaseSelector → Database orders-db`]);

    // Nothing of team B anywhere alice can go, the compliance view included.
    for (const path of ['/portal', `/portal/teams/${teamA}`, `/portal/namespaces/${nsA}/applications/shop`, '/', '/api/compliance']) {
      const body = await (await get(path, { authorization: `Bearer ${tokens.alice}` })).text();
      for (const secret of [teamB, nsB, 'billing', 'ledger', 'invoice-api', 'secret-b']) expect({ path, leaked: body.includes(secret) }).toEqual({ path, leaked: false });
    }
    await ctx.close();
  });

  it('renders markup in a condition message and an annotation as text that runs nothing', async () => {
    const ctx = await asUser(tokens.alice);
    const page = await ctx.newPage();
    await page.goto(`${base}/portal/namespaces/${nsA}/services/worker`);
    expect(cells(await page.locator('[data-testid=conditions] tbody tr').allInnerTexts())).toEqual([['Ready', 'False', 'DeployFailed', XSS, '2026-12-01T10:00:00Z']]);
    expect(cells(await page.locator('[data-testid=annotations] tbody tr').allInnerTexts())).toEqual([['platform.kidp.io/note', XSS]]);
    // A string: the test's tsconfig has no DOM types; this runs in the page.
    expect(await page.evaluate("({ scripts: document.querySelectorAll('script').length, images: document.querySelectorAll('img').length, pwned: window.__pwned ?? 0 })")).toEqual({ scripts: 0, images: 0, pwned: 0 });
    const res = await get(`/portal/namespaces/${nsA}/services/worker`, { authorization: `Bearer ${tokens.alice}` });
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect((await res.text()).includes('<script>')).toBe(false);
    await page.screenshot({ path: join(ARTIFACTS, 'portal-xss.png'), fullPage: true });
    await ctx.close();
  });

  it('shows bob only team B, without the Team object he may not read, and none of team A', async () => {
    const ctx = await asUser(tokens.bob);
    const page = await ctx.newPage();
    await page.goto(`${base}/portal`);
    expect(cells(await page.locator('[data-testid=teams] tbody tr').allInnerTexts())).toEqual([[teamB, '(Team not readable)', '', '—', '1', '2', '1']]);
    await page.goto(`${base}/portal/teams/${teamB}`);
    expect(await page.locator('[data-testid=team-hidden]').count()).toBe(1);
    expect(await page.locator('[data-testid=cost]').innerText()).toBe('You may not read this Team, so not its cost.');
    expect(cells(await page.locator('[data-testid=applications] tbody tr').allInnerTexts())).toEqual([['billing', nsB, 'Unknown', '1', '1', '0', '0', '1']]);
    await page.goto(`${base}/portal/namespaces/${nsB}/databases/ledger`);
    expect(cells(await page.locator('[data-testid=policy] tbody tr').allInnerTexts())).toEqual([['databases-backup', 'require-backup', 'fail', 'high', 'secret-b-violation: ledger must enable backups']]);
    await page.goto(`${base}/portal/teams/${teamB}`);
    await page.screenshot({ path: join(ARTIFACTS, 'portal-other-user.png'), fullPage: true });
    // Alice's pages, by URL: the same 404 as a name that does not exist.
    for (const path of [`/portal/teams/${teamA}`, `/portal/namespaces/${nsA}/applications/shop`, `/portal/namespaces/${nsA}/services/web`, `/portal/namespaces/${nsA}/databases/orders-db`, `/portal/namespaces/${nsA}/services/no-such-service`]) {
      const res = await get(path, { authorization: `Bearer ${tokens.bob}` });
      const body = await res.text();
      expect({ path, status: res.status, leaked: ['deployment web', 'orders-db', 'CC-1042', 'limits.cpu'].some((s) => body.includes(s)) }).toEqual({ path, status: 404, leaked: false });
    }
    const compliance = (await (await get('/api/compliance', { authorization: `Bearer ${tokens.bob}` })).json()) as { namespaces: { key: string }[]; violations: { namespace: string }[]; trend: unknown };
    expect(compliance.namespaces.map((n) => n.key)).toEqual([nsB]);
    expect(compliance.violations.map((v) => v.namespace)).toEqual([nsB]);
    expect(compliance.trend).toBeNull();
    await ctx.close();
  });

  it('signs in through the form into an HttpOnly, SameSite=Strict cookie, and refuses a token the apiserver does not accept', async () => {
    const form = (token: string) => fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }).toString(), redirect: 'manual' });
    // Another site's form (login CSRF) signs nobody in, even with a good token.
    const crossSite = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' }, body: new URLSearchParams({ token: tokens.bob }).toString(), redirect: 'manual' });
    expect({ status: crossSite.status, cookie: crossSite.headers.get('set-cookie') }).toEqual({ status: 403, cookie: null });
    const bad = await form(`${tokens.bob.slice(0, -4)}AAAA`);
    expect({ status: bad.status, cookie: bad.headers.get('set-cookie') }).toEqual({ status: 401, cookie: null });
    const ok = await form(tokens.bob);
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/portal');
    const cookie = ok.headers.get('set-cookie') ?? '';
    expect(cookie.startsWith(`${TOKEN_COOKIE}=`)).toBe(true);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${base}/portal`);
    expect(await page.title()).toBe('Sign in — KIDP portal');
    await page.locator('textarea[name=token]').fill(tokens.bob);
    await page.locator('button[type=submit]').click();
    await page.waitForURL(`${base}/portal`);
    expect(cells(await page.locator('[data-testid=teams] tbody tr').allInnerTexts()).map((r) => r[0])).toEqual([teamB]);
    expect((await ctx.cookies()).find((c) => c.name === TOKEN_COOKIE)).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    await ctx.close();
  });
});

describe('authorization follows RBAC', () => {
  it('stops showing bob his team once his RoleBinding is gone, after the 10 s cache', async () => {
    const teamsOf = async () => cells(await (async () => {
      const ctx = await asUser(tokens.bob);
      const page = await ctx.newPage();
      await page.goto(`${base}/portal`);
      const rows = await page.locator('[data-testid=teams] tbody tr').allInnerTexts();
      await ctx.close();
      return rows;
    })()).map((r) => r[0]);
    expect(await teamsOf()).toEqual([teamB]);
    await kubectlOk(['delete', 'rolebinding', 'kidp-team-developers', '-n', nsB]);
    // Within the cache the answer may be the old one; past it, the apiserver's answer.
    clockOffsetMs += ACCESS_TTL_MS + TOKEN_TTL_MS;
    expect(await teamsOf()).toEqual([]);
    const res = await get(`/portal/namespaces/${nsB}/applications/billing`, { authorization: `Bearer ${tokens.bob}` });
    expect(res.status).toBe(404);
    expect((await get(`/portal/namespaces/${nsA}/applications/shop`, { authorization: `Bearer ${tokens.alice}` })).status).toBe(200);
  });
});

describe('attacks on the portal', () => {
  const pages = () => ['/', '/api/compliance', '/portal', `/portal/teams/${teamA}`, `/portal/namespaces/${nsA}/applications/shop`, `/portal/namespaces/${nsA}/services/web`, `/namespaces/${nsA}`];
  const leaks = (body: string) => [teamA, nsA, 'orders-db', 'limits.cpu', 'deployment web'].filter((s) => body.includes(s));

  it('answers 401 and shows nothing without a token, with a bad token, or with forged identity headers', async () => {
    const forged = (token?: string): Record<string, string>[] => [
      { 'x-remote-user': `system:serviceaccount:${nsA}:alice`, 'x-remote-group': 'system:masters', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      { 'impersonate-user': `system:serviceaccount:${nsA}:alice`, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      { 'impersonate-group': 'system:masters', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      { 'x-forwarded-user': 'admin', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ];
    const attempts: { name: string; headers: Record<string, string> }[] = [
      { name: 'no token', headers: {} },
      { name: 'bad token', headers: { authorization: 'Bearer not-a-token' } },
      { name: 'tampered token', headers: { authorization: `Bearer ${tokens.alice.slice(0, -6)}AAAAAA` } },
      { name: 'basic auth', headers: { authorization: `Basic ${Buffer.from('alice:alice').toString('base64')}` } },
      { name: 'forged cookie', headers: { cookie: `${TOKEN_COOKIE}=alice` } },
      { name: 'malformed cookie', headers: { cookie: `${TOKEN_COOKIE}=%E0%A4%A` } },
      ...forged().map((headers, i) => ({ name: `forged headers ${i}`, headers })),
      // A valid token of bob cannot be lifted to alice (or masters) by headers either.
      ...forged(tokens.bob).map((headers, i) => ({ name: `bob + forged headers ${i}`, headers })),
    ];
    const answers = [];
    for (const a of attempts) for (const path of pages()) {
      const res = await get(path, a.headers);
      answers.push({ attempt: a.name, path, status: res.status, leaks: leaks(await res.text()) });
    }
    expect(answers).toEqual(answers.map((x) => ({ ...x, status: 401, leaks: [] })));
  });

  it('refuses every write method with 405 and changes nothing in the cluster', async () => {
    const before = await versions();
    expect(before.split(' ').filter(Boolean)).toHaveLength(8);
    const answers = [];
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      for (const path of [`/portal/namespaces/${nsA}/services/web`, `/portal/teams/${teamA}`, '/portal', '/']) {
        const res = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${tokens.alice}`, 'content-type': 'application/json' }, ...(method === 'OPTIONS' ? {} : { body: JSON.stringify({ spec: { replicas: 0 } }) }) });
        answers.push({ method, path, status: res.status, allow: res.headers.get('allow') });
      }
    }
    expect(answers).toEqual(answers.map((a) => ({ ...a, status: 405, allow: 'GET, HEAD' })));
    expect(await versions()).toBe(before);
    // HEAD is a GET without a body, under the same rules.
    expect((await get('/portal', { authorization: `Bearer ${tokens.alice}` }, 'HEAD')).status).toBe(200);
    expect((await get('/portal', {}, 'HEAD')).status).toBe(401);
  });
});
