// How the deployable reconciler turns what brokers reported into status (DESIGN §5,
// STYLE §11). The status API and the status consumer (brokers/status-handler.ts) only
// verify, deduplicate and record each StatusEvent in status.brokerReports; this pure fold,
// run at the start of every reconcile of a deployable, applies the recorded reports in
// arrival order, drops those that are stale by then, empties the list, and derives the
// Service's database connection refs from the Databases it selects. One writer, then, for
// phase, conditions, lastStatus*, failure and connection refs: the reconcile.
import { PHASE_OF, RECENT_EVENT_IDS_KEPT, REASON_CLEANED_UP, staleReason, type BrokerReport } from '../brokers/index.js';
import { sameJson, setCondition, type Condition } from '../kube/index.js';
import type { Action, ObjectRef } from './actions.js';
import type { DeployableResource } from '../crds/registry.js';

type Deployable = DeployableResource;
type Status = NonNullable<Deployable['status']>;

export interface DatabaseConnectionRef {
  database: string;
  name: string;
  namespace: string;
}

/**
 * The status after one report, which the caller has checked is not stale. Pure. Everything
 * a broker speaks for: phase, Deployed, Ready, StatusReported, observedGeneration,
 * lastStatusEventId, lastStatusTime (when the report was recorded), the failure the
 * controllers retry, and a Database's or Cache's connection secret.
 */
export function statusAfterReport(object: Deployable, report: BrokerReport, now: Date): Status {
  const status: Status = object.status ?? {};
  const generation = report.generation;
  const by = `broker ${report.broker} on target ${report.target}, request ${report.requestId}`;
  const detail = report.message || report.reason;
  let conditions = status.conditions as Condition[] | undefined;
  const set = (type: string, value: Condition['status'], reason: string, message: string) => {
    conditions = setCondition(conditions, { type, status: value, reason, message, observedGeneration: generation }, now);
  };
  switch (report.phase) {
    case 'Deploying':
      set('Deployed', 'Unknown', report.reason, `${detail} (${by})`);
      set('Ready', 'False', report.reason, `deploying: ${detail}`);
      break;
    case 'Ready':
      set('Deployed', 'True', report.reason, `${detail} (${by})`);
      set('Ready', 'True', report.reason, detail);
      break;
    case 'Failed': {
      const kind = report.permanent ? 'permanent failure, not retried' : 'failure';
      set('Deployed', 'False', report.reason, `${kind}: ${detail} (${by})`);
      set('Ready', 'False', report.reason, `${kind}: ${detail}`);
      break;
    }
    case 'Deleted':
      set('Deployed', 'False', REASON_CLEANED_UP, `${detail} (${by})`);
      set('Ready', 'False', REASON_CLEANED_UP, 'removed from the target');
      break;
  }
  set('StatusReported', 'True', 'StatusEventApplied', `${report.phase} from ${by} (event ${report.eventId})`);
  const next: Status = {
    ...status,
    phase: PHASE_OF[report.phase],
    observedGeneration: generation,
    conditions: conditions ?? [],
    lastStatusEventId: report.eventId,
    lastStatusTime: report.receivedAt,
  };
  // Machine-readable for the retry (deployable.ts); any other phase ends the failure.
  if (report.phase === 'Failed') next.failure = { requestId: report.requestId, permanent: report.permanent === true };
  else delete next.failure;
  if (object.kind === 'Database' || object.kind === 'Cache') {
    const withSecret = next as Status & { connectionSecretRef?: { name?: string; namespace?: string } };
    if (report.phase === 'Deleted') delete withSecret.connectionSecretRef;
    else if (report.outputs?.connectionSecretRef) withSecret.connectionSecretRef = { ...report.outputs.connectionSecretRef };
  }
  // Issue 15: a broker's backup report (postgresql provider) is recorded as it came.
  if (object.kind === 'Database' && report.outputs?.backup) (next as Status & { backup?: unknown }).backup = { ...report.outputs.backup };
  // Issue 15 item 6: the usage the broker priced, as it came (the protocol checked it); a
  // report without one leaves the last; a removed resource costs nothing more.
  const withUsage = next as Status & { usage?: unknown };
  if (report.phase === 'Deleted') delete withUsage.usage;
  else if (report.outputs?.usage) withUsage.usage = { ...report.outputs.usage };
  return next;
}

/** matchLabels semantics of metav1.LabelSelector: an empty selector matches everything. */
function matches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/**
 * The connection Secret refs a Service should list: Ready Databases in its namespace that
 * its `spec.dependencies.databaseSelector` matches and that have a secret. Undefined when
 * the object declares no selector (its status field is then left alone). Sorted by name.
 */
export function databaseConnectionRefsFor(service: Deployable, databases: readonly Deployable[]): DatabaseConnectionRef[] | undefined {
  const selector = (service.spec as { dependencies?: { databaseSelector?: { matchLabels?: Record<string, string> } } }).dependencies?.databaseSelector;
  if (service.kind !== 'Service' || !selector) return undefined;
  const secretOf = (db: Deployable) => (db.status as { connectionSecretRef?: { name?: string; namespace?: string } } | undefined)?.connectionSecretRef;
  return databases
    .filter((db) => db.kind === 'Database' && db.metadata.namespace === service.metadata.namespace && !db.metadata.deletionTimestamp)
    .filter((db) => db.status?.phase === 'Ready' && secretOf(db)?.name && secretOf(db)?.namespace)
    .filter((db) => matches(selector.matchLabels ?? {}, db.metadata.labels))
    .map((db) => ({ database: db.metadata.name ?? '', name: secretOf(db)?.name ?? '', namespace: secretOf(db)?.namespace ?? '' }))
    .sort((a, b) => (a.database < b.database ? -1 : a.database > b.database ? 1 : 0));
}

export interface FoldInput {
  object: Deployable;
  /** The Databases of the object's namespace (a Service's connection refs come from them); may hold others, which are ignored. */
  databases?: readonly Deployable[];
  now: Date;
  /**
   * Reports handed over in memory by this replica's status handler (local-reports.ts), in
   * arrival order, after the recorded ones. Their event ids join recentEventIds, as
   * recording would have done; one already there (or recorded) is a duplicate and skipped.
   */
  pending?: readonly BrokerReport[];
}

export interface Folded {
  /** The status with every recorded report folded in and brokerReports emptied. */
  status: Status;
  /** One Event per report applied, as the broker worded it. */
  events: Action[];
  /** Reports dropped as stale, with the reason (for the log). */
  dropped: Array<{ eventId: string; reason: string }>;
}

/** The folded status of `object`, its Events, and what was dropped. Pure; unchanged status when there is nothing to fold. */
export function foldReports(input: FoldInput, ref: ObjectRef): Folded {
  const { object, now } = input;
  let status: Status = object.status ?? {};
  const events: Action[] = [];
  const dropped: Folded['dropped'] = [];
  const recorded = (status.brokerReports ?? []) as BrokerReport[];
  const seen = new Set([...(status.recentEventIds ?? []), ...recorded.map((r) => r.eventId)]);
  const handed = (input.pending ?? []).filter((r) => !seen.has(r.eventId) && (seen.add(r.eventId), true));
  if (handed.length > 0) status = { ...status, recentEventIds: [...(status.recentEventIds ?? []), ...handed.map((r) => r.eventId)].slice(-RECENT_EVENT_IDS_KEPT) };
  const reports = handed.length > 0 ? [...recorded, ...handed] : recorded;
  for (const report of reports) {
    const current = { ...object, status };
    const stale = staleReason(current as Parameters<typeof staleReason>[0], { uid: object.metadata.uid ?? '', generation: report.generation, requestId: report.requestId, phase: report.phase });
    if (stale) {
      dropped.push({ eventId: report.eventId, reason: stale });
      continue;
    }
    status = statusAfterReport(current, report, now);
    events.push({
      type: 'event',
      ref,
      eventType: report.phase === 'Failed' ? 'Warning' : 'Normal',
      reason: report.phase === 'Deleted' ? REASON_CLEANED_UP : report.reason,
      message: `${report.phase}: ${report.message || report.reason} (broker ${report.broker}, target ${report.target}, request ${report.requestId})`,
    });
  }
  if (status.brokerReports !== undefined) {
    const { brokerReports: _folded, ...rest } = status;
    status = rest;
  }
  const refs = databaseConnectionRefsFor({ ...object, status } as Deployable, input.databases ?? []);
  const current = (status as { databaseConnectionSecretRefs?: DatabaseConnectionRef[] }).databaseConnectionSecretRefs;
  // An empty list is what an absent field already says: no write for it.
  if (refs !== undefined && !sameJson(current ?? [], refs)) status = { ...status, databaseConnectionSecretRefs: refs } as Status;
  return { status, events, dropped };
}
