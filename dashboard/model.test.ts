import { buildModel, snapshots, type StoredReport } from './model.js';
import type { PolicyReportResult } from '../reports/index.js';

const r = (policy: string, result: PolicyReportResult['result'], kind: string, name: string, namespace?: string, message?: string): PolicyReportResult => ({
  source: 'kidp', policy, rule: 'r1', result, severity: 'high', ...(message ? { message } : {}), timestamp: { seconds: 0, nanos: 0 }, scored: true,
  resources: [{ apiVersion: 'platform.kidp.io/v1alpha1', kind, name, ...(namespace ? { namespace } : {}) }],
});

describe('buildModel', () => {
  it('rolls results up per team, namespace and policy, worst first, and lists violations', () => {
    const reports: StoredReport[] = [
      { kind: 'PolicyReport', metadata: { name: 'kidp-0', namespace: 'pay', labels: { 'platform.kidp.io/team': 'payments' } }, results: [r('p1', 'pass', 'Database', 'a', 'pay'), r('p1', 'fail', 'Database', 'b', 'pay', 'b must back up'), r('p2', 'skip', 'Database', 'a', 'pay')] },
      { kind: 'ClusterPolicyReport', metadata: { name: 'kidp-cluster-0' }, results: [r('p3', 'warn', 'Team', 'search', undefined, 'needs a contact'), r('p3', 'pass', 'DeploymentTarget', 'prod')] },
    ];
    const m = buildModel(reports);
    expect(m.total).toEqual({ key: 'all', summary: { pass: 2, fail: 1, warn: 1, error: 0, skip: 1 }, compliance: 50 });
    expect(m.teams.map((t) => [t.key, t.compliance])).toEqual([['search', 0], ['payments', 50], ['(no team)', 100]]);
    expect(m.namespaces.map((t) => [t.key, t.compliance])).toEqual([['(cluster)', 50], ['pay', 50]]);
    expect(m.policies.map((t) => [t.key, t.compliance])).toEqual([['p1', 50], ['p3', 50], ['p2', 100]]);
    expect(m.violations).toEqual([
      { team: 'search', namespace: '(cluster)', policy: 'p3', rule: 'r1', result: 'warn', severity: 'high', kind: 'Team', name: 'search', message: 'needs a contact' },
      { team: 'payments', namespace: 'pay', policy: 'p1', rule: 'r1', result: 'fail', severity: 'high', kind: 'Database', name: 'b', message: 'b must back up' },
    ]);
  });

  it('turns stored trend points into snapshots with their compliance, oldest first', () => {
    const summary = (pass: number, fail: number) => ({ pass, fail, warn: 0, error: 0, skip: 3 });
    expect(snapshots([{ time: '1970-01-01T02:00:00.000Z', summary: summary(2, 1) }, { time: '1970-01-01T01:00:00.000Z', summary: summary(1, 1) }, { time: '1970-01-01T03:00:00.000Z', summary: summary(0, 0) }])).toEqual([
      { time: '1970-01-01T01:00:00.000Z', summary: summary(1, 1), compliance: 50 },
      { time: '1970-01-01T02:00:00.000Z', summary: summary(2, 1), compliance: 66.7 },
      // Only skips: nothing scored, nothing failing.
      { time: '1970-01-01T03:00:00.000Z', summary: summary(0, 0), compliance: 100 },
    ]);
  });
});
