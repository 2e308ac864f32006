// The compiled Policies and the PolicyExceptions the validating webhook evaluates. Fed by
// informers (cluster-view.ts) or by files (`kidp webhook serve --policies`); compiles a
// Policy once when it arrives or changes, never per request (STYLE §5).
import type { Logger } from 'pino';
import { compilePolicy, type CompiledPolicy } from '../policy-engine/policy/index.js';
import type { Policy, PolicyException } from '../crds/types.js';

export interface StoredPolicyProblem {
  policy: string;
  message: string;
}

export class PolicyStore {
  private readonly compiled = new Map<string, CompiledPolicy>();
  private readonly problems = new Map<string, string>();
  private readonly exceptions = new Map<string, PolicyException>();
  private snapshot: CompiledPolicy[] = [];
  /** Policies by the resource type they select: a request is matched only against its own. */
  private byType = new Map<string, CompiledPolicy[]>();
  private exceptionSnapshot: PolicyException[] = [];

  /** Policies another enforcer answers for (the apiserver, for Native ones): known, not evaluated. */
  private readonly delegated = new Set<string>();

  /**
   * `delegate`: which stored Policies this store leaves to another enforcer (the webhook
   * passes nativelyEnforced); they are known (hasPolicy) but neither evaluated nor counted
   * in policies(), so the webhook configuration stops sending their kinds.
   */
  constructor(
    private readonly logger?: Logger,
    private readonly delegate?: (policy: Policy) => boolean,
  ) {}

  /**
   * Compiles and stores a Policy. One that no longer compiles (it was admitted before
   * KIDP ran, or the schemas changed) is dropped from evaluation and reported by problems().
   */
  upsertPolicy(policy: Policy): void {
    const name = policy.metadata.name ?? '';
    if (this.delegate?.(policy)) {
      this.compiled.delete(name);
      this.problems.delete(name);
      this.delegated.add(name);
      this.reindex();
      return;
    }
    this.delegated.delete(name);
    try {
      this.compiled.set(name, compilePolicy(policy));
      this.problems.delete(name);
    } catch (e) {
      this.compiled.delete(name);
      const message = e instanceof Error ? e.message : String(e);
      this.problems.set(name, message);
      this.logger?.error({ policy: name, err: message }, 'stored Policy does not compile; it is not enforced');
    }
    this.reindex();
  }

  private reindex(): void {
    this.snapshot = [...this.compiled.values()];
    const byType = new Map<string, CompiledPolicy[]>();
    for (const p of this.snapshot) {
      for (const t of p.resourceTypes) byType.set(t, [...(byType.get(t) ?? []), p]);
    }
    this.byType = byType;
  }

  removePolicy(name: string): void {
    this.delegated.delete(name);
    this.compiled.delete(name);
    this.problems.delete(name);
    this.reindex();
  }

  upsertException(ex: PolicyException): void {
    this.exceptions.set(`${ex.metadata.namespace ?? ''}/${ex.metadata.name ?? ''}`, ex);
    this.exceptionSnapshot = [...this.exceptions.values()];
  }

  removeException(ex: PolicyException): void {
    this.exceptions.delete(`${ex.metadata.namespace ?? ''}/${ex.metadata.name ?? ''}`);
    this.exceptionSnapshot = [...this.exceptions.values()];
  }

  /** A stable array, replaced (not mutated) on change, so a request sees one consistent set. */
  policies(): readonly CompiledPolicy[] {
    return this.snapshot;
  }

  /** The policies selecting one resource type (resourceTypeOf), in a stable array. */
  policiesFor(resourceType: string): readonly CompiledPolicy[] {
    return this.byType.get(resourceType) ?? [];
  }

  hasPolicy(name: string): boolean {
    return this.compiled.has(name) || this.problems.has(name) || this.delegated.has(name);
  }

  policyExceptions(): readonly PolicyException[] {
    return this.exceptionSnapshot;
  }

  /** Names of the Policies left to another enforcer. */
  delegatedPolicies(): string[] {
    return [...this.delegated].sort();
  }

  problemsList(): StoredPolicyProblem[] {
    return [...this.problems].map(([policy, message]) => ({ policy, message }));
  }
}
