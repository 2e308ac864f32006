// Who may do what on KIDP's Kafka (issue 10 item 2): the protocol topics and the ACLs of
// each principal, as data, and the one code path that creates them — `kidp kafka setup`,
// run by test/env/kafka/kafka.sh at start and by the deploy/ setup Job.
//
// The broker runs the StandardAuthorizer with allow.everyone.if.no.acl.found=false, so a
// principal can do exactly what is listed here. Principals are certificate CNs (User:<CN>).
// No principal but the operator's (a super user) gets CREATE on the cluster (it would
// override the DENY on the reserved prefixes below). A broker identity gets ALTER on the
// cluster and nothing else there: Kafka authorizes CreateAcls and DeleteAcls only as ALTER
// on the cluster resource (there is no per-principal or per-topic grant for ACLs), and the
// broker must give each Topic's owning Application its ACLs (reference/topic-access.ts).
// What that costs: a broker's principal could rewrite any ACL, its own included, so a
// broker's Kafka certificate is as sensitive as the operator's; the broker code only ever
// creates and deletes the literal topic / prefixed group ACLs of kidp-app-* principals.
import kafkajs from 'kafkajs';
import type { AclEntry, Kafka as KafkaClient } from 'kafkajs';
import { REQUESTS_TOPIC, STATUS_TOPIC } from './contract.js';
import { DEFAULT_STATUS_GROUP } from './status-consumer.js';
import { DEFAULT_PARTITIONS, DLQ_SUFFIX } from './kafka.js';
import { DECISIONS_TOPIC } from '../kube/kafka.js';
import { replayScanGroupPrefix } from './kafka-replay-scan.js';
import { RESERVED_TOPIC_PREFIXES } from './reference/topic.js';

const { AclOperationTypes: Op, AclPermissionTypes: Perm, AclResourceTypes: Res, ResourcePatternTypes: Pattern } = kafkajs;


export const CONTROLLERS_PRINCIPAL = 'User:kidp-controllers';
export const DECISION_STREAM_PRINCIPAL = 'User:kidp-decision-stream';
/** A broker identity's principal: its certificate's CN is `kidp-broker-<identity>`. */
export function brokerPrincipal(identity: string): string {
  return `User:kidp-broker-${identity}`;
}
/** A broker identity's consumer group (one group per identity, DESIGN.md §5). */
export function brokerGroup(identity: string): string {
  return `kidp-broker-${identity}`;
}

/** The one name Kafka gives the cluster resource in ACLs. */
export const KAFKA_CLUSTER_RESOURCE = 'kafka-cluster';

/** Every topic KIDP's setup creates: the protocol, its dead letters, the decision stream. */
export const KIDP_TOPICS: readonly string[] = [REQUESTS_TOPIC, STATUS_TOPIC, REQUESTS_TOPIC + DLQ_SUFFIX, STATUS_TOPIC + DLQ_SUFFIX, DECISIONS_TOPIC];

export interface AclBinding {
  principal: string;
  resource: 'topic' | 'group' | 'cluster';
  name: string;
  pattern: 'literal' | 'prefixed';
  operations: ReadonlyArray<'READ' | 'WRITE' | 'DESCRIBE' | 'CREATE' | 'DELETE' | 'ALTER' | 'DESCRIBE_CONFIGS' | 'ALTER_CONFIGS'>;
  permission: 'allow' | 'deny';
}

const topic = (principal: string, name: string, operations: AclBinding['operations'], permission: AclBinding['permission'] = 'allow', pattern: AclBinding['pattern'] = 'literal'): AclBinding => ({ principal, resource: 'topic', name, pattern, operations, permission });
const group = (principal: string, name: string, pattern: AclBinding['pattern'] = 'literal'): AclBinding => ({ principal, resource: 'group', name, pattern, operations: ['READ'], permission: 'allow' });

/**
 * Least privilege, as the issue lists it. Writing to a topic also allows an idempotent
 * producer's InitProducerId (KIP-679), so no cluster-level IDEMPOTENT_WRITE is granted.
 */
export function kidpAcls(options: { brokerIdentities: readonly string[] }): AclBinding[] {
  const acls: AclBinding[] = [
    // Controllers: send requests, consume status in their one group, dead-letter bad status.
    topic(CONTROLLERS_PRINCIPAL, REQUESTS_TOPIC, ['WRITE', 'DESCRIBE']),
    topic(CONTROLLERS_PRINCIPAL, STATUS_TOPIC, ['READ', 'DESCRIBE']),
    topic(CONTROLLERS_PRINCIPAL, STATUS_TOPIC + DLQ_SUFFIX, ['WRITE', 'DESCRIBE']),
    group(CONTROLLERS_PRINCIPAL, DEFAULT_STATUS_GROUP),
    // The webhook's decision stream: that one topic, write only.
    topic(DECISION_STREAM_PRINCIPAL, DECISIONS_TOPIC, ['WRITE', 'DESCRIBE']),
  ];
  for (const identity of options.brokerIdentities) {
    const p = brokerPrincipal(identity);
    acls.push(
      topic(p, REQUESTS_TOPIC, ['READ', 'DESCRIBE']),
      group(p, brokerGroup(identity)),
      // Its throwaway groups for reading the request topic back at start (kafka-replay-scan.ts).
      group(p, replayScanGroupPrefix(identity), 'prefixed'),
      topic(p, STATUS_TOPIC, ['WRITE', 'DESCRIBE']),
      topic(p, REQUESTS_TOPIC + DLQ_SUFFIX, ['WRITE', 'DESCRIBE']),
      // Topic resources become Kafka topics: the broker administers topics, except that
      // a DENY (which wins over any ALLOW) keeps it off the reserved prefixes.
      topic(p, '*', ['CREATE', 'DELETE', 'ALTER', 'DESCRIBE', 'DESCRIBE_CONFIGS', 'ALTER_CONFIGS']),
      ...RESERVED_TOPIC_PREFIXES.map((prefix) => topic(p, prefix, ['CREATE', 'DELETE', 'ALTER', 'ALTER_CONFIGS'], 'deny', 'prefixed')),
      // CreateAcls/DeleteAcls for the owning Applications of the topics it provisions.
      { principal: p, resource: 'cluster', name: KAFKA_CLUSTER_RESOURCE, pattern: 'literal', operations: ['ALTER'], permission: 'allow' },
    );
  }
  return acls;
}

/** The bindings as kafkajs AclEntry values (one per operation). */
export function aclEntries(bindings: readonly AclBinding[]): AclEntry[] {
  return bindings.flatMap((b) =>
    b.operations.map((operation) => ({
      principal: b.principal,
      host: '*',
      resourceType: b.resource === 'topic' ? Res.TOPIC : b.resource === 'group' ? Res.GROUP : Res.CLUSTER,
      resourceName: b.name,
      resourcePatternType: b.pattern === 'literal' ? Pattern.LITERAL : Pattern.PREFIXED,
      operation: Op[operation],
      permissionType: b.permission === 'allow' ? Perm.ALLOW : Perm.DENY,
    })),
  );
}

/**
 * Creates KIDP's topics (those missing) and ACLs, as a principal allowed to (the operator's
 * super user). Both are idempotent: Kafka keeps one copy of an ACL created twice.
 */
export async function setupKafkaAccess(kafka: KafkaClient, options: { brokerIdentities: readonly string[]; partitions?: number }): Promise<{ topicsCreated: string[]; acls: number }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = KIDP_TOPICS.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      const { brokers } = await admin.describeCluster();
      await admin.createTopics({ waitForLeaders: true, topics: missing.map((t) => ({ topic: t, numPartitions: options.partitions ?? DEFAULT_PARTITIONS, replicationFactor: Math.min(3, brokers.length) })) });
    }
    const entries = aclEntries(kidpAcls(options));
    await admin.createAcls({ acl: entries });
    return { topicsCreated: missing, acls: entries.length };
  } finally {
    await admin.disconnect();
  }
}
