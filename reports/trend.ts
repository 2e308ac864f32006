// The compliance trend, persisted (issue #6: the dashboard's trend must survive a restart
// of either process). The reports controller appends a point — the summary of every result
// it wrote — once a scan is done, at most one point per interval (default an hour), and
// keeps the retention (default 30 days): at most 720 points, ~70 KB of JSON, far under a
// ConfigMap's 1 MiB. They live in one ConfigMap of the platform namespace
// (`kidp-compliance-trend`, key `trend.json`), which the dashboard reads.
import { CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { emptySummary, type ReportSummary } from './result.js';
import { MANAGED_BY } from '../crds/registry.js';
import { isNotFound } from '../kube/index.js';

export const TREND_CONFIGMAP = 'kidp-compliance-trend';
export const TREND_KEY = 'trend.json';
/** One point an hour: a month of history stays readable on one line chart. */
export const DEFAULT_TREND_INTERVAL_MS = 60 * 60_000;
/** A month: long enough to see a policy rollout through, short enough for one small object. */
export const DEFAULT_TREND_RETENTION_MS = 30 * 24 * 60 * 60_000;

export interface TrendPoint {
  /** RFC 3339, when the scan this point sums was done. */
  time: string;
  summary: ReportSummary;
}

export interface TrendBounds {
  /** No two points closer than this. */
  intervalMs: number;
  /** No point older than this (relative to the newest append). */
  retentionMs: number;
}

export interface TrendSeries {
  intervalSeconds: number;
  retentionSeconds: number;
  points: TrendPoint[];
}

/** The most points a series with these bounds keeps. */
export function maxPoints(bounds: TrendBounds): number {
  return Math.max(1, Math.ceil(bounds.retentionMs / bounds.intervalMs));
}

/** Whether a point taken at `now` is due after the given points. */
export function pointDue(points: readonly TrendPoint[], now: Date, bounds: TrendBounds): boolean {
  const last = points[points.length - 1];
  if (!last) return true;
  const lastMs = Date.parse(last.time);
  // A point from a clock far ahead (another writer's) must not stop the series for good.
  if (!Number.isFinite(lastMs) || lastMs > now.getTime() + bounds.intervalMs) return true;
  return now.getTime() - lastMs >= bounds.intervalMs;
}

/**
 * The series with a point at `now` appended, if one is due (pure): points stay in time
 * order, none older than the retention, none later than `now`, at most maxPoints(bounds).
 * Undefined when no point is due, or when the point holds no result at all (nothing audited
 * yet: a fresh cluster, or a scan before the first objects arrive), which would otherwise
 * read as 100 % compliant for the next interval.
 */
export function appendPoint(points: readonly TrendPoint[], point: TrendPoint, bounds: TrendBounds): TrendPoint[] | undefined {
  if (Object.values(point.summary).every((n) => n === 0)) return undefined;
  const now = new Date(point.time);
  if (!pointDue(points, now, bounds)) return undefined;
  const oldest = now.getTime() - bounds.retentionMs;
  const kept = points.filter((p) => {
    const t = Date.parse(p.time);
    return Number.isFinite(t) && t > oldest && t < now.getTime();
  });
  kept.push({ time: point.time, summary: { ...point.summary } });
  return kept.slice(-maxPoints(bounds));
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Points from a stored `trend.json`; what cannot be read is skipped, never thrown. */
export function parseTrend(text: string | undefined): TrendPoint[] {
  if (!text) return [];
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return [];
  }
  const points = (doc as { points?: unknown }).points;
  if (!Array.isArray(points)) return [];
  const out: TrendPoint[] = [];
  for (const p of points as unknown[]) {
    const { time, summary } = (p ?? {}) as { time?: unknown; summary?: Record<string, unknown> };
    if (typeof time !== 'string' || !Number.isFinite(Date.parse(time)) || !summary) continue;
    const s = emptySummary();
    let ok = true;
    for (const k of Object.keys(s) as (keyof ReportSummary)[]) {
      const v = summary[k] ?? 0;
      if (!isCount(v)) ok = false;
      else s[k] = v;
    }
    if (ok) out.push({ time, summary: s });
  }
  return out;
}

export function serializeTrend(points: readonly TrendPoint[], bounds: TrendBounds): string {
  const series: TrendSeries = { intervalSeconds: Math.round(bounds.intervalMs / 1000), retentionSeconds: Math.round(bounds.retentionMs / 1000), points: [...points] };
  return JSON.stringify(series);
}

export interface TrendLocation {
  namespace: string;
  name?: string;
}


/** The ConfigMap holding the series: read by the dashboard, appended to by the reports controller. */
export class TrendStore {
  private readonly api: CoreV1Api;
  readonly namespace: string;
  readonly name: string;

  constructor(kubeConfig: KubeConfig, location: TrendLocation) {
    this.api = kubeConfig.makeApiClient(CoreV1Api);
    this.namespace = location.namespace;
    this.name = location.name ?? TREND_CONFIGMAP;
  }

  private async readObject(): Promise<V1ConfigMap | undefined> {
    try {
      return await this.api.readNamespacedConfigMap({ namespace: this.namespace, name: this.name });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** The stored points; none when the ConfigMap does not exist yet. */
  async read(): Promise<TrendPoint[]> {
    return parseTrend((await this.readObject())?.data?.[TREND_KEY]);
  }

  /**
   * Appends a point if one is due by the stored series (another replica may have written
   * since). Read, then replace with the resourceVersion read: a concurrent writer makes this
   * fail with a 409, and the point is tried again after the next scan. Returns the series.
   */
  async append(point: TrendPoint, bounds: TrendBounds): Promise<{ written: boolean; points: TrendPoint[] }> {
    const current = await this.readObject();
    const points = parseTrend(current?.data?.[TREND_KEY]);
    const next = appendPoint(points, point, bounds);
    if (!next) return { written: false, points };
    const data = { [TREND_KEY]: serializeTrend(next, bounds) };
    const labels = { ...MANAGED_BY };
    if (current) {
      await this.api.replaceNamespacedConfigMap({ namespace: this.namespace, name: this.name, body: { ...current, data: { ...current.data, ...data } } });
    } else {
      await this.api.createNamespacedConfigMap({ namespace: this.namespace, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: this.name, namespace: this.namespace, labels }, data } });
    }
    return { written: true, points: next };
  }
}
