// Writes report objects to the apiserver: create what is missing, replace what changed
// (by digest, with the resourceVersion read, so a concurrent writer gets a 409 and the
// scope is retried), delete shards no longer wanted. Counts bytes and objects written.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { DIGEST_ANNOTATION, REPORT_LABEL, type ReportObject } from './shard.js';
import { inParallel } from './parallel.js';
import { kindInfo, REPORTS_GROUP, REPORTS_VERSION } from '../crds/registry.js';
import { apiStatusOf, getJson } from '../kube/index.js';

/** Report objects written at once: each is up to ~500 KB, so fewer than status writes. */
const REPORT_WRITE_CONCURRENCY = 4;

const GROUP = REPORTS_GROUP;
const VERSION = REPORTS_VERSION;
const POLICY_REPORTS = kindInfo('PolicyReport').plural;
const CLUSTER_POLICY_REPORTS = kindInfo('ClusterPolicyReport').plural;
const POLICIES = kindInfo('Policy');

export interface WriteStats {
  written: number;
  bytes: number;
  unchanged: number;
  deleted: number;
  /** Largest object written, in bytes of JSON. */
  maxBytes: number;
}

interface Listed {
  metadata: { name: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
}

/** The apiserver returns labels in its own key order: compare as sets of pairs. */
function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

const isStatus = (err: unknown, code: number) => apiStatusOf(err) === code;

/**
 * Lists of report objects ask for their metadata only: the digest and labels are all a sync
 * compares, and the full objects of one namespace are megabytes (14 MiB at 1,000 resources x
 * 20 policies) to send, parse and hold.
 */
const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';

export class ReportWriter {
  private readonly api: CustomObjectsApi;

  constructor(private readonly kubeConfig: KubeConfig) {
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  private plural(namespace: string | undefined): string {
    return namespace === undefined ? CLUSTER_POLICY_REPORTS : POLICY_REPORTS;
  }

  /** KIDP's audit reports in a scope (namespace, or undefined for the cluster-scoped ones). */
  async list(namespace: string | undefined): Promise<Listed[]> {
    const selector = `labelSelector=${encodeURIComponent(`${REPORT_LABEL}=audit`)}`;
    const path = namespace === undefined ? `/apis/${GROUP}/${VERSION}/${CLUSTER_POLICY_REPORTS}?${selector}` : `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(namespace)}/${POLICY_REPORTS}?${selector}`;
    const list = await getJson<{ items?: Listed[] | null }>(this.kubeConfig, path, METADATA_LIST);
    return list.items ?? [];
  }

  /** Namespaces that hold KIDP audit PolicyReports (to clean up scopes gone while not running). */
  async namespacesWithReports(): Promise<string[]> {
    const list = await getJson<{ items?: { metadata: { namespace?: string } }[] | null }>(this.kubeConfig, `/apis/${GROUP}/${VERSION}/${POLICY_REPORTS}?labelSelector=${encodeURIComponent(`${REPORT_LABEL}=audit`)}`, METADATA_LIST);
    return [...new Set((list.items ?? []).map((i) => i.metadata.namespace ?? ''))].filter(Boolean);
  }

  async sync(namespace: string | undefined, desired: readonly ReportObject[]): Promise<WriteStats> {
    const stats: WriteStats = { written: 0, bytes: 0, unchanged: 0, deleted: 0, maxBytes: 0 };
    const existing = new Map((await this.list(namespace)).map((o) => [o.metadata.name, o]));
    const plural = this.plural(namespace);
    const writes: { report: ReportObject; current: Listed | undefined }[] = [];
    for (const report of desired) {
      const current = existing.get(report.metadata.name);
      existing.delete(report.metadata.name);
      if (current && current.metadata.annotations?.[DIGEST_ANNOTATION] === report.metadata.annotations[DIGEST_ANNOTATION] && sameLabels(current.metadata.labels ?? {}, report.metadata.labels)) {
        stats.unchanged += 1;
        continue;
      }
      writes.push({ report, current });
    }
    await inParallel(writes, REPORT_WRITE_CONCURRENCY, async ({ report, current }) => {
      const body = current ? { ...report, metadata: { ...report.metadata, resourceVersion: current.metadata.resourceVersion } } : report;
      const bytes = Buffer.byteLength(JSON.stringify(body));
      const name = report.metadata.name;
      if (current) {
        if (namespace === undefined) await this.api.replaceClusterCustomObject({ group: GROUP, version: VERSION, plural, name, body });
        else await this.api.replaceNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name, body });
      } else if (namespace === undefined) {
        await this.api.createClusterCustomObject({ group: GROUP, version: VERSION, plural, body });
      } else {
        await this.api.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, body });
      }
      stats.written += 1;
      stats.bytes += bytes;
      stats.maxBytes = Math.max(stats.maxBytes, bytes);
    });
    for (const stale of existing.keys()) {
      try {
        if (namespace === undefined) await this.api.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural, name: stale });
        else await this.api.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name: stale });
        stats.deleted += 1;
      } catch (err) {
        if (!isStatus(err, 404)) throw err;
      }
    }
    return stats;
  }

  /** Policy status.impact by merge patch on the status subresource: nothing else in status is touched. */
  async writeImpact(policy: string, impact: unknown): Promise<void> {
    await this.api.patchClusterCustomObjectStatus(
      { group: POLICIES.group, version: POLICIES.version, plural: POLICIES.plural, name: policy, body: { status: { impact } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  /**
   * Policy status.warnings (compile warnings, as VAP's status.typeChecking) by merge patch;
   * none removes the field.
   */
  async writeWarnings(policy: string, warnings: readonly { where: string; warning: string }[]): Promise<void> {
    await this.api.patchClusterCustomObjectStatus(
      { group: POLICIES.group, version: POLICIES.version, plural: POLICIES.plural, name: policy, body: { status: { warnings: warnings.length > 0 ? warnings : null } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  /** One condition by server-side apply on status, as field manager `fieldManager`. */
  async applyCondition(ref: { apiVersion: string; kind: string; plural: string; namespace: string; name: string }, condition: unknown, fieldManager: string): Promise<void> {
    const [group, version] = ref.apiVersion.split('/') as [string, string];
    try {
      await this.api.patchNamespacedCustomObjectStatus(
        { group, version, namespace: ref.namespace, plural: ref.plural, name: ref.name, fieldManager, force: true, body: { apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, namespace: ref.namespace }, status: { conditions: [condition] } } },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      );
    } catch (err) {
      // Deleted since the scan: nothing to report on.
      if (!isStatus(err, 404)) throw err;
    }
  }
}
