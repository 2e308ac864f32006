// A Topic resource becomes a real Kafka topic, via kafkajs admin. The replication factor
// (and min.insync.replicas) is capped to the number of Kafka brokers: asking a one-broker
// cluster (the local environment) for replication 3 would fail, and the Ready message says
// when the cap applied.
import type { Kafka as KafkaClient } from 'kafkajs';
import type { DeploymentRequest } from '../contract.js';
import type { KafkaTls } from '../../kube/kafka.js';
import { issueApplicationCertificate, stillGood } from './app-certificate.js';
import { applicationAccessFor, grantTopicAccess, revokeTopicAccess, type ApplicationAccess, type PrincipalLocks } from './topic-access.js';
import { kafkaTopicNameOf, reservedTopicRefusal } from '../../crds/registry.js';
import { DeployFailedError } from '../errors.js';
import type { ApplyOutcome } from './apply.js';

// The naming rule (and the reserved prefixes) is a fact of the Topic kind, in the registry,
// so admission and the broker refuse the same names.
export { RESERVED_TOPIC_PREFIXES, reservedTopicRefusal } from '../../crds/registry.js';

/** The Kafka topic for a Topic resource. */
export function kafkaTopicName(request: DeploymentRequest): string {
  return kafkaTopicNameOf(request.resource.namespace, request.resource.name);
}

/** Who created a Topic resource's Kafka topic (apply.ts keeps the record). */
export interface TopicOwnership {
  topicOwner(request: DeploymentRequest): Promise<{ uid: string | undefined; topic: string | undefined; principal?: string | undefined } | undefined>;
  recordTopicOwner(request: DeploymentRequest, topic: string, principal?: string): Promise<void>;
  forgetTopicOwner(request: DeploymentRequest): Promise<void>;
  /** Other Topics' records naming `principal` (topic-access.ts: they share its group ACL). */
  otherTopicsOf(request: DeploymentRequest, principal: string): Promise<number>;
  topicCredentials(request: DeploymentRequest): Promise<Record<string, string> | undefined>;
  writeTopicCredentials(request: DeploymentRequest, data: Record<string, string>): Promise<{ name: string; namespace: string }>;
  deleteTopicCredentials(request: DeploymentRequest): Promise<void>;
}

/** How the owning Application gets at its topic (topic-access.ts). */
export interface TopicAccessOptions {
  locks: PrincipalLocks;
  /** The bootstrap servers written into the Application's Secret. */
  bootstrap: readonly string[];
  /** The name-constrained application issuer (app-certificate.ts); without it the ACLs are made but no credentials are issued. */
  issuer?: KafkaTls;
}

export interface TopicPlan {
  topic: string;
  numPartitions: number;
  replicationFactor: number;
  configEntries: Array<{ name: string; value: string }>;
  capped: boolean;
}

/** Pure: the topic asked for, with replication capped to `brokerCount`. */
export function planTopic(request: DeploymentRequest, brokerCount: number): TopicPlan {
  const spec = request.resource.spec;
  const num = (key: string, fallback: number) => (typeof spec[key] === 'number' ? (spec[key] as number) : fallback);
  const wantedReplication = num('replicationFactor', 1);
  const replicationFactor = Math.max(1, Math.min(wantedReplication, brokerCount));
  const configEntries = [
    { name: 'retention.ms', value: String(num('retentionHours', 168) * 3_600_000) },
    { name: 'cleanup.policy', value: typeof spec['cleanupPolicy'] === 'string' ? spec['cleanupPolicy'] : 'delete' },
  ];
  if (typeof spec['minInSyncReplicas'] === 'number') configEntries.push({ name: 'min.insync.replicas', value: String(Math.min(spec['minInSyncReplicas'], replicationFactor)) });
  return { topic: kafkaTopicName(request), numPartitions: num('partitions', 3), replicationFactor, configEntries, capped: replicationFactor < wantedReplication };
}

/** The ACLs, and with an issuer the Secret, that make the topic the owning Application's; returns the Ready message's tail and the Secret. */
async function giveToOwner(admin: Parameters<typeof grantTopicAccess>[0], request: DeploymentRequest, topic: string, access: ApplicationAccess, owners: TopicOwnership, options: TopicAccessOptions): Promise<{ note: string; secret?: { name: string; namespace: string } }> {
  await options.locks.with(access.principal, () => grantTopicAccess(admin, topic, access));
  const granted = `; Application ${access.application} (${access.principal}) may read and write it and use consumer groups ${access.groupPrefix}*`;
  if (!options.issuer) return { note: `${granted}; no application issuer configured, so no credentials were issued` };
  const issuer = options.issuer;
  const existing = await owners.topicCredentials(request);
  const base = { bootstrap: options.bootstrap.join(','), topic, 'group-prefix': access.groupPrefix, principal: access.principal };
  let data: Record<string, string>;
  if (existing?.['tls.crt'] && existing['tls.key'] && existing['ca.crt'] && stillGood(existing['tls.crt'], access.commonName, issuer)) {
    // A re-delivered or re-applied request keeps the certificate the Application already has.
    data = { ...existing, ...base };
  } else {
    const issued = await issueApplicationCertificate(issuer, access.commonName);
    data = { ...base, 'ca.crt': issued.caPem, 'tls.crt': issued.certChainPem, 'tls.key': issued.keyPem };
  }
  const secret = await owners.writeTopicCredentials(request, data);
  return { note: `${granted}; its credentials are in Secret ${secret.namespace}/${secret.name}`, secret };
}

export async function applyTopic(kafka: KafkaClient, request: DeploymentRequest, owners: TopicOwnership, access?: TopicAccessOptions): Promise<ApplyOutcome> {
  const reserved = reservedTopicRefusal(request.resource.namespace, request.resource.name);
  if (reserved) throw new DeployFailedError(request.requestId, reserved, true);
  const admin = kafka.admin();
  try {
    await admin.connect();
    const { brokers } = await admin.describeCluster();
    const plan = planTopic(request, brokers.length);
    const existing = new Set(await admin.listTopics());
    const owner = await owners.topicOwner(request);
    if (owner && owner.uid !== request.resource.uid) {
      throw new DeployFailedError(request.requestId, `Kafka topic ${plan.topic} was created for another resource (uid ${owner.uid ?? 'unknown'}); rename the Topic`, true);
    }
    if (existing.has(plan.topic) && !owner) {
      throw new DeployFailedError(request.requestId, `Kafka topic ${plan.topic} already exists and was not created by KIDP for this resource; rename the Topic or remove the topic`, true);
    }
    const app = access ? applicationAccessFor(request) : undefined;
    if (!existing.has(plan.topic)) {
      // The record first: a crash between the two leaves a record and no topic, which the
      // retry completes; the other order would leave a topic nobody may delete.
      if (!owner) await owners.recordTopicOwner(request, plan.topic, app?.principal);
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: plan.topic, numPartitions: plan.numPartitions, replicationFactor: plan.replicationFactor, configEntries: plan.configEntries }] });
    } else {
      const meta = await admin.fetchTopicMetadata({ topics: [plan.topic] });
      const current = meta.topics[0]?.partitions.length ?? 0;
      if (current > plan.numPartitions) {
        throw new DeployFailedError(request.requestId, `topic ${plan.topic} has ${current} partitions; Kafka cannot reduce them to ${plan.numPartitions}`, true);
      }
      if (current < plan.numPartitions) await admin.createPartitions({ topicPartitions: [{ topic: plan.topic, count: plan.numPartitions }] });
      // ConfigResourceTypes.TOPIC = 2; alterConfigs replaces the listed entries only.
      await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: plan.topic, configEntries: plan.configEntries }] });
    }
    // A record from before application ACLs existed is completed with the principal, so a later delete knows whose ACLs it made.
    if (app && owner && owner.principal !== app.principal) await owners.recordTopicOwner(request, plan.topic, app.principal);
    const meta = await admin.fetchTopicMetadata({ topics: [plan.topic] });
    const partitions = meta.topics[0]?.partitions.length ?? 0;
    const cap = plan.capped ? ` (replication capped to ${plan.replicationFactor}: the cluster has ${brokers.length} broker(s))` : '';
    const given = app && access ? await giveToOwner(admin, request, plan.topic, app, owners, access) : undefined;
    const teamNote = access && !app ? '; owned by a Team: no application principal gets access' : '';
    return {
      phase: 'Ready',
      reason: 'TopicReady',
      message: `Kafka topic ${plan.topic} has ${partitions} partitions, replication ${plan.replicationFactor}${cap}${given?.note ?? teamNote}`,
      ...(given?.secret ? { outputs: { connectionSecretRef: given.secret } } : {}),
    };
  } catch (err) {
    if (err instanceof DeployFailedError) throw err;
    throw new DeployFailedError(request.requestId, `Kafka admin: ${(err as Error).message}`, false, { cause: err });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export async function removeTopic(kafka: KafkaClient, request: DeploymentRequest, owners: TopicOwnership, access?: TopicAccessOptions): Promise<ApplyOutcome> {
  const admin = kafka.admin();
  const topic = kafkaTopicName(request);
  try {
    const owner = await owners.topicOwner(request);
    // Only a topic this broker created for this very resource is ever deleted.
    if (!owner || owner.uid !== request.resource.uid || owner.topic !== topic) {
      return { phase: 'Deleted', reason: 'TopicDeleted', message: `Kafka topic ${topic} was not created by KIDP for this resource; left in place` };
    }
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    if (existing.has(topic)) await admin.deleteTopics({ topics: [topic] });
    // Only the ACLs this record says the broker made, and before the record goes, so a
    // crash in between leaves the record for the retry to finish from.
    const app = access ? applicationAccessFor(request) : undefined;
    let revoked = '';
    if (app && access && owner.principal === app.principal) {
      const removed = await access.locks.with(app.principal, async () => revokeTopicAccess(admin, topic, app, (await owners.otherTopicsOf(request, app.principal)) > 0));
      await owners.deleteTopicCredentials(request);
      revoked = `; removed ${removed} ACL(s) of ${app.principal}`;
    }
    await owners.forgetTopicOwner(request);
    return { phase: 'Deleted', reason: 'TopicDeleted', message: `${existing.has(topic) ? `deleted Kafka topic ${topic}` : `Kafka topic ${topic} does not exist`}${revoked}` };
  } catch (err) {
    throw new DeployFailedError(request.requestId, `Kafka admin: ${(err as Error).message}`, false, { cause: err });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
