// Applies and removes what manifests.ts describes, in a target cluster. Server-side apply
// with one field manager makes a re-delivered request a no-op (same fields, same values),
// and the connection Secret's password is generated once and then read back, never regenerated.
//
// "Ready" here means every object was applied and the apiserver answered the apply with the
// object as stored (its uid and resourceVersion: the read-back, without a second GET). The
// test cluster has no nodes and no controller manager, so Pods never run and a Deployment
// never reports available replicas; a broker for a real cluster would also wait for rollout.
//
// One request's objects are read and applied in parallel: they do not depend on each other
// at the apiserver, and the broker handles many requests at once, so each round trip saved
// is apiserver time saved.
import { randomBytes } from 'node:crypto';
import { ApiException, CoreV1Api, KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject, type V1Secret } from '@kubernetes/client-node';
import { keepConnectionsAlive } from '../../kube/connections.js';
import type { DeploymentRequest } from '../contract.js';
import { DeployFailedError } from '../errors.js';
import { ANNOTATION_REQUEST_ID, ANNOTATION_RESOURCE_UID, ANNOTATION_SOURCE, FIELD_MANAGER, connectionSecretName, desiredObjects, resourceMeta, targetNamespace, type K8sObject } from './manifests.js';
import { PlacementRefusedError } from '../errors.js';

/** 24 random bytes, base64url: 192 bits, no characters that need quoting in a URI. */
const PASSWORD_BYTES = 24;

export interface ApplyOutcome {
  phase: 'Ready' | 'Deleted';
  reason: string;
  message: string;
  outputs?: { connectionSecretRef?: { name: string; namespace: string } };
}

function decodeSecret(secret: V1Secret): Record<string, string> {
  return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

function code(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

/** 4xx other than conflicts/throttling will fail the same way again. */
function failed(request: DeploymentRequest, what: string, err: unknown): DeployFailedError {
  const status = code(err);
  const permanent = status !== undefined && status >= 400 && status < 500 && status !== 409 && status !== 429;
  const body = err instanceof ApiException ? (err.body as { message?: string } | string | undefined) : undefined;
  const detail = typeof body === 'object' && body?.message ? body.message : (err as Error).message;
  return new DeployFailedError(request.requestId, `${what}: ${detail}`, permanent, { cause: err });
}

/** The ConfigMap recording that the broker created a Topic resource's Kafka topic. */
export function topicRecordName(request: DeploymentRequest): string {
  return `${request.resource.name}-topic`;
}

/** The Secret holding a Topic's owning Application's Kafka credentials. */
export function topicCredentialsName(request: DeploymentRequest): string {
  return `${request.resource.name}-kafka`;
}

/** deployOnce's answer when a namespace this broker had seen is gone (a 404 on apply). */
const NAMESPACE_GONE = Symbol('namespace gone');

export class KubernetesApplier {
  private readonly objects: KubernetesObjectApi;
  private readonly core: CoreV1Api;
  /**
   * Target namespaces seen to exist: checked once, not per request. One that disappears
   * later makes an apply answer 404, which drops it from here and checks again (deploy).
   */
  private readonly namespaces = new Set<string>();

  constructor(kubeConfig: KubeConfig) {
    keepConnectionsAlive(kubeConfig);
    this.objects = KubernetesObjectApi.makeApiClient(kubeConfig);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  private async read(obj: K8sObject): Promise<KubernetesObject | undefined> {
    try {
      return await this.objects.read({ apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace } });
    } catch (err) {
      if (code(err) === 404) return undefined;
      throw err;
    }
  }

  private async ensureNamespace(request: DeploymentRequest, name: string): Promise<void> {
    if (this.namespaces.has(name)) return;
    await this.checkNamespace(request, name);
    this.namespaces.add(name);
  }

  private async checkNamespace(request: DeploymentRequest, name: string): Promise<void> {
    try {
      await this.core.readNamespace({ name });
    } catch (err) {
      if (code(err) !== 404) throw failed(request, `reading namespace ${name}`, err);
      try {
        await this.core.createNamespace({ body: { metadata: { name, labels: { 'app.kubernetes.io/managed-by': FIELD_MANAGER } } } });
      } catch (createErr) {
        if (code(createErr) !== 409) throw failed(request, `creating namespace ${name}`, createErr);
      }
    }
  }

  /** The password already in the connection Secret, so re-applies keep it. */
  private async existingPassword(request: DeploymentRequest): Promise<string | undefined> {
    const ns = targetNamespace(request);
    try {
      const secret = await this.core.readNamespacedSecret({ name: connectionSecretName(request), namespace: ns });
      const encoded = secret.data?.['password'];
      return encoded ? Buffer.from(encoded, 'base64').toString('utf8') : undefined;
    } catch (err) {
      if (code(err) === 404) return undefined;
      throw failed(request, `reading secret ${ns}/${connectionSecretName(request)}`, err);
    }
  }

  /** Refuses to take over an object that another KIDP resource (another uid) created. */
  private async checkOwnership(request: DeploymentRequest, desired: readonly K8sObject[]): Promise<void> {
    const found = await Promise.all(
      desired.map((obj) =>
        this.read(obj).catch((err: unknown) => {
          throw failed(request, `reading ${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name}`, err);
        }),
      ),
    );
    for (const [i, obj] of desired.entries()) {
      const existing = found[i];
      const owner = existing?.metadata?.annotations?.[ANNOTATION_RESOURCE_UID];
      if (existing && owner !== request.resource.uid) {
        throw new DeployFailedError(
          request.requestId,
          `${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name} already exists and belongs to ${owner ? `resource uid ${owner}` : 'something outside KIDP'}; rename the resource or pick another target namespace`,
          true,
        );
      }
    }
  }

  /**
   * env[].valueFrom may name only connection Secrets KIDP made for a Database or Cache of
   * the requesting resource's own namespace (confinement.ts found the names).
   */
  async checkSecretRefs(request: DeploymentRequest, names: readonly string[]): Promise<void> {
    const ns = targetNamespace(request);
    for (const name of new Set(names)) {
      let source: string | undefined;
      try {
        const secret = await this.core.readNamespacedSecret({ name, namespace: ns });
        source = secret.metadata?.annotations?.[ANNOTATION_RESOURCE_UID] ? secret.metadata.annotations[ANNOTATION_SOURCE] : undefined;
      } catch (err) {
        if (code(err) !== 404) throw failed(request, `reading secret ${ns}/${name}`, err);
      }
      const own = [`Database/${request.resource.namespace}/`, `Cache/${request.resource.namespace}/`];
      if (!source || !own.some((p) => source.startsWith(p))) {
        throw new PlacementRefusedError(request.requestId, `env may only read connection Secrets of namespace ${request.resource.namespace}'s databases and caches; ${ns}/${name} is not one`);
      }
    }
  }

  /**
   * The connection Secret's data when it exists and carries this resource's uid (a
   * provisioner keeps the password it holds); another resource's Secret of that name is a
   * permanent failure, never read or overwritten.
   */
  async readConnection(request: DeploymentRequest): Promise<Record<string, string> | undefined> {
    const ns = targetNamespace(request);
    const name = connectionSecretName(request);
    let secret: V1Secret;
    try {
      secret = await this.core.readNamespacedSecret({ name, namespace: ns });
    } catch (err) {
      if (code(err) === 404) return undefined;
      throw failed(request, `reading secret ${ns}/${name}`, err);
    }
    const owner = secret.metadata?.annotations?.[ANNOTATION_RESOURCE_UID];
    if (owner !== request.resource.uid) {
      throw new DeployFailedError(request.requestId, `Secret ${ns}/${name} already exists and belongs to ${owner ? `resource uid ${owner}` : 'something outside KIDP'}; rename the resource or pick another target namespace`, true);
    }
    return decodeSecret(secret);
  }

  /** Writes what a provisioner returned as the connection Secret (server-side apply, uid-annotated) and returns its ref. */
  async applyConnection(request: DeploymentRequest, data: Record<string, string>): Promise<{ name: string; namespace: string; createdAt?: string }> {
    const ns = targetNamespace(request);
    await this.ensureNamespace(request, ns);
    const obj: K8sObject = { apiVersion: 'v1', kind: 'Secret', metadata: resourceMeta(request, connectionSecretName(request)), type: 'Opaque', stringData: data };
    let created: unknown;
    try {
      created = ((await this.objects.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply)) as { metadata?: { creationTimestamp?: unknown } }).metadata?.creationTimestamp;
    } catch (err) {
      // The answer may echo the data; say only which object failed.
      throw failed(request, `applying Secret ${ns}/${obj.metadata.name}`, new Error(`apiserver answered ${code(err) ?? 'error'}`));
    }
    // When the Secret was first made: the start of a shared resource's usage (brokers/usage.ts), kept across broker restarts by the apiserver.
    const createdAt = created instanceof Date ? created.toISOString() : typeof created === 'string' ? created : undefined;
    return { name: obj.metadata.name, namespace: ns, ...(createdAt ? { createdAt } : {}) };
  }

  /** Deletes the connection Secret if it is this resource's. */
  async removeConnection(request: DeploymentRequest): Promise<void> {
    const ns = targetNamespace(request);
    const name = connectionSecretName(request);
    try {
      const secret = await this.core.readNamespacedSecret({ name, namespace: ns });
      if (secret.metadata?.annotations?.[ANNOTATION_RESOURCE_UID] !== request.resource.uid) return;
      await this.core.deleteNamespacedSecret({ name, namespace: ns });
    } catch (err) {
      if (code(err) !== 404) throw failed(request, `deleting secret ${ns}/${name}`, err);
    }
  }

  /** A Secret named by the DeploymentTarget (a server's operator credentials); its data is never logged. */
  async readSecretData(request: DeploymentRequest, ref: { name: string; namespace: string }): Promise<Record<string, string>> {
    try {
      return decodeSecret(await this.core.readNamespacedSecret({ name: ref.name, namespace: ref.namespace }));
    } catch (err) {
      throw failed(request, `reading the DeploymentTarget's credentials Secret ${ref.namespace}/${ref.name}`, err);
    }
  }

  /**
   * Topic ownership (issue 10 item 5): Kafka topics carry no labels, so the broker records
   * the topics it created as a ConfigMap `<resource>-topic` in the placement namespace,
   * annotated with the resource uid, and deletes only a topic whose record names the same uid.
   */
  async topicOwner(request: DeploymentRequest): Promise<{ uid: string | undefined; topic: string | undefined; principal: string | undefined } | undefined> {
    const ns = targetNamespace(request);
    try {
      const cm = await this.core.readNamespacedConfigMap({ name: topicRecordName(request), namespace: ns });
      return { uid: cm.metadata?.annotations?.[ANNOTATION_RESOURCE_UID], topic: cm.data?.['topic'], principal: cm.data?.['principal'] };
    } catch (err) {
      if (code(err) === 404) return undefined;
      throw failed(request, `reading ConfigMap ${ns}/${topicRecordName(request)}`, err);
    }
  }

  async recordTopicOwner(request: DeploymentRequest, topic: string, principal?: string): Promise<void> {
    const ns = targetNamespace(request);
    await this.ensureNamespace(request, ns);
    const obj: K8sObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: topicRecordName(request),
        namespace: ns,
        labels: { 'app.kubernetes.io/managed-by': FIELD_MANAGER, 'platform.kidp.io/kind': 'Topic' },
        annotations: { [ANNOTATION_RESOURCE_UID]: request.resource.uid, [ANNOTATION_SOURCE]: `${request.resource.kind}/${request.resource.namespace}/${request.resource.name}` },
      },
      data: { topic, ...(principal ? { principal } : {}) },
    };
    try {
      await this.objects.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (err) {
      throw failed(request, `recording topic ownership in ${ns}/${obj.metadata.name}`, err);
    }
  }

  /** How many other Topics' records in the placement namespace name `principal` (they share its group ACL). */
  async otherTopicsOf(request: DeploymentRequest, principal: string): Promise<number> {
    const ns = targetNamespace(request);
    try {
      const list = await this.core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'platform.kidp.io/kind=Topic' });
      return list.items.filter((cm) => cm.data?.['principal'] === principal && cm.metadata?.annotations?.[ANNOTATION_RESOURCE_UID] !== request.resource.uid).length;
    } catch (err) {
      throw failed(request, `listing Topic records in ${ns}`, err);
    }
  }

  /**
   * The Application's Kafka credentials for a Topic: a Secret `<topic>-kafka` in the
   * placement namespace (where its workloads run), uid-annotated like every object the
   * broker makes. undefined when absent; refused when another resource made it.
   */
  async topicCredentials(request: DeploymentRequest): Promise<Record<string, string> | undefined> {
    const ns = targetNamespace(request);
    const name = topicCredentialsName(request);
    try {
      const secret = await this.core.readNamespacedSecret({ name, namespace: ns });
      if (secret.metadata?.annotations?.[ANNOTATION_RESOURCE_UID] !== request.resource.uid) {
        throw new DeployFailedError(request.requestId, `Secret ${ns}/${name} exists and was not created by KIDP for this Topic; rename the Topic or remove the Secret`, true);
      }
      return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    } catch (err) {
      if (err instanceof DeployFailedError) throw err;
      if (code(err) === 404) return undefined;
      throw failed(request, `reading secret ${ns}/${name}`, err);
    }
  }

  async writeTopicCredentials(request: DeploymentRequest, data: Record<string, string>): Promise<{ name: string; namespace: string }> {
    const ns = targetNamespace(request);
    await this.ensureNamespace(request, ns);
    const obj: K8sObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: topicCredentialsName(request),
        namespace: ns,
        labels: { 'app.kubernetes.io/managed-by': FIELD_MANAGER, 'platform.kidp.io/kind': 'Topic' },
        annotations: { [ANNOTATION_RESOURCE_UID]: request.resource.uid, [ANNOTATION_SOURCE]: `${request.resource.kind}/${request.resource.namespace}/${request.resource.name}`, [ANNOTATION_REQUEST_ID]: request.requestId },
      },
      type: 'kubernetes.io/tls',
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')])),
    };
    try {
      await this.objects.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (err) {
      throw failed(request, `writing secret ${ns}/${obj.metadata.name}`, err);
    }
    return { name: obj.metadata.name, namespace: ns };
  }

  async deleteTopicCredentials(request: DeploymentRequest): Promise<void> {
    const ns = targetNamespace(request);
    const name = topicCredentialsName(request);
    try {
      const secret = await this.core.readNamespacedSecret({ name, namespace: ns });
      if (secret.metadata?.annotations?.[ANNOTATION_RESOURCE_UID] !== request.resource.uid) return;
      await this.core.deleteNamespacedSecret({ name, namespace: ns });
    } catch (err) {
      if (code(err) !== 404) throw failed(request, `deleting secret ${ns}/${name}`, err);
    }
  }

  async forgetTopicOwner(request: DeploymentRequest): Promise<void> {
    const ns = targetNamespace(request);
    try {
      await this.core.deleteNamespacedConfigMap({ name: topicRecordName(request), namespace: ns });
    } catch (err) {
      if (code(err) !== 404) throw failed(request, `deleting ConfigMap ${ns}/${topicRecordName(request)}`, err);
    }
  }

  async deploy(request: DeploymentRequest): Promise<ApplyOutcome> {
    // A namespace known to exist that is gone now is checked (and created) again, once.
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.deployOnce(request);
      if (outcome !== NAMESPACE_GONE) return outcome;
      if (attempt === 2) throw new DeployFailedError(request.requestId, `namespace ${targetNamespace(request)} disappeared while applying`, false);
    }
  }

  private async deployOnce(request: DeploymentRequest): Promise<ApplyOutcome | typeof NAMESPACE_GONE> {
    const ns = targetNamespace(request);
    await this.ensureNamespace(request, ns);
    const needsSecret = request.resource.kind === 'Database' || request.resource.kind === 'Cache';
    const password = (needsSecret ? await this.existingPassword(request) : undefined) ?? randomBytes(PASSWORD_BYTES).toString('base64url');
    let desired: K8sObject[];
    try {
      desired = desiredObjects(request, password);
    } catch (err) {
      throw new DeployFailedError(request.requestId, (err as Error).message, true, { cause: err });
    }
    await this.checkOwnership(request, desired);
    const applied = await Promise.allSettled(desired.map((obj) => this.objects.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply)));
    if (applied.some((r) => r.status === 'rejected' && code(r.reason) === 404) && this.namespaces.delete(ns)) return NAMESPACE_GONE;
    for (const [i, obj] of desired.entries()) {
      const result = applied[i];
      if (result?.status === 'rejected') {
        const err: unknown = result.reason;
        // The error text may echo the object; for the Secret, say only which object failed.
        throw failed(request, `applying ${obj.kind} ${ns}/${obj.metadata.name}`, obj.kind === 'Secret' ? new Error(`apiserver answered ${code(err) ?? 'error'}`) : err);
      }
      // The apply's answer is the object as stored: that is the read-back.
      const back = result?.value as KubernetesObject | undefined;
      if (!back?.metadata?.uid || !back.metadata.resourceVersion) {
        throw new DeployFailedError(request.requestId, `${obj.kind} ${ns}/${obj.metadata.name} was applied but the apiserver did not return it`, false);
      }
    }
    const kinds = desired.map((o) => o.kind).join(', ');
    return {
      phase: 'Ready',
      reason: 'ObjectsApplied',
      message: `${kinds} exist in ${ns} and were read back (Pods are not awaited)`,
      ...(needsSecret ? { outputs: { connectionSecretRef: { name: connectionSecretName(request), namespace: ns } } } : {}),
    };
  }

  async remove(request: DeploymentRequest): Promise<ApplyOutcome> {
    const ns = targetNamespace(request);
    // Which objects to delete depends only on kind and name; the password is irrelevant.
    const desired = desiredObjects(request, 'unused');
    const removed: string[] = [];
    for (const obj of desired.reverse()) {
      let existing: KubernetesObject | undefined;
      try {
        existing = await this.read(obj);
        if (!existing || existing.metadata?.annotations?.[ANNOTATION_RESOURCE_UID] !== request.resource.uid) continue;
        await this.objects.delete({ apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata.name, namespace: ns } }, undefined, undefined, undefined, undefined, 'Background');
        removed.push(obj.kind);
      } catch (err) {
        if (code(err) === 404) continue;
        throw failed(request, `deleting ${obj.kind} ${ns}/${obj.metadata.name}`, err);
      }
    }
    return { phase: 'Deleted', reason: 'ObjectsDeleted', message: removed.length > 0 ? `deleted ${removed.join(', ')} from ${ns}` : `nothing left to delete in ${ns}` };
  }
}
