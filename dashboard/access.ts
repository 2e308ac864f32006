// Who is asking and what they may read (issue 16 item 3). The portal reads the cluster with
// its own ServiceAccount into one cache, and decides per user what of it to serve:
//
// - authentication: the user's own Kubernetes bearer token (the Authorization header, or the
//   HttpOnly cookie the login form sets), checked by a TokenReview — so whatever the
//   apiserver accepts (ServiceAccount tokens, OIDC id-tokens, webhook tokens) works, and
//   nothing else does;
// - authorization: a SubjectAccessReview per (verb, resource, namespace[, name]) with the
//   user, groups, uid and extra the TokenReview returned, so the apiserver's authorizers
//   (RBAC and any other) decide, not a copy of their rules.
//
// Both answers are cached briefly (TOKEN_TTL_MS, ACCESS_TTL_MS): a page asks dozens of
// questions and a reader clicks through pages; a revoked binding or token takes effect
// within the TTL, as with the apiserver's own webhook authenticator/authorizer caches.
// Identity never comes from a request header other than the token: a request carrying
// X-Remote-* or Impersonate-* headers is refused (an authenticating proxy in front that
// forwards such headers is a misconfiguration to surface, not to trust).
import { createHash } from 'node:crypto';
import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { checkKey, type AccessCheck } from './portal-model.js';

/** A TokenReview answer is reused this long (the apiserver's token cache keeps successes 10 s too). */
export const TOKEN_TTL_MS = 10_000;
/** A SubjectAccessReview answer is reused this long: a removed RoleBinding shows within 10 s. */
export const ACCESS_TTL_MS = 10_000;
/** Entries kept per cache; the oldest go first, so a flood of tokens cannot grow memory. */
export const CACHE_MAX_ENTRIES = 20_000;
/** SubjectAccessReviews in flight per page: enough to fill a page in one round trip, not a flood. */
export const SAR_CONCURRENCY = 16;

export interface UserInfo {
  username: string;
  uid: string;
  groups: string[];
  extra: Record<string, string[]>;
}

/** Request headers that claim an identity; the portal trusts none of them. */
export const IDENTITY_HEADERS: readonly RegExp[] = [/^x-remote-/i, /^impersonate-/i, /^x-forwarded-user$/i, /^x-forwarded-groups$/i, /^x-auth-request-/i];

class TtlCache<V> {
  private readonly entries = new Map<string, { at: number; value: V }>();
  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (this.now() - e.at >= this.ttlMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, { at: this.now(), value });
    while (this.entries.size > CACHE_MAX_ENTRIES) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }
}

export interface AccessOptions {
  kubeConfig: KubeConfig;
  now?: () => number;
}

export class Access {
  private readonly authn: AuthenticationV1Api;
  private readonly authz: AuthorizationV1Api;
  private readonly tokens: TtlCache<UserInfo | null>;
  private readonly decisions: TtlCache<boolean>;

  constructor(options: AccessOptions) {
    this.authn = options.kubeConfig.makeApiClient(AuthenticationV1Api);
    this.authz = options.kubeConfig.makeApiClient(AuthorizationV1Api);
    const now = options.now ?? (() => Date.now());
    this.tokens = new TtlCache(TOKEN_TTL_MS, now);
    this.decisions = new TtlCache(ACCESS_TTL_MS, now);
  }

  /** The user the token belongs to, or null when the apiserver does not accept it. */
  async authenticate(token: string): Promise<UserInfo | null> {
    // Keyed by a digest: the cache never holds a usable token.
    const k = createHash('sha256').update(token).digest('hex');
    const cached = this.tokens.get(k);
    if (cached !== undefined) return cached;
    const review = await this.authn.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } });
    const s = review.status;
    const user: UserInfo | null =
      s?.authenticated && s.user?.username ? { username: s.user.username, uid: s.user.uid ?? '', groups: [...(s.user.groups ?? [])].sort(), extra: Object.fromEntries(Object.entries(s.user.extra ?? {}).map(([k2, v]) => [k2, [...v]])) } : null;
    this.tokens.set(k, user);
    return user;
  }

  private userKey(user: UserInfo): string {
    return JSON.stringify([user.username, user.uid, user.groups, Object.entries(user.extra).sort()]);
  }

  /** Resolves every check for the user (cached, SAR_CONCURRENCY at a time) and answers them synchronously. */
  async resolve(user: UserInfo, checks: readonly AccessCheck[]): Promise<(check: AccessCheck) => boolean> {
    const u = this.userKey(user);
    const answers = new Map<string, boolean>();
    const missing: AccessCheck[] = [];
    for (const c of checks) {
      const cached = this.decisions.get(`${u} ${checkKey(c)}`);
      if (cached === undefined) missing.push(c);
      else answers.set(checkKey(c), cached);
    }
    let next = 0;
    const worker = async () => {
      while (next < missing.length) {
        const c = missing[next++]!;
        const allowed = await this.review(user, c);
        this.decisions.set(`${u} ${checkKey(c)}`, allowed);
        answers.set(checkKey(c), allowed);
      }
    };
    await Promise.all(Array.from({ length: Math.min(SAR_CONCURRENCY, missing.length) }, worker));
    // A check nobody resolved is a no: the page cannot show what was not asked about.
    return (check) => answers.get(checkKey(check)) === true;
  }

  private async review(user: UserInfo, c: AccessCheck): Promise<boolean> {
    const review = await this.authz.createSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.username,
          uid: user.uid || undefined,
          groups: user.groups,
          extra: user.extra,
          resourceAttributes: { verb: c.verb, group: c.group, resource: c.resource, ...(c.namespace !== undefined ? { namespace: c.namespace } : {}), ...(c.name ? { name: c.name } : {}) },
        },
      },
    });
    return review.status?.allowed === true && review.status.denied !== true;
  }
}
