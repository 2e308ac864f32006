// The reports controller (issue 6 items 1-4): informers on every KIDP kind, Namespaces,
// Policies and PolicyExceptions, and on the kinds outside platform.kidp.io that the current
// Policies select (kind-watchers.ts: Deployment.apps, Pod, ...); a work queue whose keys
// are report scopes (`ns/<name>`, `cluster`) plus `impact`. A scope's reconcile audits
// every object in it against the current Policies, writes its sharded PolicyReports (or ClusterPolicyReports) and the
// PolicyCompliant condition of its deployables; `impact` writes every Policy's
// status.impact once the scopes are done. A Policy created or changed re-queues every
// scope; a periodic rescan catches what no event announces (an exception expiring). When
// a scan is done, a point of the compliance trend is appended (trend.ts).
import { CoreV1Api, CustomObjectsApi, KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import pino, { type Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { KindCaches, loadKubeConfig, sameJson, systemClock, Watched, type Clock, type Timer } from '../kube/index.js';
import { Controller, LeaderElector, type Reconciler } from '../controllers/index.js';
import { PolicyStore } from '../admission/index.js';
import type { KubeObject, ParamSource } from '../policy-engine/policy/index.js';
import type { Policy, PolicyException } from '../crds/types.js';
import { AuditCache, auditObject, type ObjectAudit } from './audit.js';
import { complianceCondition, POLICY_COMPLIANT, type ExistingCondition } from './compliance.js';
import { impactsOf, sameImpact, type PolicyImpact } from './impact.js';
import { buildReports, TEAM_LABEL, type DigestMemo } from './shard.js';
import { DEPLOYABLE_PLURALS as PLURAL_OF_DEPLOYABLE, kindInfo, PLATFORM_GROUP, PLATFORM_KINDS, PLATFORM_VERSION } from '../crds/registry.js';
import { ReportWriter, type WriteStats } from './writer.js';
import { inParallel } from './parallel.js';
import { DEFAULT_EXCLUDED_NAMESPACES, selectedKinds } from './api-resources.js';
import { KindWatchers } from './kind-watchers.js';
import { DEFAULT_TREND_INTERVAL_MS, DEFAULT_TREND_RETENTION_MS, TrendStore, pointDue, type TrendBounds, type TrendLocation, type TrendPoint } from './trend.js';
import { emptySummary } from './result.js';
import { NativeEnforcement } from './native.js';

const GROUP = PLATFORM_GROUP;
const VERSION = PLATFORM_VERSION;
/** Audited KIDP kinds: plural -> Kind, from crds/registry.ts (Policy and PolicyException are the audit's input, not its subject). */
const AUDITED: Record<string, string> = Object.fromEntries(PLATFORM_KINDS.filter((k) => k.kind !== 'Policy' && k.kind !== 'PolicyException').map((k) => [k.plural, k.kind]));
const CLUSTER_SCOPED = new Set<string>(PLATFORM_KINDS.filter((k) => !k.namespaced).map((k) => k.kind));
/** Kinds that carry PolicyCompliant (DESIGN §3: deployable status). */
const DEPLOYABLE_PLURALS: Readonly<Record<string, string>> = PLURAL_OF_DEPLOYABLE;

/** A full rescan this often: catches expired exceptions and drift no watch event announces. */
export const DEFAULT_RESCAN_PERIOD_MS = 10 * 60_000;
/** Events within this window fold into one scan of the scope (an apply of 100 objects is one scan). */
export const DEFAULT_DEBOUNCE_MS = 300;
/** Workers: scopes are CPU (CEL) then I/O (writes); two overlap them on 2 cores. */
export const DEFAULT_WORKERS = 2;
export const DEFAULT_LEASE_NAME = 'kidp-reports';
export const FIELD_MANAGER = 'kidp-reports';
/** Status writes in flight per scope: overlaps round trips; more only queues in the apiserver. */
const WRITE_CONCURRENCY = 8;
/** After a failed trend write, wait this long before the next try: scans can come every second. */
const TREND_RETRY_MS = 60_000;
const CLUSTER_KEY = 'cluster';
const IMPACT_KEY = 'impact';
/** `native/<policy>`: that Policy's generated ValidatingAdmissionPolicy (native.ts). */
const NATIVE_PREFIX = 'native/';
export const DEFAULT_PLATFORM_NAMESPACE = 'kidp-system';

export interface ReportsOptions {
  kubeConfig?: KubeConfig;
  kubeconfig?: string;
  logger?: Logger;
  clock?: Clock;
  random?: () => number;
  rescanPeriodMs?: number;
  debounceMs?: number;
  workers?: number;
  registry?: Registry;
  /** With a namespace: only the Lease holder writes (replicas); without: always active. */
  leaseNamespace?: string;
  leaseName?: string;
  identity?: string;
  /** Audit only these namespaces (plus the cluster scope): one replica per tenant, or a test's own. */
  namespaces?: readonly string[];
  /** Objects of selected kinds outside platform.kidp.io in these namespaces are not audited. */
  excludedNamespaces?: readonly string[];
  /** Persist the compliance trend in this ConfigMap (trend.ts); without: no trend is written. */
  trend?: TrendLocation & Partial<TrendBounds>;
  /** The platform's namespace: Native policies on core kinds exclude it, as the webhook does. */
  platformNamespace?: string;
}

export interface ScanTotals extends WriteStats {
  scopes: number;
  objects: number;
  results: number;
  ms: number;
}

export interface RunningReports {
  registry: Registry;
  /** Queues every scope and resolves when the queue is idle, with what the scan wrote. */
  scanAll(): Promise<ScanTotals>;
  /** Resolves when no key is queued or in flight. */
  idle(): Promise<void>;
  /** Latest audits by scope (for tests and the CLI). */
  audits(): ReadonlyMap<string, readonly ObjectAudit[]>;
  /** Kinds outside platform.kidp.io the Policies select: watched (resource type → apiVersion), and those that cannot be (→ why). */
  selectedKinds(): { watched: Record<string, string>; unavailable: Record<string, string> };
  /** Brings the watched kinds in line with the current Policies (what the rescan does), and resolves when done. */
  kindsSettled(): Promise<void>;
  stop(): Promise<void>;
}


export async function runReports(options: ReportsOptions = {}): Promise<RunningReports> {
  // Report writes and lists reuse connections instead of a TLS handshake per call (kube/connections.ts).
  const kubeConfig = loadKubeConfig(options);
  const logger = options.logger ?? pino({ name: 'kidp-reports' });
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const rescanPeriodMs = options.rescanPeriodMs ?? DEFAULT_RESCAN_PERIOD_MS;
  const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  const registry = options.registry ?? new Registry();
  const writer = new ReportWriter(kubeConfig);
  const native = new NativeEnforcement(kubeConfig, { platformNamespace: options.platformNamespace ?? DEFAULT_PLATFORM_NAMESPACE, logger });
  const only = options.namespaces ? new Set(options.namespaces) : undefined;
  const inScope = (ns: string | undefined) => !ns || !only || only.has(ns);
  const scopeOf = (o: KubeObject): string => (o.metadata?.namespace ? `ns/${o.metadata.namespace}` : CLUSTER_KEY);
  const store = new PolicyStore(logger);
  const excluded = new Set(options.excludedNamespaces ?? DEFAULT_EXCLUDED_NAMESPACES);
  const auditable = (o: KubeObject) => inScope(o.metadata?.namespace) && !excluded.has(o.metadata?.namespace ?? '');

  const metrics = {
    scan: new Histogram({ name: 'kidp_report_scan_duration_seconds', help: 'Time to audit one report scope and write its reports.', buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60], registers: [registry] }),
    writes: new Counter({ name: 'kidp_report_writes_total', help: 'Report objects created or replaced.', registers: [registry] }),
    bytes: new Counter({ name: 'kidp_report_write_bytes_total', help: 'Bytes of report objects written (JSON).', registers: [registry] }),
    maxBytes: new Gauge({ name: 'kidp_report_max_object_bytes', help: 'Largest report object written so far (JSON bytes).', registers: [registry] }),
    failures: new Counter({ name: 'kidp_reconcile_errors_total', help: 'Reconciles that failed and will be retried, by controller.', labelNames: ['controller'], registers: [registry] }),
  };
  let maxBytesSeen = 0;

  const core = kubeConfig.makeApiClient(CoreV1Api);
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const watch = <T,>(name: string, path: string, list: () => Promise<unknown>) =>
    new Watched<T>({ name, kubeConfig, path, list: list as () => Promise<KubernetesListObject<KubernetesObject>>, clock, random, logger });
  const crd = <T,>(plural: string) => watch<T>(plural, `/apis/${GROUP}/${VERSION}/${plural}`, () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural }));

  const namespaces = watch<KubeObject>('namespaces', '/api/v1/namespaces', () => core.listNamespace());
  const policies = crd<Policy>(kindInfo('Policy').plural);
  const exceptions = crd<PolicyException>(kindInfo('PolicyException').plural);
  const audited = Object.entries(AUDITED).map(([plural, kind]) => ({ kind, watched: crd<KubeObject>(plural) }));
  const kinds = new KindWatchers({
    kubeConfig,
    clock,
    random,
    logger,
    wanted: () => selectedKinds(store.policies()),
    onEvent: (o) => {
      if (auditable(o)) enqueue(scopeOf(o));
    },
    // New kinds hold their first list: audit what they brought (and drop what a gone kind left).
    onChanged: () => enqueueAll(),
  });

  // Param objects of Policies with a paramKind, as the webhook caches them; a change of one
  // can change every verdict of the Policies naming it, so it re-queues every scope.
  const paramCaches = new KindCaches({
    kubeConfig,
    clock,
    random,
    logger,
    onEvent: () => {
      for (const s of allScopes()) enqueue(s);
      enqueue(IMPACT_KEY);
    },
  });
  const params: ParamSource = { scope: (k) => paramCaches.scope(k), list: (k, ns) => paramCaches.list(k, ns) as readonly KubeObject[] };

  const withKind = (o: KubeObject, kind: string, apiVersion: string): KubeObject => ({ ...o, apiVersion, kind });
  const objectsIn = (scope: string): KubeObject[] => {
    const out: KubeObject[] = [];
    if (scope === CLUSTER_KEY) {
      for (const n of namespaces.list()) if (inScope(n.metadata?.name)) out.push(withKind(n, 'Namespace', 'v1'));
      for (const { kind, watched } of audited) if (CLUSTER_SCOPED.has(kind)) for (const o of watched.list()) out.push(withKind(o, kind, `${GROUP}/${VERSION}`));
      for (const { resource, watched } of kinds.kinds()) if (!resource.namespaced) for (const o of watched.list()) out.push(withKind(o, resource.kind, resource.apiVersion));
      return out;
    }
    const ns = scope.slice(3);
    for (const { kind, watched } of audited) {
      if (CLUSTER_SCOPED.has(kind)) continue;
      for (const o of watched.list()) if (o.metadata?.namespace === ns) out.push(withKind(o, kind, `${GROUP}/${VERSION}`));
    }
    if (!excluded.has(ns)) {
      for (const { resource, watched } of kinds.kinds()) if (resource.namespaced) for (const o of watched.list(ns)) out.push(withKind(o, resource.kind, resource.apiVersion));
    }
    return out;
  };
  const allScopes = (): string[] => {
    const scopes = new Set<string>([CLUSTER_KEY]);
    for (const { kind, watched } of audited) if (!CLUSTER_SCOPED.has(kind)) for (const o of watched.list()) scopes.add(scopeOf(o));
    for (const { resource, watched } of kinds.kinds()) if (resource.namespaced) for (const o of watched.list()) if (auditable(o)) scopes.add(scopeOf(o));
    for (const s of knownScopes) scopes.add(s);
    return [...scopes];
  };

  const scopeAudits = new Map<string, ObjectAudit[]>();
  /** Per scope: the last audits, so a rescan re-evaluates only what can have changed (audit.ts). */
  const auditCaches = new Map<string, AuditCache>();
  /** Per scope: the last shard digests (shard.ts), so a rescan hashes only shards that changed. */
  const digestMemos = new Map<string, DigestMemo>();
  /** Scopes that had reports, so a scope whose last object went is cleaned once. */
  const knownScopes = new Set<string>();
  /** The controller of report scopes, while this replica leads (or always, without a Lease). */
  let controller: Controller | undefined;
  let scanTotals: ScanTotals | undefined;

  const enqueue = (key: string, delay = debounceMs) => {
    if (!controller || (key.startsWith('ns/') && !inScope(key.slice(3)))) return;
    controller.enqueueAfter(key, delay);
  };
  const busy = (except?: string): boolean => !!controller && controller.busy(except);
  const enqueueAll = () => {
    for (const s of allScopes()) enqueue(s, 0);
    enqueue(IMPACT_KEY);
  };

  const reconcileScope = async (scope: string): Promise<void> => {
    const started = clock.now();
    const now = new Date(started);
    const compiled = store.policies();
    const ctxExceptions = store.policyExceptions();
    const namespace = scope === CLUSTER_KEY ? undefined : scope.slice(3);
    const namespaceObject = namespace ? (namespaces.get(namespace) ?? null) : null;
    const objects = objectsIn(scope);
    let cache = auditCaches.get(scope);
    if (!cache) auditCaches.set(scope, (cache = new AuditCache()));
    cache.begin();
    const ctx = { now, exceptions: ctxExceptions, params, namespaceObject: namespaceObject ? withKind(namespaceObject, 'Namespace', 'v1') : null };
    const audits = objects.map((o) => auditObject(compiled, o, ctx, cache));
    cache.finish();
    if (objects.length === 0) auditCaches.delete(scope);
    scopeAudits.set(scope, audits);
    const team = namespaceObject?.metadata?.labels?.[TEAM_LABEL];
    let memo = digestMemos.get(scope);
    if (!memo) digestMemos.set(scope, (memo = new Map()));
    const reports = buildReports({ ...(namespace !== undefined ? { namespace } : {}), ...(team ? { team } : {}) }, audits, now, memo);
    if (reports.length === 0) digestMemos.delete(scope);
    const stats = await writer.sync(namespace, reports);
    if (reports.length > 0) knownScopes.add(scope);
    else knownScopes.delete(scope);
    metrics.writes.inc(stats.written);
    metrics.bytes.inc(stats.bytes);
    maxBytesSeen = Math.max(maxBytesSeen, stats.maxBytes);
    metrics.maxBytes.set(maxBytesSeen);
    // PolicyCompliant on deployables: only when it changes.
    const conditionWrites: (() => Promise<void>)[] = [];
    for (const [i, o] of objects.entries()) {
      const plural = DEPLOYABLE_PLURALS[o.kind ?? ''];
      if (!plural || !namespace) continue;
      const existing = ((o.status?.conditions as ExistingCondition[] | undefined) ?? []).find((c) => c.type === POLICY_COMPLIANT);
      const condition = complianceCondition(audits[i]!, o.metadata?.generation ?? 1, existing, now);
      if (condition) conditionWrites.push(() => writer.applyCondition({ apiVersion: `${GROUP}/${VERSION}`, kind: o.kind ?? '', plural, namespace, name: o.metadata?.name ?? '' }, condition, FIELD_MANAGER));
    }
    await inParallel(conditionWrites, WRITE_CONCURRENCY, (w) => w());
    if (scanTotals) {
      scanTotals.scopes += 1;
      scanTotals.objects += objects.length;
      scanTotals.results += audits.reduce((s, a) => s + a.verdicts.length, 0);
      scanTotals.written += stats.written;
      scanTotals.bytes += stats.bytes;
      scanTotals.unchanged += stats.unchanged;
      scanTotals.deleted += stats.deleted;
      scanTotals.maxBytes = Math.max(scanTotals.maxBytes, stats.maxBytes);
    }
    metrics.scan.observe((clock.now() - started) / 1000);
    enqueue(IMPACT_KEY);
  };

  const trendStore = options.trend ? new TrendStore(kubeConfig, options.trend) : undefined;
  const trendBounds: TrendBounds = { intervalMs: options.trend?.intervalMs ?? DEFAULT_TREND_INTERVAL_MS, retentionMs: options.trend?.retentionMs ?? DEFAULT_TREND_RETENTION_MS };
  /** Newest point known to be stored: saves reading the ConfigMap after every scan. */
  let lastTrendPoint: TrendPoint | undefined;
  let trendRetryAt = 0;
  const recordTrend = async (now: Date): Promise<void> => {
    if (!trendStore || now.getTime() < trendRetryAt) return;
    if (lastTrendPoint && !pointDue([lastTrendPoint], now, trendBounds)) return;
    const summary = emptySummary();
    for (const audits of scopeAudits.values()) for (const a of audits) for (const v of a.verdicts) summary[v.result] += 1;
    try {
      const { written, points } = await trendStore.append({ time: now.toISOString(), summary }, trendBounds);
      lastTrendPoint = points[points.length - 1];
      if (written) logger.debug({ points: points.length, configMap: `${trendStore.namespace}/${trendStore.name}` }, 'reports: compliance trend point written');
    } catch (err) {
      // The trend is a by-product: a failed write is retried after the next scan, the scan stands.
      lastTrendPoint = undefined;
      trendRetryAt = now.getTime() + TREND_RETRY_MS;
      logger.warn({ err: err instanceof Error ? err.message : String(err), configMap: `${trendStore.namespace}/${trendStore.name}` }, 'reports: could not write the compliance trend');
    }
  };

  const reconcileImpact = async (): Promise<void> => {
    // Impact counts a whole scan: wait while scopes are still queued or running.
    if (busy(IMPACT_KEY)) {
      enqueue(IMPACT_KEY);
      return;
    }
    const now = new Date(clock.now());
    await recordTrend(now);
    const compiled = store.policies();
    const impacts = impactsOf(compiled.map((p) => p.name), [...scopeAudits.values()].flat(), now);
    for (const p of compiled) {
      const impact = impacts.get(p.name)!;
      const current = policies.get(p.name) as (Policy & { status?: { impact?: PolicyImpact } }) | undefined;
      if (!current) continue;
      // The compile warnings (estimated cost) go beside the impact: the one writer of Policy status.
      if (!sameJson(current.status?.warnings ?? [], p.statusWarnings)) await writer.writeWarnings(p.name, p.statusWarnings);
      const last = current.status?.impact;
      // The scan time alone is refreshed at most once per rescan period.
      const fresh = last?.lastScanTime && clock.now() - Date.parse(last.lastScanTime) < rescanPeriodMs / 2;
      if (sameImpact(last, impact) && fresh) continue;
      await writer.writeImpact(p.name, impact);
    }
  };

  // Keys are report scopes and `impact`; the shared manager (controllers/) runs them: queue,
  // workers, per-key serialization and backoff.
  const reconciler: Reconciler = {
    name: 'reports',
    reconcile: async (key) => {
      if (key.startsWith(NATIVE_PREFIX)) {
        const name = key.slice(NATIVE_PREFIX.length);
        const outcome = await native.reconcile(name, policies.get(name), store.policyExceptions(), new Date(clock.now()));
        // An exception folded into the VAP stops exempting the moment it expires.
        return outcome.requeueAtMs !== undefined ? { requeueAfterMs: Math.max(0, outcome.requeueAtMs - clock.now()) } : {};
      }
      if (key === IMPACT_KEY) await reconcileImpact();
      else await reconcileScope(key);
      return {};
    },
  };

  // Events -> keys (STYLE §3).
  const policyGenerations = new Map<string, number>();
  policies.on((p, event) => {
    const name = p.metadata?.name ?? '';
    enqueue(`${NATIVE_PREFIX}${name}`, 0);
    if (event === 'delete') {
      store.removePolicy(name);
      policyGenerations.delete(name);
    } else {
      // Our own status.impact writes bump resourceVersion, not generation: no rescan for them.
      const generation = p.metadata?.generation ?? 0;
      if (policyGenerations.get(name) === generation) return;
      policyGenerations.set(name, generation);
      store.upsertPolicy({ ...p, apiVersion: `${GROUP}/${VERSION}`, kind: 'Policy' });
    }
    enqueueAll();
    // The kinds to watch follow the policy set; refresh() re-queues once new ones are listed.
    void kinds.refresh();
    void paramCaches.want(store.paramKinds()).then(() => enqueueAll());
  });
  const expiryTimers = new Map<string, Timer>();
  exceptions.on((ex, event) => {
    const id = `${ex.metadata.namespace ?? ''}/${ex.metadata.name ?? ''}`;
    if (event === 'delete') store.removeException(ex);
    else store.upsertException(ex);
    if (ex.spec?.policyName) enqueue(`${NATIVE_PREFIX}${ex.spec.policyName}`, 0);
    expiryTimers.get(id)?.cancel();
    expiryTimers.delete(id);
    // An exception stops counting the moment it expires, not at the next rescan.
    const left = Date.parse(ex.spec?.expiresAt ?? '') - clock.now();
    if (event !== 'delete' && left > 0 && left < rescanPeriodMs) expiryTimers.set(id, clock.setTimer(() => enqueueAll(), left + 1_000));
    enqueueAll();
  });
  namespaces.on((n) => {
    enqueue(`ns/${n.metadata?.name ?? ''}`);
    enqueue(CLUSTER_KEY);
  });
  for (const { watched } of audited) watched.on((o) => enqueue(scopeOf(o)));

  const informers = [namespaces, policies, exceptions, ...audited.map((a) => a.watched)];
  await Promise.all(informers.map((w) => w.start()));
  await kinds.refresh();
  await paramCaches.want(store.paramKinds());
  for (const ns of await writer.namespacesWithReports().catch(() => [] as string[])) if (inScope(ns)) knownScopes.add(`ns/${ns}`);

  const startWorking = () => {
    controller = new Controller(reconciler, {
      workers: options.workers ?? DEFAULT_WORKERS,
      clock,
      random,
      logger,
      onRetry: () => metrics.failures.inc({ controller: 'reports' }),
    });
    controller.start();
    enqueueAll();
    for (const p of policies.list()) enqueue(`${NATIVE_PREFIX}${p.metadata?.name ?? ''}`, 0);
  };
  const stopWorking = async () => {
    const current = controller;
    controller = undefined;
    await current?.stop();
  };

  let elector: LeaderElector | undefined;
  if (options.leaseNamespace) {
    elector = new LeaderElector({
      kubeConfig,
      namespace: options.leaseNamespace,
      name: options.leaseName ?? DEFAULT_LEASE_NAME,
      identity: options.identity ?? `reports-${process.pid}`,
      clock,
      logger,
      onStartedLeading: startWorking,
      onStoppedLeading: stopWorking,
    });
    elector.start();
  } else {
    startWorking();
  }
  let rescan = clock.setTimer(function tick() {
    enqueueAll();
    // Kinds that were not served or not permitted get another try.
    void kinds.refresh();
    rescan = clock.setTimer(tick, rescanPeriodMs);
  }, rescanPeriodMs);

  const idle = async (): Promise<void> => {
    // Debounced keys wait in the queue's delayed set; poll until nothing is left anywhere.
    for (let quiet = 0; quiet < 3; ) {
      await new Promise((r) => setTimeout(r, Math.max(50, debounceMs)));
      quiet = busy() ? 0 : quiet + 1;
    }
  };

  return {
    registry,
    audits: () => scopeAudits,
    selectedKinds: () => ({
      watched: Object.fromEntries(kinds.kinds().map((k) => [k.resource.resourceType, k.resource.apiVersion])),
      unavailable: Object.fromEntries(kinds.problems()),
    }),
    kindsSettled: () => kinds.refresh(),
    idle,
    scanAll: async () => {
      const started = Date.now();
      scanTotals = { scopes: 0, objects: 0, results: 0, written: 0, bytes: 0, unchanged: 0, deleted: 0, maxBytes: 0, ms: 0 };
      for (const s of allScopes()) if (!s.startsWith('ns/') || inScope(s.slice(3))) controller?.enqueue(s);
      controller?.enqueue(IMPACT_KEY);
      await idle();
      const totals = { ...scanTotals, ms: Date.now() - started };
      scanTotals = undefined;
      return totals;
    },
    stop: async () => {
      rescan.cancel();
      for (const t of expiryTimers.values()) t.cancel();
      if (elector) {
        await elector.halt();
        await stopWorking();
        await elector.release();
      } else {
        await stopWorking();
      }
      await Promise.all(informers.map((w) => w.stop()));
      await kinds.stop();
      await paramCaches.stop();
    },
  };
}
