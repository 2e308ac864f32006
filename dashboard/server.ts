// The compliance dashboard (issue 6 item 6): a read-only web page over the PolicyReports
// and ClusterPolicyReports in the cluster: compliance per team, namespace and policy,
// drill-down to the violations and their messages, and the compliance trend the reports
// controller persists in a ConfigMap of the platform namespace (reports/trend.ts), so a
// restart of either process keeps it. GET only; nothing here writes.
import { keepConnectionsAlive } from '../kube/index.js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { buildModel, snapshots, type ComplianceModel, type Row, type Snapshot, type StoredReport, type Violation } from './model.js';
import { TrendStore, type TrendLocation } from '../reports/index.js';
import { kindInfo } from '../crds/registry.js';

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
}

export interface RunningDashboard {
  port: number;
  server: Server;
  close(): Promise<void>;
}

const esc = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const href = (path: string, value: string) => `${path}/${encodeURIComponent(value)}`;

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)} — KIDP compliance</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1d2330}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.5rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{border-bottom:1px solid #dde;padding:.3rem .7rem;text-align:left;vertical-align:top}
th{background:#f3f4f8}.bad{color:#b3261e;font-weight:600}.ok{color:#1e7b34;font-weight:600}.num{text-align:right}
.cards{display:flex;gap:1rem}.card{border:1px solid #dde;border-radius:6px;padding:.6rem 1rem}.big{font-size:1.6rem}
</style></head><body><nav><a href="/">Compliance overview</a></nav>${body}</body></html>`;
}

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
  let cached: { at: number; model: ComplianceModel; trend: Snapshot[] | undefined } | undefined;

  const readTrend = async (): Promise<Snapshot[] | undefined> => {
    try {
      return snapshots(await trendStore.read());
    } catch (err) {
      // The page still shows the reports; only the trend is missing (e.g. no RBAC to read the ConfigMap).
      options.logger.warn({ err: err instanceof Error ? err.message : String(err), configMap: `${trendStore.namespace}/${trendStore.name}` }, 'dashboard: could not read the compliance trend');
      return undefined;
    }
  };
  const load = async (): Promise<{ model: ComplianceModel; trend: Snapshot[] | undefined }> => {
    if (cached && now().getTime() - cached.at < refreshMs) return cached;
    const reports = kindInfo('PolicyReport');
    const clusterReports = kindInfo('ClusterPolicyReport');
    const [ns, cluster, trend] = await Promise.all([
      api.listClusterCustomObject({ group: reports.group, version: reports.version, plural: reports.plural }) as Promise<{ items: StoredReport[] }>,
      api.listClusterCustomObject({ group: clusterReports.group, version: clusterReports.version, plural: clusterReports.plural }) as Promise<{ items: StoredReport[] }>,
      readTrend(),
    ]);
    cached = { at: now().getTime(), model: buildModel([...ns.items, ...cluster.items]), trend };
    return cached;
  };

  const app = express();
  app.disable('x-powered-by');
  const html = (res: Response, body: string) => void res.type('html').send(body);
  const guard = (fn: (req: Request, res: Response) => Promise<void>) => (req: Request, res: Response) =>
    void fn(req, res).catch((err: unknown) => {
      options.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'dashboard: request failed');
      res.status(502).type('text/plain').send('could not read PolicyReports from the apiserver');
    });

  app.get('/healthz', (_req, res) => void res.type('text/plain').send('ok'));
  app.get('/api/compliance', guard(async (_req, res) => {
    const { model, trend } = await load();
    res.json({ ...model, trend: trend ?? null });
  }));
  app.get('/', guard(async (_req, res) => {
    const { model: m, trend } = await load();
    html(res, page('Overview', `<h1>Policy compliance</h1>
<div class="cards"><div class="card" data-testid="total">overall<br><span class="big">${pct(m.total.compliance)}</span></div>
<div class="card">violations<br><span class="big">${m.violations.length}</span></div>
<div class="card">results<br><span class="big">${m.total.summary.pass + m.total.summary.fail + m.total.summary.warn + m.total.summary.error + m.total.summary.skip}</span></div></div>
<h2>Trend</h2>${trendSvg(trend)}
${table('By team', 'teams', m.teams, (k) => href('/teams', k))}
${table('By namespace', 'namespaces', m.namespaces, (k) => href('/namespaces', k))}
${table('By policy', 'policies', m.policies, (k) => href('/policies', k))}`));
  }));
  const drill = (what: 'team' | 'namespace' | 'policy', path: string) =>
    app.get(`${path}/:key`, guard(async (req, res) => {
      const key = String(req.params.key);
      const { model: m } = await load();
      const vs = m.violations.filter((v) => v[what] === key);
      const row = (what === 'team' ? m.teams : what === 'namespace' ? m.namespaces : m.policies).find((r) => r.key === key);
      html(res, page(`${what} ${key}`, `<h1>${esc(what)} ${esc(key)}</h1><p data-testid="row-compliance">compliance ${row ? pct(row.compliance) : 'n/a (no results)'}</p><h2>Violations (${vs.length})</h2>${violationsTable(vs)}`));
    }));
  drill('team', '/teams');
  drill('namespace', '/namespaces');
  drill('policy', '/policies');
  app.all('/{*rest}', (req, res) => void res.status(req.method === 'GET' ? 404 : 405).type('text/plain').send(req.method === 'GET' ? 'not found' : 'read-only'));

  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, options.host ?? '0.0.0.0', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  options.logger.info({ port }, 'compliance dashboard listening');
  return {
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
