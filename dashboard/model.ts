// What the compliance page shows, computed from the report objects alone (pure): totals
// per team, namespace and policy, the violations with their messages, and the trend the
// reports controller persists. The reports are the source of truth; the page never
// evaluates policy.
import { emptySummary, type PolicyReportResult, type ReportSummary, type TrendPoint } from '../reports/index.js';
import { LABELS } from '../crds/registry.js';

export interface StoredReport {
  kind?: string;
  metadata: { name?: string; namespace?: string; labels?: Record<string, string> };
  results?: PolicyReportResult[];
}

export interface Row {
  key: string;
  summary: ReportSummary;
  /** pass / (pass + fail + warn + error), in percent; 100 when nothing was scored. */
  compliance: number;
}

export interface Violation {
  team: string;
  namespace: string;
  policy: string;
  rule: string;
  result: string;
  severity: string;
  kind: string;
  name: string;
  message: string;
}

export interface ComplianceModel {
  total: Row;
  teams: Row[];
  namespaces: Row[];
  policies: Row[];
  violations: Violation[];
}

export interface Snapshot {
  time: string;
  summary: ReportSummary;
  compliance: number;
}

export const NO_TEAM = '(no team)';
export const CLUSTER = '(cluster)';

export function compliance(s: ReportSummary): number {
  const scored = s.pass + s.fail + s.warn + s.error;
  return scored === 0 ? 100 : Math.round((s.pass / scored) * 1000) / 10;
}

function add(map: Map<string, ReportSummary>, key: string, result: PolicyReportResult['result']): void {
  let s = map.get(key);
  if (!s) map.set(key, (s = emptySummary()));
  s[result] += 1;
}

function rows(map: Map<string, ReportSummary>): Row[] {
  return [...map]
    .map(([key, summary]) => ({ key, summary, compliance: compliance(summary) }))
    .sort((a, b) => a.compliance - b.compliance || (a.key < b.key ? -1 : 1));
}

function teamOf(report: StoredReport, r: PolicyReportResult): string {
  const label = report.metadata.labels?.[LABELS.team];
  if (label) return label;
  const res = r.resources[0];
  if (res?.kind === 'Team') return res.name;
  return NO_TEAM;
}

export function buildModel(reports: readonly StoredReport[]): ComplianceModel {
  const total = emptySummary();
  const teams = new Map<string, ReportSummary>();
  const namespaces = new Map<string, ReportSummary>();
  const policies = new Map<string, ReportSummary>();
  const violations: Violation[] = [];
  for (const report of reports) {
    const namespace = report.metadata.namespace ?? CLUSTER;
    for (const r of report.results ?? []) {
      const team = teamOf(report, r);
      total[r.result] += 1;
      add(teams, team, r.result);
      add(namespaces, namespace, r.result);
      add(policies, r.policy, r.result);
      if (r.result === 'fail' || r.result === 'warn' || r.result === 'error') {
        const res = r.resources[0];
        violations.push({ team, namespace, policy: r.policy, rule: r.rule, result: r.result, severity: r.severity ?? '', kind: res?.kind ?? '', name: res?.name ?? '', message: r.message ?? '' });
      }
    }
  }
  violations.sort((a, b) => `${a.namespace}/${a.kind}/${a.name}/${a.policy}/${a.rule}`.localeCompare(`${b.namespace}/${b.kind}/${b.name}/${b.policy}/${b.rule}`));
  return { total: { key: 'all', summary: total, compliance: compliance(total) }, teams: rows(teams), namespaces: rows(namespaces), policies: rows(policies), violations };
}

/** Stored trend points with their compliance, oldest first. */
export function snapshots(points: readonly TrendPoint[]): Snapshot[] {
  return [...points]
    .sort((a, b) => Date.parse(a.time) - Date.parse(b.time))
    .map((p) => ({ time: p.time, summary: { ...p.summary }, compliance: compliance(p.summary) }));
}
