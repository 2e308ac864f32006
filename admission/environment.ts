// Environment binds to target (issue 11 item 3). A deployable resource's environment is
// its Application's: policies match on it (label `environment`), so a Service of a
// production Application that says `development` would dodge production policies. Its
// DeploymentTarget must serve that environment. And spec.target is immutable once the
// controllers dispatched the resource: cleanup deletes from status.target, so a changed
// target would leave the old deployment running (chosen over "clean up the old target
// first": one place deploys a resource at any time, and a move is delete + create).
import { allowed, denied, type Decision } from './decision.js';
import { DEPLOYABLE_KINDS, ENVIRONMENT_LABEL, desiredEnvironment } from './mutate.js';
import { GROUP, ownerOf, type OwnershipView } from './ownership.js';
import type { AdmissionRequest, KubeObject } from './review.js';

/** The environment a resource is in: its owning Application's; its own when a Team owns it. */
export function effectiveEnvironment(obj: KubeObject, namespace: string | undefined, view: OwnershipView): { environment: string; from?: string } {
  const owner = ownerOf(obj);
  if (owner?.kind === 'Application' && namespace) {
    const app = view.application(namespace, owner.name);
    if (app) return { environment: desiredEnvironment({ ...app, kind: 'Application' }, namespace, view), from: `Application ${owner.name}` };
  }
  return { environment: desiredEnvironment(obj, namespace, view) };
}

interface Problem {
  reason: 'EnvironmentMismatch' | 'TargetImmutable';
  message: string;
}

function deployableProblems(req: AdmissionRequest, object: KubeObject, view: OwnershipView): Problem[] {
  const namespace = req.namespace ?? object.metadata?.namespace;
  const { environment, from } = effectiveEnvironment(object, namespace, view);
  const problems: Problem[] = [];
  const mismatch = (message: string) => problems.push({ reason: 'EnvironmentMismatch', message });
  const own = object.spec?.environment;
  if (from && typeof own === 'string' && own && own !== environment) {
    mismatch(`spec.environment ${own} differs from the environment of its ${from} (${environment}); a resource's environment is its Application's: remove spec.environment or set it to ${environment}`);
  }
  const label = object.metadata?.labels?.[ENVIRONMENT_LABEL];
  if (label !== undefined && label !== environment) {
    mismatch(`label ${ENVIRONMENT_LABEL}=${label} differs from its environment ${environment}; remove the label or set it to ${environment}`);
  }
  const targetName = object.spec?.target;
  if (typeof targetName === 'string' && targetName) {
    const target = view.target(targetName);
    const serves = target?.spec?.environment;
    if (!target && view.authoritative) {
      mismatch(`spec.target ${targetName}: no such DeploymentTarget (or KIDP has not seen it yet); create it first or name an existing one`);
    } else if (target && serves !== environment) {
      mismatch(`spec.target ${targetName} serves environment ${String(serves)}, not ${environment}; name a DeploymentTarget of ${environment}, or leave spec.target empty for its default`);
    }
  }
  if (req.operation === 'UPDATE') {
    const dispatchedTo = (req.oldObject?.status as { target?: unknown } | undefined)?.target;
    const wanted = object.spec?.target;
    if (typeof dispatchedTo === 'string' && dispatchedTo && wanted !== dispatchedTo && !(wanted === undefined && req.oldObject?.spec?.target === undefined)) {
      problems.push({
        reason: 'TargetImmutable',
        message: `spec.target is immutable once dispatched (deployed to ${dispatchedTo}, now ${typeof wanted === 'string' ? wanted : '(none)'}); to move it, delete it and create it again`,
      });
    }
  }
  return problems;
}

export function validateEnvironment(req: AdmissionRequest, view: OwnershipView): Decision {
  if (req.kind.group !== GROUP || (req.operation !== 'CREATE' && req.operation !== 'UPDATE') || !req.object) return allowed();
  const object = req.object;
  // On its way out an object only sheds finalizers.
  if (object.metadata?.deletionTimestamp) return allowed();
  const kind = req.kind.kind;
  const name = object.metadata?.name ?? req.name ?? '';
  if (kind === 'Application' && req.operation === 'UPDATE') {
    const before = req.oldObject?.spec?.environment;
    const after = object.spec?.environment;
    const owned = view.ownedBy({ kind: 'Application', name, namespace: req.namespace });
    if (before !== after && owned.length > 0) {
      return denied(
        'EnvironmentImmutable',
        `Application ${name}: spec.environment cannot change (was ${String(before)}, now ${String(after)}) while it owns ${owned.length} resource${owned.length === 1 ? '' : 's'}: they were admitted for ${String(before)}; create a new Application for ${String(after)}`,
      );
    }
    return allowed();
  }
  if (!DEPLOYABLE_KINDS.includes(kind)) return allowed();
  const problems = deployableProblems(req, object, view);
  const first = problems[0];
  return first ? denied(first.reason, `${kind} ${name}: ${problems.map((p) => p.message).join('; ')}`) : allowed();
}
