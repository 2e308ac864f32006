// The read-only portal (issue 16 item 3) and the compliance dashboard (issue 6 item 6).
// Compliance: the PolicyReports and ClusterPolicyReports in the cluster, per team, namespace
// and policy, drill-down to the violations and their messages, and the compliance trend the
// reports controller persists in a ConfigMap of the platform namespace (reports/trend.ts).
// Portal: Teams → Applications → Services, Databases, Caches, Topics (portal-model.ts),
// from the portal's informer caches (view.ts).
//
// Read-only by construction: GET and HEAD only (405 otherwise), except POST /login, which
// reads a token from a form and sets a cookie; the only requests this process makes to the
// apiserver besides get/list/watch are TokenReviews and SubjectAccessReviews, which store
// nothing. Every page is for a user the apiserver authenticated (access.ts), and shows only
// what a SubjectAccessReview of that user allowed.
import { apiErrorDetail, keepConnectionsAlive } from '../kube/index.js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { buildModel, snapshots, type ComplianceModel, type Row, type Snapshot, type StoredReport, type Violation } from './model.js';
import { TrendStore, type TrendLocation } from '../reports/index.js';
import { findPlural, kindInfo } from '../crds/registry.js';
import { Access, IDENTITY_HEADERS, type UserInfo } from './access.js';
import { CONTENT_SECURITY_POLICY, esc, page as layout } from './html.js';
import { PortalModel, PORTAL_KINDS, checksFor, checkKey, type AccessCheck, type Can, type PortalKind } from './portal-model.js';
import { applicationHtml, resourceHtml, teamHtml, teamsHtml } from './portal-render.js';
import { PortalView } from './view.js';

/** Reports are listed at most this often; a page load in between uses the last list. */
export const DEFAULT_REFRESH_MS = 5_000;

export interface DashboardOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  host?: string;
  port?: number;
  refreshMs?: number;
  /** Where the reports controller keeps the trend (default: kidp-compliance-trend in kidp-system). */
  trend?: TrendLocation;
  now?: () => Date;
  /** Mark the login cookie Secure (serve behind TLS: a proxy or an Ingress terminating it). */
  secureCookie?: boolean;
}

export interface RunningDashboard {
  port: number;
  server: Server;
  close(): Promise<void>;
}

const href = (path: string, value: string) => `${path}/${encodeURIComponent(value)}`;
const page = (title: string, body: string, user?: string) => layout({ title, suffix: 'KIDP compliance', body, ...(user ? { user } : {}) });
const portalPage = (title: string, body: string, user: string) => layout({ title, suffix: 'KIDP portal', body, user });

/** Whether an Origin header names this server (an opaque "null" origin does not). */
function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** The cookie the login form sets: the user's bearer token, HttpOnly and SameSite=Strict. */
export const TOKEN_COOKIE = 'kidp_token';
/** A login session lasts at most this long; the token's own expiry may end it sooner. */
export const COOKIE_MAX_AGE_S = 8 * 60 * 60;
/** Longer than any ServiceAccount or OIDC token; a bigger header is not a token. */
export const MAX_TOKEN_BYTES = 16 * 1024;

function pct(c: number): string {
  return `<span class="${c >= 100 ? 'ok' : 'bad'}">${c.toFixed(1)} %</span>`;
}

function table(caption: string, testId: string, rowsIn: Row[], link: (key: string) => string): string {
  const rowsHtml = rowsIn
    .map((r) => `<tr><td><a href="${link(r.key)}">${esc(r.key)}</a></td><td class="num">${pct(r.compliance)}</td><td class="num">${r.summary.pass}</td><td class="num">${r.summary.fail}</td><td class="num">${r.summary.warn}</td><td class="num">${r.summary.error}</td><td class="num">${r.summary.skip}</td></tr>`)
    .join('');
  return `<h2>${esc(caption)}</h2><table data-testid="${testId}"><thead><tr><th>${esc(caption.replace(/^By /, ''))}</th><th>compliance</th><th>pass</th><th>fail</th><th>warn</th><th>error</th><th>skip</th></tr></thead><tbody>${rowsHtml}</tbody></table>`;
}

function violationsTable(vs: Violation[]): string {
  if (vs.length === 0) return '<p data-testid="violations">No violations.</p>';
  const rowsHtml = vs
    .map((v) => `<tr><td>${esc(v.team)}</td><td>${esc(v.namespace)}</td><td>${esc(v.kind)}/${esc(v.name)}</td><td>${esc(v.policy)}</td><td>${esc(v.rule)}</td><td class="bad">${esc(v.result)}</td><td>${esc(v.severity)}</td><td>${esc(v.message)}</td></tr>`)
    .join('');
  return `<table data-testid="violations"><thead><tr><th>team</th><th>namespace</th><th>resource</th><th>policy</th><th>rule</th><th>result</th><th>severity</th><th>message</th></tr></thead><tbody>${rowsHtml}</tbody></table>`;
}

function trendSvg(points: readonly Snapshot[] | undefined): string {
  const w = 600;
  const h = 120;
  if (!points) return '<p data-testid="trend">The trend could not be read (see the dashboard log).</p>';
  if (points.length === 0) return '<p data-testid="trend">No snapshots yet: the reports controller writes one after a scan, at most one per interval.</p>';
  // x by time, not by index: a gap (the controller was down) shows as a gap.
  const t0 = Date.parse(points[0]!.time);
  const span = Date.parse(points[points.length - 1]!.time) - t0;
  const xy = points.map((p) => `${(span > 0 ? ((Date.parse(p.time) - t0) / span) * w : 0).toFixed(1)},${(h - (p.compliance / 100) * h).toFixed(1)}`);
  const last = points[points.length - 1]!;
  // A labelled 0-100 % scale with grid lines, so a flat line reads as a level, not a shape.
  const grid = [0, 50, 100]
    .map((v) => {
      const y = (h - (v / 100) * h).toFixed(1);
      return `<line x1="0" x2="${w}" y1="${y}" y2="${y}" stroke="#dde1ea"/><text x="-6" y="${y}" dy="4" text-anchor="end" font-size="11" fill="#5a6275">${v} %</text>`;
    })
    .join('');
  return `<figure data-testid="trend" data-points="${points.length}"><svg width="${w + 48}" height="${h + 8}" viewBox="-44 -4 ${w + 48} ${h + 8}" role="img" aria-label="compliance over time, 0 to 100 %"><rect x="0" y="0" width="${w}" height="${h}" fill="#f7f8fb"/>${grid}<polyline fill="none" stroke="#2851c8" stroke-width="2" points="${xy.join(' ')}"/>${xy.map((p) => `<circle r="3" fill="#2851c8" cx="${p.split(',')[0]}" cy="${p.split(',')[1]}"/>`).join('')}</svg><figcaption>${points.length} snapshot${points.length === 1 ? '' : 's'}, ${esc(points[0]!.time)} to ${esc(last.time)}; latest ${pct(last.compliance)}</figcaption></figure>`;
}

export async function startDashboard(options: DashboardOptions): Promise<RunningDashboard> {
  keepConnectionsAlive(options.kubeConfig);
  const api = options.kubeConfig.makeApiClient(CustomObjectsApi);
  const now = options.now ?? (() => new Date());
  const refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS;
  const trendStore = new TrendStore(options.kubeConfig, options.trend ?? { namespace: 'kidp-system' });
  const access = new Access({ kubeConfig: options.kubeConfig, now: () => now().getTime() });
  const view = new PortalView({ kubeConfig: options.kubeConfig, logger: options.logger });
  await view.start();
  let cached: { at: number; reports: StoredReport[]; clusterReports: StoredReport[]; trend: Snapshot[] | undefined } | undefined;

  const readTrend = async (): Promise<Snapshot[] | undefined> => {
    try {
      return snapshots(await trendStore.read());
    } catch (err) {
      // The page still shows the reports; only the trend is missing (e.g. no RBAC to read the ConfigMap).
      options.logger.warn({ err: err instanceof Error ? err.message : String(err), configMap: `${trendStore.namespace}/${trendStore.name}` }, 'dashboard: could not read the compliance trend');
      return undefined;
    }
  };
  const trendCheck: AccessCheck = { verb: 'get', group: '', resource: 'configmaps', namespace: trendStore.namespace, name: trendStore.name };
  const reportsCheck = (namespace: string): AccessCheck => ({ verb: 'list', group: kindInfo('PolicyReport').group, resource: kindInfo('PolicyReport').plural, namespace });
  const clusterReportsCheck: AccessCheck = { verb: 'list', group: kindInfo('ClusterPolicyReport').group, resource: kindInfo('ClusterPolicyReport').plural };
  /** The compliance model over the reports this user may list, and the trend if they may read its ConfigMap. */
  const load = async (user: UserInfo): Promise<{ model: ComplianceModel; trend: Snapshot[] | undefined | 'hidden' }> => {
    if (!cached || now().getTime() - cached.at >= refreshMs) {
      const reports = kindInfo('PolicyReport');
      const clusterReports = kindInfo('ClusterPolicyReport');
      const [ns, cluster, trend] = await Promise.all([
        api.listClusterCustomObject({ group: reports.group, version: reports.version, plural: reports.plural }) as Promise<{ items: StoredReport[] }>,
        api.listClusterCustomObject({ group: clusterReports.group, version: clusterReports.version, plural: clusterReports.plural }) as Promise<{ items: StoredReport[] }>,
        readTrend(),
      ]);
      cached = { at: now().getTime(), reports: ns.items, clusterReports: cluster.items, trend };
    }
    const { reports, clusterReports, trend } = cached;
    const checks = new Map<string, AccessCheck>([trendCheck, clusterReportsCheck, ...reports.map((r) => reportsCheck(r.metadata.namespace ?? ''))].map((c) => [checkKey(c), c]));
    const can = await access.resolve(user, [...checks.values()]);
    const visible = [...reports.filter((r) => can(reportsCheck(r.metadata.namespace ?? ''))), ...(can(clusterReportsCheck) ? clusterReports : [])];
    return { model: buildModel(visible), trend: can(trendCheck) ? trend : 'hidden' };
  };

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  // Before any route: the method, hostile identity headers, and the headers every answer carries.
  app.use((req: Request, res: Response, next: NextFunction) => {
    res.locals.startedAt = performance.now();
    res.set({ 'content-security-policy': CONTENT_SECURITY_POLICY, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-store', 'x-frame-options': 'DENY' });
    const login = req.path === '/login' && req.method === 'POST';
    if (req.method !== 'GET' && req.method !== 'HEAD' && !login) {
      res.status(405).set('allow', 'GET, HEAD').type('text/plain').send('read-only');
      return;
    }
    const claimed = Object.keys(req.headers).filter((h) => IDENTITY_HEADERS.some((re) => re.test(h)));
    if (claimed.length > 0) {
      res.status(401).type('text/plain').send(`identity comes from your Kubernetes token only; refused a request carrying ${claimed.sort().join(', ')}`);
      return;
    }
    next();
  });
  // Server-Timing: what the page cost here (authentication, authorization, model, HTML), without the network; bench/portal reads it.
  const html = (res: Response, body: string) => void res.set('server-timing', `page;dur=${(performance.now() - Number(res.locals.startedAt)).toFixed(2)}`).type('html').send(body);
  const fail = (res: Response, err: unknown, what: string) => {
    options.logger.error({ err: err instanceof Error ? err.message : String(err), detail: apiErrorDetail(err) }, `dashboard: ${what}`);
    if (!res.headersSent) res.status(502).type('text/plain').send(`could not ${what} through the apiserver`);
  };

  const tokenOf = (req: Request): string | undefined => {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = /^Bearer ([^\s]+)$/i.exec(header.trim());
      return m?.[1];
    }
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const [k, ...v] = part.trim().split('=');
      if (k !== TOKEN_COOKIE) continue;
      try {
        return decodeURIComponent(v.join('='));
      } catch {
        // Not what /login sets: no token, so a 401 rather than an error.
        return undefined;
      }
    }
    return undefined;
  };
  const loginPage = (message: string) =>
    layout({
      title: 'Sign in',
      suffix: 'KIDP portal',
      body: `<h1>Sign in</h1><p data-testid="login-message">${esc(message)}</p><form method="post" action="/login"><label>Kubernetes bearer token<br><textarea name="token" rows="4" cols="80" autocomplete="off" required></textarea></label><br><button type="submit">Sign in</button></form><p class="muted">The token is checked by the apiserver (TokenReview) and kept in an HttpOnly cookie; you see what your RBAC lets you read. <code>kubectl create token</code> or your kubeconfig's OIDC id-token gives one.</p>`,
    });
  /** The authenticated user, or undefined after answering 401 (HTML for pages, text for /api). */
  const authenticate = async (req: Request, res: Response): Promise<UserInfo | undefined> => {
    const token = tokenOf(req);
    const refuse = (why: string) => {
      res.status(401).set('www-authenticate', 'Bearer realm="kidp"');
      if (req.path.startsWith('/api/')) res.type('text/plain').send(why);
      else html(res, loginPage(why));
      return undefined;
    };
    if (!token) return refuse('Sign in with a Kubernetes bearer token.');
    if (Buffer.byteLength(token) > MAX_TOKEN_BYTES) return refuse('That is not a token.');
    const user = await access.authenticate(token);
    if (!user) return refuse('The apiserver did not accept that token.');
    return user;
  };
  type Handler = (req: Request, res: Response, user: UserInfo) => Promise<void> | void;
  const authed = (what: string, fn: Handler) => (req: Request, res: Response) =>
    void (async () => {
      const user = await authenticate(req, res);
      if (user) await fn(req, res, user);
    })().catch((err: unknown) => fail(res, err, what));

  app.get('/healthz', (_req, res) => void res.type('text/plain').send('ok'));
  app.get('/login', (_req, res) => html(res, loginPage('Sign in with a Kubernetes bearer token.')));
  app.post('/login', express.urlencoded({ extended: false, limit: MAX_TOKEN_BYTES * 2, parameterLimit: 4 }), (req: Request, res: Response) =>
    void (async () => {
      // Login CSRF: a form on another site must not sign a reader in as someone else.
      // Browsers say where a request comes from in Sec-Fetch-Site; older ones only in Origin
      // (which is "null" under Referrer-Policy no-referrer, hence the order).
      const site = req.headers['sec-fetch-site'];
      const origin = req.headers.origin;
      const crossSite = site !== undefined ? site !== 'same-origin' && site !== 'none' : origin !== undefined && !sameHost(origin, req.headers.host);
      if (crossSite) {
        res.status(403).type('text/plain').send('sign in from this site only');
        return;
      }
      const token = typeof (req.body as Record<string, unknown> | undefined)?.token === 'string' ? ((req.body as Record<string, string>).token ?? '').trim() : '';
      const user = token && Buffer.byteLength(token) <= MAX_TOKEN_BYTES ? await access.authenticate(token) : null;
      if (!user) {
        res.status(401);
        html(res, loginPage('The apiserver did not accept that token.'));
        return;
      }
      res.cookie(TOKEN_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: options.secureCookie === true, path: '/', maxAge: COOKIE_MAX_AGE_S * 1000 });
      res.redirect(303, '/portal');
    })().catch((err: unknown) => fail(res, err, 'check the token')),
  );
  app.get('/logout', (_req, res) => {
    res.clearCookie(TOKEN_COOKIE, { httpOnly: true, sameSite: 'strict', secure: options.secureCookie === true, path: '/' });
    res.redirect(303, '/login');
  });

  app.get('/api/compliance', authed('read PolicyReports', async (_req, res, user) => {
    const { model, trend } = await load(user);
    res.json({ ...model, trend: trend === 'hidden' ? null : (trend ?? null) });
  }));
  app.get('/', authed('read PolicyReports', async (_req, res, user) => {
    const { model: m, trend } = await load(user);
    html(res, page('Overview', `<h1>Policy compliance</h1>
<div class="cards"><div class="card" data-testid="total">overall<br><span class="big">${pct(m.total.compliance)}</span></div>
<div class="card">violations<br><span class="big">${m.violations.length}</span></div>
<div class="card">results<br><span class="big">${m.total.summary.pass + m.total.summary.fail + m.total.summary.warn + m.total.summary.error + m.total.summary.skip}</span></div></div>
<h2>Trend</h2>${trend === 'hidden' ? '<p data-testid="trend">You may not read the trend ConfigMap.</p>' : trendSvg(trend)}
${table('By team', 'teams', m.teams, (k) => href('/teams', k))}
${table('By namespace', 'namespaces', m.namespaces, (k) => href('/namespaces', k))}
${table('By policy', 'policies', m.policies, (k) => href('/policies', k))}`, user.username));
  }));
  const drill = (what: 'team' | 'namespace' | 'policy', path: string) =>
    app.get(`${path}/:key`, authed('read PolicyReports', async (req, res, user) => {
      const key = String(req.params.key);
      const { model: m } = await load(user);
      const vs = m.violations.filter((v) => v[what] === key);
      const row = (what === 'team' ? m.teams : what === 'namespace' ? m.namespaces : m.policies).find((r) => r.key === key);
      html(res, page(`${what} ${key}`, `<h1>${esc(what)} ${esc(key)}</h1><p data-testid="row-compliance">compliance ${row ? pct(row.compliance) : 'n/a (no results)'}</p><h2>Violations (${vs.length})</h2>${violationsTable(vs)}`, user.username));
    }));
  drill('team', '/teams');
  drill('namespace', '/namespaces');
  drill('policy', '/policies');

  /** This user's portal model over the current cache: every check asked once, then answered from memory. */
  const portal = async (user: UserInfo): Promise<PortalModel> => {
    const snapshot = view.snapshot();
    const can: Can = await access.resolve(user, checksFor(snapshot));
    return new PortalModel(snapshot, can);
  };
  const notFound = (res: Response, user: UserInfo) => {
    // The same answer, word for word, for "does not exist" and "not yours": a 404 tells nothing.
    res.status(404);
    html(res, portalPage('Not found', '<h1>Not found</h1><p>Nothing here you may read.</p>', user.username));
  };
  app.get('/portal', authed('read the cluster', async (_req, res, user) => {
    html(res, portalPage('Teams', teamsHtml((await portal(user)).teams()), user.username));
  }));
  app.get('/portal/teams/:team', authed('read the cluster', async (req, res, user) => {
    const name = String(req.params.team);
    const p = (await portal(user)).team(name);
    if (!p) return notFound(res, user);
    html(res, portalPage(`Team ${name}`, teamHtml(p), user.username));
  }));
  app.get('/portal/namespaces/:namespace/:plural/:name', authed('read the cluster', async (req, res, user) => {
    const namespace = String(req.params.namespace);
    const name = String(req.params.name);
    const info = findPlural(String(req.params.plural));
    const kind = PORTAL_KINDS.find((k) => k === info?.kind && k !== 'Team') as PortalKind | undefined;
    if (!kind) return notFound(res, user);
    const model = await portal(user);
    if (kind === 'Application') {
      const p = model.application(namespace, name);
      if (!p) return notFound(res, user);
      return html(res, portalPage(`Application ${name}`, applicationHtml(p), user.username));
    }
    const v = model.resource(kind, namespace, name);
    if (!v) return notFound(res, user);
    html(res, portalPage(`${kind} ${name}`, resourceHtml(v), user.username));
  }));
  app.all('/{*rest}', (_req, res) => void res.status(404).type('text/plain').send('not found'));

  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, options.host ?? '0.0.0.0', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  options.logger.info({ port }, 'portal and compliance dashboard listening');
  return {
    port,
    server,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await view.stop();
    },
  };
}
