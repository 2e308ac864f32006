// Public API of controllers/: `runControllers` starts the informers, campaigns for the
// Lease and, while leading, runs one controller per kind (Team, Application, Service,
// Database, Cache, Topic). `kidp controllers run` and `make up` call it.
import { hostname } from 'node:os';
import { CoreV1Api, CustomObjectsApi, KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import pino, { type Logger } from 'pino';
import { Registry } from 'prom-client';
import type { BrokerReport, Dispatcher } from '../brokers/index.js';
import type { Application, DeploymentTarget, Team } from '../crds/types.js';
import { HTTP_FORBIDDEN, loadKubeConfig, systemClock, Watched, type Clock } from '../kube/index.js';
import type { Action } from './actions.js';
import { reconcileApplication } from './application.js';
import { Applier } from './apply.js';
import { DEPLOYABLE_KINDS, DEPLOYABLE_PLURALS, kindInfo, PLATFORM_GROUP, PLATFORM_VERSION, type DeployableKind } from '../crds/registry.js';
import { reconcileDeployable, type Deployable } from './deployable.js';
import { ApiError, InvalidOptionsError, type TerminalError } from './errors.js';
import { LeaderElector } from './lease.js';
import { LocalReports, type LocalReport } from './local-reports.js';
import { appliedReconciler, Controller, type KindController } from './manager.js';
import { ControllerMetrics, type ReconcileResult } from './metrics.js';
import { clusterRoles } from './rbac.js';
import { reconcileTeam, teamFailed, TEAM_LABEL, type ObservedNamespace } from './team.js';
import { costChanged, reconcileTeamCost, teamResources } from './team-cost.js';

export { Controller, type Reconciler, type ReconcileOutcome, type ControllerOptions } from './manager.js';
export { LeaderElector, type LeaderElectorOptions } from './lease.js';
export { WorkQueue } from './queue.js';
export { LEASE_DURATION_MS, RENEW_DEADLINE_MS, RETRY_PERIOD_MS } from './lease.js';
export { CLEANUP_FINALIZER, requestIdFor } from './deployable.js';
export { TEAM_DEVELOPER_ROLE, PLATFORM_ADMIN_ROLE } from './rbac.js';

/**
 * Workers per kind: reconciles wait on the apiserver and on Kafka acks (which coalesce), so
 * a burst needs many in flight; a worker is only an async loop. bench:reconcile, 500
 * Services at once: 8 workers queued a Service 3.3 s (p50) before its dispatch, 32 workers
 * 0.3 s; 16 keeps the controller ahead of the broker, the slower stage, without flooding
 * the apiserver with writes the broker then competes with.
 */
export const DEFAULT_WORKERS = 16;
/** After a dispatch, how long without a broker status event before phase Unknown: well above a healthy broker's seconds. */
export const DEFAULT_STATUS_TIMEOUT_MS = 120_000;
/** Every key is reconciled again this often, so drift (a deleted RoleBinding) heals without an event. */
export const DEFAULT_RESYNC_PERIOD_MS = 10 * 60_000;
export const DEFAULT_LEASE_NAME = 'kidp-controllers';
/**
 * An Application is recounted at most this often while its resources change: a burst of
 * 500 Services then costs a handful of Application status writes, not 1000; counts lag by
 * at most this much.
 */
export const APPLICATION_RECOUNT_DELAY_MS = 1_000;
/**
 * A Team's cost is recomputed at most this often while its resources' usage changes: the
 * brokers report usage per resource (hourly, brokers/usage.ts), and many reports in a burst
 * cost one Team status write.
 */
export const TEAM_RECOST_DELAY_MS = 2_000;
/** The queue of Team cost, beside the Team's own: it writes only status.cost, and never re-applies the Team's namespaces for a usage report. */
const TEAM_COST = 'TeamCost';

const GROUP = PLATFORM_GROUP;
const VERSION = PLATFORM_VERSION;
type DeployableKindName = DeployableKind;

export interface RunControllersOptions {
  /** Path of a kubeconfig; default: KUBECONFIG, then in-cluster. Ignored when kubeConfig is given. */
  kubeconfig?: string;
  kubeConfig?: KubeConfig;
  /** The brokers' dispatcher (brokers/index.ts createDispatcher). Not closed by stop(). */
  dispatcher: Dispatcher;
  /** This replica's name in the Lease (pod name in a cluster). */
  identity: string;
  leaseNamespace: string;
  leaseName?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Workers per kind. */
  workers?: number;
  statusTimeoutMs?: number;
  resyncPeriodMs?: number;
  logger?: Logger;
  /** Where the metrics are registered; a new Registry by default (serve it with registry.metrics()). */
  registry?: Registry;
  clock?: Clock;
  random?: () => number;
}

export interface RunningControllers {
  isLeader(): boolean;
  registry: Registry;
  /** Graceful: stop campaigning, finish the keys in flight, release the Lease, stop the informers. */
  stop(): Promise<void>;
  /**
   * Hands a verified, deduplicated broker report to this replica's reconciler
   * (local-reports.ts): true once its fold is written to status; false when this replica
   * does not lead or the reconciler did not take and write it, and the caller records it.
   */
  foldLocally(ref: { kind: DeployableKind; namespace: string; name: string }, report: BrokerReport): Promise<boolean>;
}

function keyOf(obj: { metadata?: { name?: string; namespace?: string } }): string {
  const { name = '', namespace } = obj.metadata ?? {};
  return namespace ? `${namespace}/${name}` : name;
}

function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export async function runControllers(options: RunControllersOptions): Promise<RunningControllers> {
  if (!options.identity) throw new InvalidOptionsError('runControllers: identity is required (the replica name in the Lease), for example the pod name');
  if (!options.leaseNamespace) throw new InvalidOptionsError('runControllers: leaseNamespace is required (where the kidp-controllers Lease lives)');
  const kubeConfig = loadKubeConfig(options);
  const logger = (options.logger ?? pino({ name: 'kidp-controllers' })).child({ identity: options.identity });
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const statusTimeoutMs = options.statusTimeoutMs ?? DEFAULT_STATUS_TIMEOUT_MS;
  const registry = options.registry ?? new Registry();
  const now = () => new Date(clock.now());

  const core = kubeConfig.makeApiClient(CoreV1Api);
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const watch = <T,>(name: string, path: string, list: () => Promise<unknown>) =>
    new Watched<T>({ name, kubeConfig, path, list: list as () => Promise<KubernetesListObject<KubernetesObject>>, clock, random, logger });
  const crd = <T,>(plural: string) =>
    watch<T>(plural, `/apis/${GROUP}/${VERSION}/${plural}`, () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural }));

  const namespaces = watch<KubernetesObject>('namespaces', '/api/v1/namespaces', () => core.listNamespace());
  const teams = crd<Team>(kindInfo('Team').plural);
  const applications = crd<Application>(kindInfo('Application').plural);
  const targets = crd<DeploymentTarget>(kindInfo('DeploymentTarget').plural);
  const deployables = Object.fromEntries(DEPLOYABLE_KINDS.map((k) => [k, crd<Deployable>(DEPLOYABLE_PLURALS[k])])) as Record<DeployableKindName, Watched<Deployable>>;
  const allDeployables = (): Deployable[] => DEPLOYABLE_KINDS.flatMap((k) => deployables[k].list().map((o) => ({ ...o, kind: k }) as Deployable));

  const metrics = new ControllerMetrics(registry, () => {
    const counts = new Map<string, { type: string; status: string; count: number }>();
    const add = (type: string, objs: ReadonlyArray<{ status?: { phase?: string } }>) => {
      for (const o of objs) {
        const status = o.status?.phase ?? 'None';
        const c = counts.get(`${type}/${status}`) ?? { type, status, count: 0 };
        c.count += 1;
        counts.set(`${type}/${status}`, c);
      }
    };
    add('Team', teams.list());
    add('Application', applications.list());
    for (const k of DEPLOYABLE_KINDS) add(k, deployables[k].list());
    return [...counts.values()];
  });
  const applier = new Applier({ kubeConfig, dispatcher: options.dispatcher, logger, now, instance: options.identity });

  const none = (): Action[] => [];
  // Reports offered by this process's status handler, and those a reconcile has taken and
  // settles once its actions are applied (one reconcile per key at a time: queue.ts).
  const localReports = new LocalReports(clock);
  const taken = new Map<string, LocalReport[]>();
  const kinds: KindController[] = [
    {
      kind: 'Team',
      keys: () => teams.list().map(keyOf),
      compute: (key) => {
        const team = teams.get(key);
        if (!team) return undefined;
        const wanted = new Set(team.spec.namespaces ?? []);
        const observed: ObservedNamespace[] = namespaces
          .list()
          .filter((n) => wanted.has(n.metadata?.name ?? '') || n.metadata?.labels?.[TEAM_LABEL] === key)
          .map((n) => ({ name: n.metadata?.name ?? '', labels: n.metadata?.labels ?? {} }));
        return reconcileTeam({ team: { ...team, kind: 'Team' }, namespaces: observed, now: now() });
      },
      terminal: (key: string, err: TerminalError) => {
        const team = teams.get(key);
        return team ? teamFailed({ ...team, kind: 'Team' }, err.reason === 'Invalid' ? 'ApplyRejected' : err.reason, err.message, now()) : [];
      },
    },
    {
      kind: TEAM_COST,
      keys: () => teams.list().map(keyOf),
      compute: (key) => {
        const team = teams.get(key);
        if (!team) return undefined;
        const namespaceLabels = new Map(namespaces.list().map((n) => [n.metadata?.name ?? '', n.metadata?.labels ?? {}]));
        return reconcileTeamCost({ team: { ...team, kind: 'Team' }, resources: allDeployables(), namespaceLabels, now: now() });
      },
      terminal: none,
    },
    {
      kind: 'Application',
      keys: () => applications.list().map(keyOf),
      compute: (key) => {
        const { namespace, name } = splitKey(key);
        const application = applications.get(name, namespace);
        if (!application) return undefined;
        const resources = allDeployables().filter((r) => r.metadata.namespace === namespace);
        return reconcileApplication({ application: { ...application, kind: 'Application' }, resources, now: now() });
      },
      terminal: none,
    },
    ...DEPLOYABLE_KINDS.map(
      (kind): KindController => ({
        kind,
        keys: () => deployables[kind].list().map(keyOf),
        compute: (key) => {
          const offered = localReports.take(`${kind}/${key}`);
          if (offered.length > 0) taken.set(key, offered);
          const { namespace, name } = splitKey(key);
          const object = deployables[kind].get(name, namespace);
          if (!object) return undefined;
          // A Service's connection refs come from the Databases beside it (broker-reports.ts).
          const databases = kind === 'Service' ? deployables.Database.list().filter((d) => d.metadata.namespace === namespace).map((d) => ({ ...d, kind: 'Database' }) as Deployable) : [];
          const pendingReports = offered.map((o) => o.report);
          return reconcileDeployable({ object: { ...object, kind } as Deployable, targets: targets.list(), now: now(), statusTimeoutMs, databases, ...(pendingReports.length > 0 ? { pendingReports } : {}) });
        },
        settle: (key, applied) => {
          const offered = taken.get(key);
          if (!offered) return;
          taken.delete(key);
          for (const o of offered) o.settle(applied);
        },
        terminal: none,
      }),
    ),
  ];

  // Controllers exist only while this replica leads; informers run always (a warm standby).
  let running: Map<string, Controller> | undefined;
  const enqueue = (kind: string, key: string) => running?.get(kind)?.enqueue(key);
  const enqueueAfter = (kind: string, key: string, ms: number) => running?.get(kind)?.enqueueAfter(key, ms);
  const enqueueAll = () => {
    for (const k of kinds) for (const key of k.keys()) enqueue(k.kind, key);
  };

  teams.on((t) => {
    enqueue('Team', keyOf(t));
    enqueue(TEAM_COST, keyOf(t));
  });
  namespaces.on((n) => {
    const name = n.metadata?.name ?? '';
    const owner = n.metadata?.labels?.[TEAM_LABEL];
    if (owner) enqueue('Team', owner);
    // A namespace's cost-center label charges its resources there (team-cost.ts).
    if (owner) enqueueAfter(TEAM_COST, owner, TEAM_RECOST_DELAY_MS);
    for (const t of teams.list()) if (t.spec.namespaces?.includes(name)) enqueue('Team', keyOf(t));
  });
  applications.on((a) => enqueue('Application', keyOf(a)));
  for (const kind of DEPLOYABLE_KINDS) {
    deployables[kind].on((o, event) => {
      enqueue(kind, keyOf(o));
      // Only a change of the figures its Team shows (or the resource going) recosts the Team.
      const resource = { ...o, kind } as Deployable;
      for (const team of teams.list()) {
        if (teamResources(team, [resource]).length === 0) continue;
        const shown = team.status?.cost?.resources.some((r) => r.kind === kind && r.namespace === o.metadata.namespace && r.name === o.metadata.name);
        if (event === 'delete' ? shown : costChanged(team, resource)) enqueueAfter(TEAM_COST, keyOf(team), TEAM_RECOST_DELAY_MS);
      }
      if (o.spec?.owner?.kind === 'Application') enqueueAfter('Application', `${o.metadata.namespace}/${o.spec.owner.name}`, APPLICATION_RECOUNT_DELAY_MS);
      // A Database that becomes Ready, changes its secret or goes changes the refs of the Services selecting it.
      if (kind === 'Database') {
        for (const s of deployables.Service.list()) if (s.metadata.namespace === o.metadata.namespace && (s.spec as { dependencies?: { databaseSelector?: unknown } } | undefined)?.dependencies?.databaseSelector) enqueue('Service', keyOf(s));
      }
    });
  }
  // A target that appears, changes or goes can unblock or move any deployable.
  targets.on(() => {
    for (const kind of DEPLOYABLE_KINDS) for (const o of deployables[kind].list()) enqueue(kind, keyOf(o));
  });

  const workers = options.workers ?? DEFAULT_WORKERS;
  const startLeading = async () => {
    for (const role of clusterRoles()) {
      await applier.apply([{ type: 'apply', object: role }], logger).catch((err: unknown) => {
        // deploy/ ships these roles (team-roles.yaml) and gives the controllers no ClusterRole
        // write, so they need no `escalate` (issue 10 item 6): there a 403 is the expected answer.
        if (err instanceof ApiError && err.status === HTTP_FORBIDDEN) logger.info({ role: role.metadata.name }, 'ClusterRole not writable by the controllers; expecting it from the installation (deploy/team-roles.yaml)');
        else logger.error({ err: String(err), role: role.metadata.name }, 'could not apply ClusterRole');
      });
    }
    const observe = (kind: string, result: ReconcileResult, seconds: number) => metrics.reconcileDuration.observe({ kind, result }, seconds);
    running = new Map(kinds.map((k) => [k.kind, new Controller(appliedReconciler(k, applier), { workers, clock, random, logger, observe })]));
    for (const c of running.values()) c.start();
    enqueueAll();
  };
  const stopLeading = async () => {
    const current = running;
    running = undefined;
    localReports.releaseAll();
    if (current) await Promise.all([...current.values()].map((c) => c.stop()));
  };

  await Promise.all([namespaces, teams, applications, targets, ...Object.values(deployables)].map((w) => w.start()));
  logger.info('informer caches synced');

  const elector = new LeaderElector({
    kubeConfig,
    namespace: options.leaseNamespace,
    name: options.leaseName ?? DEFAULT_LEASE_NAME,
    identity: options.identity,
    ...(options.leaseDurationMs !== undefined ? { leaseDurationMs: options.leaseDurationMs } : {}),
    ...(options.renewDeadlineMs !== undefined ? { renewDeadlineMs: options.renewDeadlineMs } : {}),
    ...(options.retryPeriodMs !== undefined ? { retryPeriodMs: options.retryPeriodMs } : {}),
    clock,
    logger,
    onStartedLeading: startLeading,
    onStoppedLeading: stopLeading,
  });
  elector.start();

  const resyncPeriodMs = options.resyncPeriodMs ?? DEFAULT_RESYNC_PERIOD_MS;
  let resync = clock.setTimer(function tick() {
    enqueueAll();
    resync = clock.setTimer(tick, resyncPeriodMs);
  }, resyncPeriodMs);

  let stopping: Promise<void> | undefined;
  return {
    isLeader: () => elector.isLeader() && running !== undefined,
    registry,
    foldLocally: (ref, report) =>
      localReports.offer(`${ref.kind}/${ref.namespace}/${ref.name}`, report, () => {
        const controller = running?.get(ref.kind);
        if (!controller || stopping !== undefined) return false;
        controller.enqueue(`${ref.namespace}/${ref.name}`);
        return true;
      }),
    stop: () =>
      (stopping ??= (async () => {
        resync.cancel();
        await elector.halt();
        await stopLeading();
        await applier.flush();
        await elector.release();
        await Promise.all([namespaces, teams, applications, targets, ...Object.values(deployables)].map((w) => w.stop()));
        logger.info('controllers stopped');
      })()),
  };
}

/** The default identity of a replica: host name and pid, unique per process on a machine. */
export function defaultIdentity(): string {
  return `${hostname()}-${process.pid}`;
}
