// What the deployable reconciler does with recorded broker reports, alone: e2e tests that
// run the brokers and the status service without the whole controllers process use it so
// that a recorded report still becomes status (controllers/ reconcileReports: the one
// writer of computed status, issue 13 item 3), through real informers, queue and applier.
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Dispatcher } from '../brokers/index.js';
import { Controller } from '../controllers/index.js';
import { Applier } from '../controllers/apply.js';
import { reconcileReports, type Deployable } from '../controllers/deployable.js';
import { appliedReconciler } from '../controllers/manager.js';
import { DEPLOYABLE_KINDS, DEPLOYABLE_PLURALS } from '../crds/registry.js';
import { Watched, systemClock } from '../kube/index.js';

export async function startReportFolding(options: { kubeConfig: KubeConfig; dispatcher: Dispatcher; logger: Logger; instance: string }): Promise<{ stop(): Promise<void> }> {
  const { kubeConfig, dispatcher, logger } = options;
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const informers = Object.fromEntries(
    DEPLOYABLE_KINDS.map((kind) => {
      const plural = DEPLOYABLE_PLURALS[kind];
      return [kind, new Watched<Deployable>({ name: plural, kubeConfig, path: `/apis/platform.kidp.io/v1alpha1/${plural}`, list: () => custom.listClusterCustomObject({ group: 'platform.kidp.io', version: 'v1alpha1', plural }) as never, clock: systemClock, random: Math.random, logger })];
    }),
  ) as Record<(typeof DEPLOYABLE_KINDS)[number], Watched<Deployable>>;
  const applier = new Applier({ kubeConfig, dispatcher, logger, instance: options.instance });
  const controllers = new Map(
    DEPLOYABLE_KINDS.map((kind) => {
      const compute = (key: string) => {
        const [namespace, name] = key.split('/') as [string, string];
        const object = informers[kind].get(name, namespace);
        if (!object) return undefined;
        const databases = kind === 'Service' ? informers.Database.list().map((d) => ({ ...d, kind: 'Database' }) as Deployable) : [];
        return reconcileReports({ object: { ...object, kind } as Deployable, databases, now: new Date() }).actions;
      };
      const reconciler = appliedReconciler({ kind, compute, terminal: () => [], keys: () => informers[kind].list().map((o) => `${o.metadata.namespace}/${o.metadata.name}`) }, applier);
      return [kind, new Controller(reconciler, { workers: 4, clock: systemClock, random: Math.random, logger })];
    }),
  );
  for (const kind of DEPLOYABLE_KINDS) {
    informers[kind].on((o) => {
      controllers.get(kind)?.enqueue(`${o.metadata.namespace}/${o.metadata.name}`);
      if (kind === 'Database') for (const s of informers.Service.list()) if (s.metadata.namespace === o.metadata.namespace) controllers.get('Service')?.enqueue(`${s.metadata.namespace}/${s.metadata.name}`);
    });
  }
  await Promise.all(Object.values(informers).map((w) => w.start()));
  for (const c of controllers.values()) c.start();
  return {
    async stop() {
      await Promise.all([...controllers.values()].map((c) => c.stop()));
      await applier.flush();
      await Promise.all(Object.values(informers).map((w) => w.stop()));
    },
  };
}
