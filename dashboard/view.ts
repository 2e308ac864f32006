// The portal's one view of the cluster: list+watch caches (kube/ Watched) of the KIDP kinds it
// shows, the PolicyReports and ClusterPolicyReports, and core/v1 Events, read with the
// portal's own ServiceAccount (get/list/watch only). Pages are served from here and filtered
// per user (access.ts), so a page costs no apiserver list however many readers there are.
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { getJson, systemClock, Watched, type Clock } from '../kube/index.js';
import { kindInfo, type KindName } from '../crds/registry.js';
import { PORTAL_KINDS, type EventObject, type PortalKind, type PortalObject, type ReportObject, type Snapshot } from './portal-model.js';

export interface PortalViewOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  clock?: Clock;
  random?: () => number;
}

const pathOf = (kind: KindName) => `/apis/${kindInfo(kind).group}/${kindInfo(kind).version}/${kindInfo(kind).plural}`;
const EVENTS_PATH = '/api/v1/events';

export class PortalView {
  private readonly kinds = new Map<PortalKind, Watched<PortalObject>>();
  private readonly reports: Watched<ReportObject>;
  private readonly clusterReports: Watched<ReportObject>;
  private readonly events: Watched<EventObject>;

  constructor(options: PortalViewOptions) {
    const watched = <T>(name: string, path: string) =>
      new Watched<T>({
        name: `portal ${name}`,
        kubeConfig: options.kubeConfig,
        path,
        clock: options.clock ?? systemClock,
        random: options.random ?? Math.random,
        logger: options.logger,
        list: () => getJson<KubernetesListObject<KubernetesObject>>(options.kubeConfig, path),
      });
    for (const kind of PORTAL_KINDS) this.kinds.set(kind, watched<PortalObject>(kind, pathOf(kind)));
    this.reports = watched('PolicyReport', pathOf('PolicyReport'));
    this.clusterReports = watched('ClusterPolicyReport', pathOf('ClusterPolicyReport'));
    this.events = watched('Event', EVENTS_PATH);
  }

  private all(): Watched<unknown>[] {
    return [...this.kinds.values(), this.reports, this.clusterReports, this.events] as Watched<unknown>[];
  }

  /** Resolves once every cache holds its first list. */
  async start(): Promise<void> {
    await Promise.all(this.all().map((w) => w.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.all().map((w) => w.stop()));
  }

  snapshot(): Snapshot {
    const objects = Object.fromEntries(PORTAL_KINDS.map((k) => [k, this.kinds.get(k)!.list()])) as Record<PortalKind, readonly PortalObject[]>;
    return { objects, reports: this.reports.list(), clusterReports: this.clusterReports.list(), events: this.events.list() };
  }
}
