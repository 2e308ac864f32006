// Turning audit results into wgpolicyk8s.io/v1alpha2 report objects that stay small.
//
// Sharding (issue 6 item 1: every report object under 500 KB). One namespace's results
// are spread over N PolicyReports `kidp-<i>` (ClusterPolicyReports `kidp-cluster-<i>` for
// cluster-scoped kinds), each resource going to shard hash(Kind/namespace/name) mod N, all
// of its results together. N is the smallest power of two that brings the average shard to
// TARGET_SHARD_BYTES; should the hash spread still leave a shard over SHARD_LIMIT_BYTES, N
// doubles. Why hashing rather than packing in order: a change to one resource rewrites one
// shard, not every shard after it, and N changes only when a namespace doubles or halves.
// Each object carries a digest of its results (timestamps excluded): a rescan that changes
// nothing writes nothing.
import { createHash } from 'node:crypto';
import type { ObjectAudit } from './audit.js';
import { emptySummary, REPORT_SOURCE, timestampOf, type PolicyReportResult, type ReportSummary } from './result.js';
import { LABELS, MANAGED_BY_VALUE, REPORTS_API_VERSION } from '../crds/registry.js';

/** The bound on any report object, as stored (JSON). */
export const MAX_REPORT_BYTES = 500 * 1024;
/** Room under the bound for metadata, managedFields and summary, which results do not count. */
export const SHARD_LIMIT_BYTES = MAX_REPORT_BYTES - 16 * 1024;
/** Average shard size aimed for: with hash spread the largest stays well under the limit. */
export const TARGET_SHARD_BYTES = 192 * 1024;

export const MANAGED_BY = LABELS.managedBy;
export const REPORT_LABEL = 'reports.kidp.io/report';
export const SHARD_LABEL = 'reports.kidp.io/shard';
export const SHARDS_LABEL = 'reports.kidp.io/shards';
export const TEAM_LABEL = LABELS.team;
export const DIGEST_ANNOTATION = 'reports.kidp.io/digest';
export const REPORT_API_VERSION = REPORTS_API_VERSION;

export interface ReportObject {
  apiVersion: string;
  kind: 'PolicyReport' | 'ClusterPolicyReport';
  metadata: { name: string; namespace?: string; labels: Record<string, string>; annotations: Record<string, string>; resourceVersion?: string };
  summary: ReportSummary;
  results: PolicyReportResult[];
}

/** FNV-1a: stable across processes and versions, unlike anything keyed on Map order. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function resultsOf(audit: ObjectAudit, now: Date): PolicyReportResult[] {
  const timestamp = timestampOf(now);
  return audit.verdicts.map((v) => ({
    source: REPORT_SOURCE,
    policy: v.policy,
    rule: v.rule,
    result: v.result,
    severity: v.severity,
    ...(v.message ? { message: v.message } : {}),
    timestamp,
    scored: true,
    resources: [audit.ref],
  }));
}

/** What a digest covers of one result: all of it but the timestamp. */
function digestText(r: PolicyReportResult): string {
  return JSON.stringify({ ...r, timestamp: undefined });
}

export function digestOf(results: readonly PolicyReportResult[]): string {
  const h = createHash('sha256');
  for (const r of results) h.update(digestText(r));
  return h.digest('hex').slice(0, 32);
}

/** JSON bytes a timestamp adds to a result (`,"timestamp":{"seconds":N,"nanos":N}` at its longest). */
const TIMESTAMP_BYTES = ',"timestamp":{"seconds":9999999999,"nanos":999000000}'.length;

/**
 * One audit's size, computed once per ObjectAudit: the audit cache hands back the same
 * ObjectAudit for an object nothing changed for, so a rescan serializes only what changed.
 * Sizes count the longest timestamp, so they do not depend on the scan's time.
 */
const sizes = new WeakMap<ObjectAudit, number>();

function textOf(audit: ObjectAudit): string {
  let text = '';
  for (const r of resultsOf(audit, EPOCH)) text += digestText(r);
  return text;
}

function sizeOf(audit: ObjectAudit): number {
  let bytes = sizes.get(audit);
  if (bytes === undefined) {
    bytes = Buffer.byteLength(textOf(audit)) + audit.verdicts.length * (TIMESTAMP_BYTES + 1);
    sizes.set(audit, bytes);
  }
  return bytes;
}

/**
 * Shard digests of the last build of one scope, by shard name: a shard holding the very same
 * audits (see sizes) has the same digest, so a rescan hashes only the shards that changed.
 */
export type DigestMemo = Map<string, { members: readonly ObjectAudit[]; digest: string }>;

function sameMembers(a: readonly ObjectAudit[], b: readonly ObjectAudit[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const EPOCH = new Date(0);

export interface ReportScope {
  /** Undefined for the cluster-scoped report set. */
  namespace?: string;
  /** The namespace's team (its platform.kidp.io/team label), for dashboards. */
  team?: string;
}

/**
 * The report objects for one scope; empty when nothing there is selected by any policy.
 * `memo` (one per scope, kept by the caller) is read and replaced with this build's digests.
 */
export function buildReports(scope: ReportScope, audits: readonly ObjectAudit[], now: Date, memo?: DigestMemo): ReportObject[] {
  const entries = audits
    .filter((a) => a.verdicts.length > 0)
    .map((a) => ({ audit: a, key: a.key, bytes: sizeOf(a) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const previous = memo ? new Map(memo) : undefined;
  memo?.clear();
  if (entries.length === 0) return [];
  const total = entries.reduce((s, e) => s + e.bytes, 0);
  let shards = 1;
  while (shards * TARGET_SHARD_BYTES < total) shards *= 2;
  let buckets: (typeof entries)[];
  for (;;) {
    buckets = Array.from({ length: shards }, () => []);
    for (const e of entries) buckets[hash32(e.key) % shards]!.push(e);
    const largest = Math.max(...buckets.map((b) => b.reduce((s, e) => s + e.bytes, 0)));
    // One resource's results cannot be split; more shards would not help it.
    if (largest <= SHARD_LIMIT_BYTES || buckets.every((b) => b.length <= 1)) break;
    shards *= 2;
  }
  const cluster = scope.namespace === undefined;
  return buckets.map((bucket, i) => {
    const name = cluster ? `kidp-cluster-${i}` : `kidp-${i}`;
    const members = bucket.map((e) => e.audit);
    const last = previous?.get(name);
    let digest = last && sameMembers(last.members, members) ? last.digest : undefined;
    if (digest === undefined) {
      const h = createHash('sha256');
      for (const a of members) h.update(textOf(a));
      digest = h.digest('hex').slice(0, 32);
    }
    memo?.set(name, { members, digest });
    const summary = emptySummary();
    for (const e of bucket) for (const v of e.audit.verdicts) summary[v.result] += 1;
    // Built when read (by the writer, for the objects it writes): a rescan that changes one
    // shard builds one shard's results, not the scope's.
    let results: PolicyReportResult[] | undefined;
    return {
      apiVersion: REPORT_API_VERSION,
      kind: cluster ? 'ClusterPolicyReport' : 'PolicyReport',
      metadata: {
        name,
        ...(cluster ? {} : { namespace: scope.namespace }),
        labels: { [MANAGED_BY]: MANAGED_BY_VALUE, [REPORT_LABEL]: 'audit', [SHARD_LABEL]: String(i), [SHARDS_LABEL]: String(shards), ...(scope.team ? { [TEAM_LABEL]: scope.team } : {}) },
        annotations: { [DIGEST_ANNOTATION]: digest },
      },
      summary,
      get results() {
        return (results ??= bucket.flatMap((e) => resultsOf(e.audit, now)));
      },
    };
  });
}
