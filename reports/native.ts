// Keeps the ValidatingAdmissionPolicy + Binding of each `spec.enforcement: Native` Policy in
// step with the Policy and its PolicyExceptions (policy-engine/policy/native.ts says how one
// maps onto the other), and says so in the Policy's NativeEnforced condition, which the
// webhook reads: it stops evaluating a Policy only once that condition is True for the
// Policy's current generation, so a Policy is never left unenforced while its VAP is being
// written. Deletes what it generated when a Policy goes back to the webhook or is deleted.
import { ApiException, CustomObjectsApi, KubernetesObjectApi, PatchStrategy, setHeaderOptions, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { resourceOfType } from '../admission/index.js';
import { PLATFORM_GROUP, kindInfo } from '../crds/registry.js';
import type { Policy, PolicyException } from '../crds/types.js';
import { conditionTime, findCondition, type Condition } from '../kube/index.js';
import { nativeName, nativeObjects, nativeRefusals, NATIVE_ENFORCED, NATIVE_POLICY_LABEL } from '../policy-engine/policy/index.js';

/** Field manager of the generated objects and of the condition (server-side apply). */
export const NATIVE_FIELD_MANAGER = 'kidp-native-enforcement';
const POLICIES = kindInfo('Policy');
const ADMISSION_GROUP = 'admissionregistration.k8s.io';
/**
 * How long after writing a VAP or binding before the Policy is said to be enforced natively
 * (and the webhook steps aside). The apiserver loads policies from its own informer and
 * recompiles them at most once a second (k8s.io/apiserver admission/plugin/policy/generic,
 * policy_source.go), and nothing here reports when that happened (VAP status is written by
 * kube-controller-manager): without the wait, the webhook stopped before the apiserver
 * started, and the e2e test saw denied objects admitted in between.
 */
export const NATIVE_ACTIVATION_MS = 5_000;

export interface NativeEnforcementOptions {
  platformNamespace: string;
  logger: Logger;
}

export interface NativeOutcome {
  /** When to reconcile again (an exception folded in expires then), ms since the epoch. */
  requeueAtMs?: number;
}

type PolicyWithStatus = Policy & { status?: { conditions?: Condition[] } };

export class NativeEnforcement {
  private readonly objects: KubernetesObjectApi;
  private readonly custom: CustomObjectsApi;
  /** What was last applied, by object name: a Policy's own status writes re-queue it, and an unchanged object is not sent again. */
  private readonly applied = new Map<string, string>();
  /** Policies known to have nothing generated: a Webhook Policy's status writes then cost no reads. */
  private readonly absent = new Set<string>();
  /** When this process last wrote a Policy's generated objects (ms since the epoch). */
  private readonly writtenAt = new Map<string, number>();

  constructor(kubeConfig: KubeConfig, private readonly options: NativeEnforcementOptions) {
    this.objects = KubernetesObjectApi.makeApiClient(kubeConfig);
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  async reconcile(name: string, policy: PolicyWithStatus | undefined, exceptions: readonly PolicyException[], now: Date): Promise<NativeOutcome> {
    if (!policy || policy.spec?.enforcement !== 'Native') {
      await this.removeGenerated(name);
      if (policy && findCondition(policy.status?.conditions, NATIVE_ENFORCED)?.status === 'True') {
        await this.setCondition(policy, { status: 'False', reason: 'WebhookEnforcement', message: "enforcement is Webhook: KIDP's validating webhook evaluates this Policy" }, now);
      }
      return {};
    }
    const refusals = nativeRefusals(policy, { resourceOf: resourceOfType });
    if (refusals.length > 0) {
      // Admission refuses such a Policy; one stored before that rule keeps the webhook.
      await this.removeGenerated(name);
      await this.setCondition(policy, { status: 'False', reason: 'NotNative', message: `KIDP's webhook keeps enforcing it: ${refusals.join('; ')}` }, now);
      return {};
    }
    this.absent.delete(name);
    const generated = nativeObjects(policy, exceptions, { resourceOf: resourceOfType, platformGroup: PLATFORM_GROUP, platformNamespace: this.options.platformNamespace, now });
    const wrotePolicy = await this.apply(generated.policy);
    const wroteBinding = await this.apply(generated.binding);
    const wrote = wrotePolicy || wroteBinding;
    if (wrote) this.writtenAt.set(name, now.getTime());
    const settledAt = (this.writtenAt.get(name) ?? 0) + NATIVE_ACTIVATION_MS;
    const nextChange = generated.nextChangeAt?.getTime();
    if (now.getTime() < settledAt) {
      // Until the apiserver has surely loaded them the webhook keeps evaluating this generation.
      return { requeueAtMs: Math.min(settledAt, nextChange ?? Infinity) };
    }
    const actions = (generated.binding.spec as { validationActions: string[] }).validationActions.join(', ');
    const folded = generated.exceptions.length > 0 ? `; PolicyExceptions folded in: ${generated.exceptions.join(', ')}` : '';
    await this.setCondition(policy, { status: 'True', reason: 'ValidatingAdmissionPolicy', message: `evaluated by the apiserver: ValidatingAdmissionPolicy ${generated.name} and its binding (validationActions ${actions})${folded}` }, now);
    return nextChange !== undefined ? { requeueAtMs: nextChange } : {};
  }

  /** Applies `object` unless this process applied exactly it already; true when it wrote. */
  private async apply(object: Record<string, unknown>): Promise<boolean> {
    const key = `${String(object.kind)}/${String((object.metadata as { name: string }).name)}`;
    const text = JSON.stringify(object);
    if (this.applied.get(key) === text) return false;
    await this.objects.patch(object as KubernetesObject, undefined, undefined, NATIVE_FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    this.applied.set(key, text);
    return true;
  }

  /** Deletes the binding, then the policy, when they exist and are KIDP's for this Policy. */
  private async removeGenerated(policyName: string): Promise<void> {
    if (this.absent.has(policyName)) return;
    const name = nativeName(policyName);
    for (const kind of ['ValidatingAdmissionPolicyBinding', 'ValidatingAdmissionPolicy']) {
      const ref = { apiVersion: `${ADMISSION_GROUP}/v1`, kind, metadata: { name } };
      this.applied.delete(`${kind}/${name}`);
      try {
        const current = await this.objects.read(ref);
        if (current.metadata?.labels?.[NATIVE_POLICY_LABEL] !== policyName) continue;
        await this.objects.delete(ref);
        this.options.logger.info({ policy: policyName, kind, name }, 'native enforcement: generated object deleted');
      } catch (err) {
        if (!(err instanceof ApiException && err.code === 404)) throw err;
      }
    }
    this.absent.add(policyName);
  }

  private async setCondition(policy: PolicyWithStatus, next: Omit<Condition, 'type' | 'lastTransitionTime' | 'observedGeneration'>, now: Date): Promise<void> {
    const generation = policy.metadata?.generation ?? 0;
    const old = findCondition(policy.status?.conditions, NATIVE_ENFORCED);
    if (old && old.status === next.status && old.reason === next.reason && old.message === next.message && old.observedGeneration === generation) return;
    const condition: Condition = {
      type: NATIVE_ENFORCED,
      ...next,
      observedGeneration: generation,
      lastTransitionTime: old && old.status === next.status ? old.lastTransitionTime : conditionTime(now),
    };
    try {
      await this.custom.patchClusterCustomObjectStatus(
        {
          group: POLICIES.group,
          version: POLICIES.version,
          plural: POLICIES.plural,
          name: policy.metadata.name as string,
          fieldManager: NATIVE_FIELD_MANAGER,
          force: true,
          body: { apiVersion: `${POLICIES.group}/${POLICIES.version}`, kind: 'Policy', metadata: { name: policy.metadata.name }, status: { conditions: [condition] } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      );
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
    }
  }
}
