// The Application reconciler (issue 5 item 2): Ready when everything it owns is Ready,
// with counts. Pure: (application, the deployables in its namespace) → actions.
import type { Application } from '../crds/types.js';
import type { Action, ObjectRef } from './actions.js';
import { sameJson, setCondition, type Condition } from '../kube/index.js';
import { kindInfo } from '../crds/registry.js';
import type { Deployable } from './deployable.js';

export interface ApplicationInput {
  application: Application;
  /** Deployables of the application's namespace; those it owns are picked here. */
  resources: readonly Deployable[];
  now: Date;
}

export function ownedBy(application: Application, resources: readonly Deployable[]): Deployable[] {
  const name = application.metadata.name;
  return resources.filter((r) => r.metadata.namespace === application.metadata.namespace && r.spec.owner.kind === 'Application' && r.spec.owner.name === name);
}

function appRef(app: Application): ObjectRef {
  const { apiVersion, kind, plural } = kindInfo('Application');
  return { apiVersion, kind, plural, namespace: app.metadata.namespace ?? '', name: app.metadata.name ?? '', uid: app.metadata.uid ?? '' };
}

export function reconcileApplication(input: ApplicationInput): Action[] {
  const { application: app, now } = input;
  const owned = ownedBy(app, input.resources).sort((a, b) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`));
  const ready = owned.filter((r) => r.status?.phase === 'Ready');
  const failed = owned.filter((r) => r.status?.phase === 'Failed');
  const total = owned.length;
  const names = (rs: Deployable[]) => rs.map((r) => `${r.kind} ${r.metadata.name}`).join(', ');
  const generation = app.metadata.generation ?? 1;
  let phase: 'Ready' | 'Failed' | 'Pending';
  let condition: Omit<Condition, 'lastTransitionTime'>;
  if (failed.length > 0) {
    phase = 'Failed';
    condition = { type: 'Ready', status: 'False', observedGeneration: generation, reason: 'ResourcesFailed', message: `${failed.length} of ${total} failed: ${names(failed)}` };
  } else if (ready.length < total) {
    phase = 'Pending';
    const waiting = owned.filter((r) => r.status?.phase !== 'Ready');
    condition = { type: 'Ready', status: 'False', observedGeneration: generation, reason: 'ResourcesNotReady', message: `${ready.length} of ${total} ready; waiting for ${names(waiting)}` };
  } else {
    phase = 'Ready';
    condition = { type: 'Ready', status: 'True', observedGeneration: generation, reason: 'AllResourcesReady', message: total === 0 ? 'owns no resources yet' : `all ${total} resources ready` };
  }
  const old = app.status ?? {};
  const next = { ...old, phase, observedGeneration: generation, resources: { total, ready: ready.length, failed: failed.length }, conditions: setCondition(old.conditions as Condition[] | undefined, condition, now) };
  const actions: Action[] = [];
  if (!sameJson(old, next)) actions.push({ type: 'status', ref: appRef(app), resourceVersion: app.metadata.resourceVersion ?? '', status: next });
  if (old.phase !== phase) actions.push({ type: 'event', ref: appRef(app), eventType: phase === 'Failed' ? 'Warning' : 'Normal', reason: phase, message: `phase ${old.phase ?? 'none'} -> ${phase}: ${condition.message}` });
  return actions;
}
