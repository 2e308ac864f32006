// The kind registry: every fact about a kind that code outside crds/ needs (group, version,
// plural, scope, deployable, allowed owners, finalizer, short names), read from the table that
// crds/generate-types.ts derives from the CRD YAML (crds/kinds.ts). Nothing else spells a
// group, a plural or a kind list; a kind added to the YAML reaches the webhook rules, RBAC,
// informers, ownership and the broker protocol from here. This module has no imports beyond
// the generated files, so brokers and the CLI can read it without loading ajv or CEL.
import { KIND_TABLE } from './kinds.js';
import type { KidpKind, KidpResource } from './types.js';

type Table = typeof KIND_TABLE;
export type KindName = keyof Table;

// The table and the generated types come from the same YAML: a kind in one and not the other
// means one of them is stale (run `npm run generate:types`), and this stops the build.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const tableMatchesTypes: Same<KindName, KidpKind> = true;
void tableMatchesTypes;

export interface KindInfo {
  readonly kind: KindName;
  readonly group: string;
  readonly version: string;
  /** `group/version`, as in a manifest's apiVersion. */
  readonly apiVersion: string;
  /** The resource name in API paths and RBAC rules, e.g. `databases`. */
  readonly plural: string;
  readonly singular: string;
  readonly listKind: string;
  readonly scope: 'Namespaced' | 'Cluster';
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  /** The controllers hand it to a broker (DESIGN §3, the outbox pattern). */
  readonly deployable: boolean;
  /** The kinds its spec.owner.kind may name; empty when it has no owner. */
  readonly owners: readonly KindName[];
  /** The finalizer the mutating webhook adds and the controllers remove after cleanup. */
  readonly finalizer: string | null;
}

/** Kinds whose row says `deployable: true`: Service, Database, Cache, Topic today. */
export type DeployableKind = { [K in KindName]: Table[K]['deployable'] extends true ? K : never }[KindName];
/** Kinds that have a spec.owner. */
export type OwnedKind = { [K in KindName]: Table[K]['owners'] extends readonly [] ? never : K }[KindName];
/** Kinds a spec.owner may name. */
export type OwnerKind = Table[KindName]['owners'][number];
/** The resource types of the deployable kinds, as crds/types.ts declares them. */
export type DeployableResource = Extract<KidpResource, { kind: DeployableKind }>;

/** KIDP's own API group and version (DESIGN §3). */
export const PLATFORM_GROUP = KIND_TABLE.Team.group;
export const PLATFORM_VERSION = KIND_TABLE.Team.version;
export const PLATFORM_API_VERSION = KIND_TABLE.Team.apiVersion;
/** The wgpolicyk8s.io report kinds KIDP writes. */
export const REPORTS_GROUP = KIND_TABLE.PolicyReport.group;
export const REPORTS_VERSION = KIND_TABLE.PolicyReport.version;
export const REPORTS_API_VERSION = KIND_TABLE.PolicyReport.apiVersion;

/** Every kind, in the order crds/kustomization.yaml installs them. */
export const KINDS: readonly KindInfo[] = Object.values(KIND_TABLE) as readonly KindInfo[];
/** The kinds of platform.kidp.io. */
export const PLATFORM_KINDS: readonly KindInfo[] = KINDS.filter((k) => k.group === PLATFORM_GROUP);
export const DEPLOYABLE_KINDS: readonly DeployableKind[] = KINDS.filter((k) => k.deployable).map((k) => k.kind as DeployableKind);
export const OWNED_KINDS: readonly OwnedKind[] = KINDS.filter((k) => k.owners.length > 0).map((k) => k.kind as OwnedKind);
/**
 * Kinds that belong to a team: the owners and everything they own (Team, Application and
 * the deployables). The mutating webhook labels exactly these.
 */
export const TENANT_KINDS: readonly KindInfo[] = KINDS.filter((k) => k.owners.length > 0 || KINDS.some((o) => o.owners.includes(k.kind)));

/** Who may own whom (DESIGN §3 Ownership), from each CRD's spec.owner.kind enum. */
export const ALLOWED_OWNERS: Readonly<Record<OwnedKind, readonly OwnerKind[]>> = Object.fromEntries(
  OWNED_KINDS.map((k): [OwnedKind, readonly OwnerKind[]] => [k, KIND_TABLE[k].owners]),
) as Record<OwnedKind, readonly OwnerKind[]>;

export const DEPLOYABLE_PLURALS: Readonly<Record<DeployableKind, string>> = Object.fromEntries(DEPLOYABLE_KINDS.map((k) => [k, KIND_TABLE[k].plural])) as Record<
  DeployableKind,
  string
>;

export function kindInfo(kind: KindName): KindInfo {
  return KIND_TABLE[kind];
}

/** The row of `kind` in `group` (default platform.kidp.io), if KIDP defines it. */
export function findKind(kind: string, group: string = PLATFORM_GROUP): KindInfo | undefined {
  return KINDS.find((k) => k.kind === kind && k.group === group);
}

/** The row whose plural is `plural` in `group` (default platform.kidp.io). */
export function findPlural(plural: string, group: string = PLATFORM_GROUP): KindInfo | undefined {
  return KINDS.find((k) => k.plural === plural && k.group === group);
}

export function isDeployableKind(kind: string): kind is DeployableKind {
  return (DEPLOYABLE_KINDS as readonly string[]).includes(kind);
}

export function isPlatformKind(kind: string): boolean {
  return PLATFORM_KINDS.some((k) => k.kind === kind);
}

/**
 * The labels KIDP writes (DESIGN §3). Every CRD carries MANAGED_BY itself, which
 * crds/registry.test.ts checks against the YAML.
 */
export const LABELS = {
  managedBy: 'platform.kidp.io/managed-by',
  team: 'platform.kidp.io/team',
  application: 'platform.kidp.io/application',
} as const;
/** The value of LABELS.managedBy on everything KIDP creates. */
export const MANAGED_BY_VALUE = 'kidp';
/** `{ platform.kidp.io/managed-by: kidp }`, for objects KIDP creates. */
export const MANAGED_BY: Readonly<Record<string, string>> = { [LABELS.managedBy]: MANAGED_BY_VALUE };

/** The finalizer of the deployable kinds (their rows name it; they all name this one). */
export const CLEANUP_FINALIZER = KIND_TABLE.Service.finalizer;

/**
 * Kafka topic name prefixes that KIDP's protocol and Kafka itself use (kidp.deployment-requests,
 * kidp.admission-decisions, __consumer_offsets, ...). A Topic resource never maps onto one:
 * a namespace `kidp` with a Topic `deployment-requests` would otherwise be the request topic
 * (issue 10 item 5). Admission refuses such a Topic; the broker refuses it too, and its ACLs
 * deny it these prefixes.
 */
export const RESERVED_TOPIC_PREFIXES: readonly string[] = ['kidp.', '__'];

/** The Kafka topic of a Topic resource: namespaced, so two teams' `events` do not collide. */
export function kafkaTopicNameOf(namespace: string, name: string): string {
  return `${namespace}.${name}`;
}

/** Why a Topic `namespace/name` may not exist, or undefined. */
export function reservedTopicRefusal(namespace: string, name: string): string | undefined {
  const topic = kafkaTopicNameOf(namespace, name);
  const prefix = RESERVED_TOPIC_PREFIXES.find((p) => topic.startsWith(p));
  return prefix ? `Topic ${namespace}/${name} would be the Kafka topic ${topic}, and the prefix ${prefix} is reserved for KIDP's protocol and Kafka's own topics; use another namespace or name` : undefined;
}
