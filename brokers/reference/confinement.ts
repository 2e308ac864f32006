// What a broker will do, whatever a request says (issue 10 item 4). A request is signed by
// the controllers, but a leaked dispatch key must still not reach outside the broker's
// target: the namespace comes from the broker's configuration and the DeploymentTarget,
// never from the message, and a rendered workload is never privileged or host-level.
//
// Pure checks here; broker.ts reads the DeploymentTarget, apply.ts the referenced Secrets.
import type { DeploymentRequest } from '../contract.js';
import { PlacementRefusedError } from '../errors.js';
import type { TargetRecord } from '../provisioner.js';

/** Namespaces no broker writes into, whatever it is configured with: the cluster's own. */
export const PROTECTED_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease'];

export interface PlacementConfig {
  /**
   * Namespaces this broker may write into: exact names, or a prefix ending in `*`
   * (`team-*`). Nothing else, ever; an empty list refuses every request.
   */
  namespaces: readonly string[];
  /** The platform's own namespace (kidp-system), refused like the protected ones. */
  platformNamespace?: string;
}

const OBJECT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Why a namespace is refused, or undefined when the broker may write there. */
export function namespaceRefusal(ns: string, config: PlacementConfig): string | undefined {
  if (PROTECTED_NAMESPACES.includes(ns)) return `namespace ${ns} belongs to the cluster itself`;
  if (config.platformNamespace !== undefined && ns === config.platformNamespace) return `namespace ${ns} is the platform's own`;
  const allowed = config.namespaces.some((p) => (p.endsWith('*') ? ns.startsWith(p.slice(0, -1)) : ns === p));
  if (!allowed) return `namespace ${ns} is not one this broker is configured for (${config.namespaces.join(', ') || 'none'})`;
  return undefined;
}

/** The DeploymentTarget as the broker reads it from the cluster (admitted, admin-written), not from the message. */
export type { TargetRecord } from '../provisioner.js';

/**
 * Where the request's objects go: the DeploymentTarget's namespace (else the resource's
 * own, as before), which must be one the broker is configured for. The request's own
 * `target` must agree with the DeploymentTarget: a mismatch means it was not written by
 * the controllers from that target. Returns the request with its placement made explicit,
 * so everything downstream reads the checked namespace.
 */
export function placeRequest(request: DeploymentRequest, target: TargetRecord | undefined, config: PlacementConfig): DeploymentRequest {
  const refuse = (detail: string) => new PlacementRefusedError(request.requestId, detail);
  // Names become object names, SQL identifiers and key prefixes downstream; the apiserver
  // never stores others, so a request carrying one was not written from a stored object.
  const { namespace, name } = request.resource;
  if (!NAMESPACE_NAME.test(namespace) || namespace.length > 63) throw refuse(`resource namespace ${JSON.stringify(namespace)} is not a Kubernetes namespace name`);
  if (!OBJECT_NAME.test(name) || name.length > 253) throw refuse(`resource name ${JSON.stringify(name)} is not a Kubernetes object name`);
  if (!target) throw refuse(`DeploymentTarget ${request.target.name} does not exist`);
  if (target.identity !== request.target.identity) {
    throw refuse(`DeploymentTarget ${target.name} is served by broker ${target.identity ?? 'none'}, not ${request.target.identity}`);
  }
  if (request.target.namespace !== undefined && request.target.namespace !== target.namespace) {
    throw refuse(`the request places into namespace ${request.target.namespace}, DeploymentTarget ${target.name} into ${target.namespace ?? "each resource's own"}`);
  }
  const ns = target.namespace ?? request.resource.namespace;
  const why = namespaceRefusal(ns, config);
  if (why) throw refuse(why);
  return { ...request, target: { ...request.target, namespace: ns } };
}

/** securityContext fields a rendered container may carry, with the values allowed. */
const SAFE_SECURITY_CONTEXT: Record<string, (v: unknown) => boolean> = {
  runAsNonRoot: (v) => typeof v === 'boolean',
  runAsUser: (v) => Number.isInteger(v) && (v as number) >= 0,
  runAsGroup: (v) => Number.isInteger(v) && (v as number) >= 0,
  readOnlyRootFilesystem: (v) => typeof v === 'boolean',
  privileged: (v) => v === false,
  allowPrivilegeEscalation: (v) => v === false,
};

const CONNECTION_SECRET_SUFFIX = '-connection';

export interface WorkloadCheck {
  /** Secrets env[].valueFrom names; each must be a connection Secret of this resource's namespace (apply.ts checks). */
  secretRefs: string[];
}

/**
 * Refuses (PlacementRefusedError) what a Service request may not render: a privileged or
 * escalating container, anything in securityContext beyond the safe fields (capabilities,
 * SELinux, seccomp, procMount...), and env[].valueFrom other than a secretKeyRef to a
 * `<name>-connection` Secret. Host namespaces, host paths and volumes are never rendered
 * at all (manifests.ts copies no such field from a request).
 */
export function checkWorkload(request: DeploymentRequest): WorkloadCheck {
  const refuse = (detail: string) => new PlacementRefusedError(request.requestId, detail);
  const spec = request.resource.spec;
  const secretRefs: string[] = [];
  if (request.resource.kind !== 'Service' || request.action !== 'deploy') return { secretRefs };
  const sc = spec['securityContext'];
  if (sc !== undefined) {
    if (typeof sc !== 'object' || sc === null || Array.isArray(sc)) throw refuse('spec.securityContext must be an object');
    for (const [key, value] of Object.entries(sc as Record<string, unknown>)) {
      const ok = SAFE_SECURITY_CONTEXT[key];
      if (!ok) throw refuse(`spec.securityContext.${key} is not rendered by this broker (allowed: ${Object.keys(SAFE_SECURITY_CONTEXT).join(', ')})`);
      if (!ok(value)) throw refuse(`spec.securityContext.${key}: ${JSON.stringify(value)} is not allowed (workloads are never privileged)`);
    }
  }
  const env = spec['env'];
  if (env !== undefined) {
    if (!Array.isArray(env)) throw refuse('spec.env must be a list');
    for (const [i, entry] of env.entries()) {
      if (typeof entry !== 'object' || entry === null) throw refuse(`spec.env[${i}] must be an object`);
      const { name, value, valueFrom, ...rest } = entry as Record<string, unknown>;
      if (typeof name !== 'string' || Object.keys(rest).length > 0) throw refuse(`spec.env[${i}] may hold only name, value and valueFrom`);
      if (value !== undefined && typeof value !== 'string') throw refuse(`spec.env[${i}].value must be a string`);
      if (valueFrom === undefined) continue;
      const ref = (valueFrom as { secretKeyRef?: { name?: unknown; key?: unknown } } | null)?.secretKeyRef;
      const keys = typeof valueFrom === 'object' && valueFrom !== null ? Object.keys(valueFrom) : [];
      if (!ref || keys.length !== 1 || typeof ref.name !== 'string' || typeof ref.key !== 'string' || Object.keys(ref).some((k) => k !== 'name' && k !== 'key')) {
        throw refuse(`spec.env[${i}] (${name}): valueFrom may only be a secretKeyRef {name, key} to the resource's own connection Secret`);
      }
      if (!ref.name.endsWith(CONNECTION_SECRET_SUFFIX)) throw refuse(`spec.env[${i}] (${name}): Secret ${ref.name} is not a connection Secret (<name>${CONNECTION_SECRET_SUFFIX})`);
      secretRefs.push(ref.name);
    }
  }
  const resources = spec['resources'];
  if (resources !== undefined) {
    if (typeof resources !== 'object' || resources === null || Object.keys(resources).some((k) => k !== 'limits' && k !== 'requests')) {
      throw refuse('spec.resources may hold only limits and requests');
    }
  }
  return { secretRefs };
}
