// Who may use a Topic resource's Kafka topic (issue 10 item 2, issue 15 item 3): the owning
// Application's principal, and nobody else. When the broker provisions the topic it creates
// ACLs for User:kidp-app-<namespace>.<application> — READ, WRITE, DESCRIBE on exactly that
// topic (LITERAL) and READ on the consumer groups `<namespace>.<application>/…` (PREFIXED;
// '/' cannot occur in a Kubernetes name, so no Application's prefix covers another's) — and
// writes the Application's credentials (app-certificate.ts) into a Secret `<topic>-kafka`
// beside its workloads. Deleting the Topic deletes exactly the ACLs it created (the group
// ACL only when no other Topic of the same Application is left) and that Secret.
//
// A Team-owned Topic has no application principal: no client ACLs and no Secret; it is
// the platform's own (the operator grants what else is needed).
import type { Admin } from 'kafkajs';
import type { DeploymentRequest } from '../contract.js';
import { aclEntries, type AclBinding } from '../kafka-access.js';
import { applicationCommonName } from './app-certificate.js';

/** What a Topic's owner is, from the request's spec.owner (admission made it exist and keeps it immutable). */
export function topicOwnerOf(request: DeploymentRequest): { kind: 'Application' | 'Team'; name: string } | undefined {
  const owner = request.resource.spec['owner'] as { kind?: unknown; name?: unknown } | undefined;
  if (!owner || typeof owner.name !== 'string' || (owner.kind !== 'Application' && owner.kind !== 'Team')) return undefined;
  return { kind: owner.kind, name: owner.name };
}

export interface ApplicationAccess {
  application: string;
  /** The certificate CN; the Kafka principal is User:<commonName>. */
  commonName: string;
  principal: string;
  /** Consumer groups the Application may use start with this. */
  groupPrefix: string;
}

/** The Application principal a Topic's ACLs are for, or undefined for a Team-owned Topic. */
export function applicationAccessFor(request: DeploymentRequest): ApplicationAccess | undefined {
  const owner = topicOwnerOf(request);
  if (owner?.kind !== 'Application') return undefined;
  const commonName = applicationCommonName(request.resource.namespace, owner.name);
  return { application: owner.name, commonName, principal: `User:${commonName}`, groupPrefix: `${request.resource.namespace}.${owner.name}/` };
}

/** Pure: the ACLs that make `topic` the Application's, split by who else may need them. */
export function topicAccessBindings(topic: string, access: ApplicationAccess): { topic: AclBinding[]; group: AclBinding[] } {
  return {
    topic: [{ principal: access.principal, resource: 'topic', name: topic, pattern: 'literal', operations: ['READ', 'WRITE', 'DESCRIBE'], permission: 'allow' }],
    group: [{ principal: access.principal, resource: 'group', name: access.groupPrefix, pattern: 'prefixed', operations: ['READ'], permission: 'allow' }],
  };
}

/** Creates the ACLs (Kafka keeps one copy of an ACL created twice, so a re-apply is a no-op). */
export async function grantTopicAccess(admin: Admin, topic: string, access: ApplicationAccess): Promise<void> {
  const b = topicAccessBindings(topic, access);
  const result = await admin.createAcls({ acl: aclEntries([...b.topic, ...b.group]) });
  if (!result) throw new Error(`Kafka refused to create the ACLs of ${access.principal} on ${topic}`);
}

/**
 * Deletes exactly the bindings grantTopicAccess made for this topic (each filter names
 * principal, resource, pattern, operation and permission, so nothing else matches), and
 * the group binding only when `keepGroup` is false.
 */
export async function revokeTopicAccess(admin: Admin, topic: string, access: ApplicationAccess, keepGroup: boolean): Promise<number> {
  const b = topicAccessBindings(topic, access);
  const filters = aclEntries([...b.topic, ...(keepGroup ? [] : b.group)]);
  const { filterResponses } = await admin.deleteAcls({ filters });
  for (const r of filterResponses) if (r.errorCode !== 0) throw new Error(`Kafka refused to delete an ACL of ${access.principal} on ${topic}: ${r.errorMessage ?? `error ${r.errorCode}`}`);
  return filterResponses.reduce((n, r) => n + r.matchingAcls.length, 0);
}

/**
 * Operations on one principal's ACLs run one at a time in this process: a delete that
 * finds no other Topic of the Application must not remove the group ACL a concurrent
 * apply of its second Topic has just made.
 */
export class PrincipalLocks {
  private readonly tails = new Map<string, Promise<unknown>>();

  async with<T>(principal: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(principal) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(fn);
    this.tails.set(principal, run);
    try {
      return await run;
    } finally {
      if (this.tails.get(principal) === run) this.tails.delete(principal);
    }
  }
}
