// VAP's `authorizer` in the webhook: each check a rule makes is a SubjectAccessReview for
// the requesting user (AdmissionReview userInfo), asked once per request and remembered for
// it. CEL evaluation is synchronous, so an unknown check aborts its rule (AuthzPendingError),
// the checks found are asked together, and validation runs again with the answers; the
// rules are pure, so the second run is the first with the answers filled in.
import { AuthorizationV1Api, type KubeConfig, type V1SubjectAccessReview } from '@kubernetes/client-node';
import { AuthzPendingError, authzKey, type AuthzAnswer, type AuthzAttributes, type AuthzBackend } from '../policy-engine/policy/index.js';
import type { Decision } from './decision.js';

/** Asks one check; never throws (a failed review is an answer whose error says so). */
export type AskAuthorizer = (attributes: AuthzAttributes) => Promise<AuthzAnswer>;

/**
 * Rounds of asking per request: each round asks every check the rules reached, so only
 * checks that depend on earlier answers need another; past this the rules that still wait
 * error (fail closed) rather than the request waiting on a chain of reviews.
 */
export const MAX_AUTHZ_ROUNDS = 4;

/** A SubjectAccessReview of one check (authorization.k8s.io/v1), as authz.go's attributes. */
export function subjectAccessReview(a: AuthzAttributes): V1SubjectAccessReview {
  const subject = {
    user: a.user.username,
    ...(a.user.uid ? { uid: a.user.uid } : {}),
    ...(a.user.groups ? { groups: [...a.user.groups] } : {}),
    ...(a.user.extra ? { extra: Object.fromEntries(Object.entries(a.user.extra).map(([k, v]) => [k, [...v]])) } : {}),
  };
  if (a.kind === 'path') return { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { ...subject, nonResourceAttributes: { path: a.path, verb: a.verb } } };
  return {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      ...subject,
      resourceAttributes: {
        verb: a.verb,
        group: a.group,
        version: '*',
        resource: a.resource,
        ...(a.subresource ? { subresource: a.subresource } : {}),
        ...(a.namespace ? { namespace: a.namespace } : {}),
        ...(a.name ? { name: a.name } : {}),
        ...(a.fieldSelector ? { fieldSelector: { rawSelector: a.fieldSelector } } : {}),
        ...(a.labelSelector ? { labelSelector: { rawSelector: a.labelSelector } } : {}),
      },
    },
  };
}

/** Asks the apiserver (the webhook's credentials need create on subjectaccessreviews). */
export function subjectAccessReviewer(kubeConfig: KubeConfig): AskAuthorizer {
  const api = kubeConfig.makeApiClient(AuthorizationV1Api);
  return async (a) => {
    try {
      const review = await api.createSubjectAccessReview({ body: subjectAccessReview(a) });
      const s = review.status;
      const decision = s?.allowed ? 'allow' : s?.denied ? 'deny' : 'no-opinion';
      return { decision, reason: s?.reason ?? '', ...(s?.evaluationError ? { error: s.evaluationError } : {}) };
    } catch (err) {
      return { decision: 'no-opinion', reason: '', error: `SubjectAccessReview failed: ${err instanceof Error ? err.message : String(err)}` };
    }
  };
}

/**
 * Runs `validate` with an authorizer that answers from this request's cache, asking the
 * checks it meets and running again until none is new (at most MAX_AUTHZ_ROUNDS).
 */
export async function withAuthorizer(ask: AskAuthorizer, validate: (authorizer: AuthzBackend) => Decision): Promise<Decision> {
  const answers = new Map<string, AuthzAnswer>();
  const pending = new Map<string, AuthzAttributes>();
  const backend: AuthzBackend = {
    authorize(a) {
      const key = authzKey(a);
      const known = answers.get(key);
      if (known) return known;
      pending.set(key, a);
      throw new AuthzPendingError(a);
    },
  };
  for (let round = 0; ; round++) {
    pending.clear();
    const decision = validate(backend);
    if (pending.size === 0 || round + 1 >= MAX_AUTHZ_ROUNDS) return decision;
    const asked = await Promise.all([...pending].map(async ([key, a]) => [key, await ask(a)] as const));
    for (const [key, answer] of asked) answers.set(key, answer);
  }
}
