// The wgpolicyk8s.io/v1alpha2 result shape (crds/policyreport.yaml), shared by the report
// writer, the decision stream and the dashboard: one vocabulary for "what a policy said".
import type { Severity } from '../policy-engine/policy/index.js';

export type ReportResultValue = 'pass' | 'fail' | 'warn' | 'error' | 'skip';

export interface ResourceRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

export interface PolicyReportResult {
  source: string;
  policy: string;
  rule: string;
  result: ReportResultValue;
  severity?: Severity;
  message?: string;
  /** Seconds/nanos, as the wgpolicyk8s.io schema types it (not an RFC 3339 string). */
  timestamp: { seconds: number; nanos: number };
  scored: boolean;
  resources: ResourceRef[];
  properties?: Record<string, string>;
}

export interface ReportSummary {
  pass: number;
  fail: number;
  warn: number;
  error: number;
  skip: number;
}

/** `source` of every result KIDP writes. */
export const REPORT_SOURCE = 'kidp';

export function emptySummary(): ReportSummary {
  return { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
}

export function summarize(results: readonly Pick<PolicyReportResult, 'result'>[]): ReportSummary {
  const s = emptySummary();
  for (const r of results) s[r.result] += 1;
  return s;
}

export function timestampOf(date: Date): { seconds: number; nanos: number } {
  const ms = date.getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}
