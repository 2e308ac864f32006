// Public API of reports/: the CLI, the dashboard, benchmarks and tests import from here and
// nothing deeper (like brokers/index.ts).
export { runReports, DEFAULT_RESCAN_PERIOD_MS, DEFAULT_DEBOUNCE_MS, DEFAULT_LEASE_NAME, FIELD_MANAGER, type ReportsOptions, type RunningReports, type ScanTotals } from './controller.js';
export { auditObject, keyOf, refOf, SKIP_REQUEST_MESSAGE, type ObjectAudit, type RuleVerdict, type AuditContext } from './audit.js';
export { impactOf, sameImpact, MAX_IMPACT_EXAMPLES, type PolicyImpact, type ImpactExample } from './impact.js';
export { oldObjectRules, requestDependentRules } from './request-dependence.js';
export { ApiReader, DEFAULT_EXCLUDED_NAMESPACES, selectedKindOf, type SelectedKind } from './api-resources.js';
export { TrendStore, TREND_CONFIGMAP, DEFAULT_TREND_INTERVAL_MS, DEFAULT_TREND_RETENTION_MS, type TrendLocation, type TrendPoint, type TrendBounds } from './trend.js';
export { emptySummary, summarize, timestampOf, REPORT_SOURCE, type PolicyReportResult, type ReportResultValue, type ReportSummary, type ResourceRef } from './result.js';
